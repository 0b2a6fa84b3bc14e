"""Per-site crawl configs: one small YAML file per portal (or column set) instead of a spider per site.

``load_site("demo")`` reads ``<name>.yaml`` from ``extra_dir`` (``GONGKAI_SITES_DIR``) first, then from this
package, and returns a :class:`SiteConfig`. File format (every key but ``start_urls`` optional)::

    name: mof                       # defaults to the file name
    title: 财政部 财政新闻           # free text for logs and the summary
    start_urls:                     # first listing page of each column; root-relative paths ("/col/...")
      - http://www.mof.gov.cn/...   #   are joined to the spider's `-a base_url=`
      - url: /data/list.html        # a column with listing rules of its own (they replace the site's)
        listing: {api: {...}}
    allowed_domains: [mof.gov.cn]   # empty: the hosts of the start URLs (subdomains included)
    max_pages: 0                    # listing pages per column, 0 = no limit (-a max_pages wins)
    listing:                        # selectors tried before the generic listing extractor
      links: "ul.list li a"         #   CSS, or XPath when it starts with "/" or "(" or "xpath:"
      next: "//a[text()='下一页']"
      page_base: 0                  #   createPageHTML file numbering: 0 = index_1 is page 2 (TRS), 1 = index_2
      api: {...}                    #   a JSON list API instead of the column page (see below)
      fragment: {...}               #   an endpoint answering HTML fragments instead of the column page
      postback: {next: "selector"}  #   ASP.NET postback pager anchor, when it is not a 下一页 link
    detail:                         # field -> selector, run before the generic detail cascade
      body: "div.TRS_Editor"
      json: {title: data.title}     #   article pages that are JSON: field -> JMESPath

``listing.api`` / ``listing.fragment`` (the column's start URL is then not fetched; its listing requests are)::

    url: "/api/list?channel=12&page={page}"   # joined to the start URL; {page} is the page number
    method: GET                               # or POST
    form: {pageNo: "{page}"}                  # POST form body (strings; {page} substituted)
    json: {pageNo: "{page}", size: 20}        # or a JSON body ("{page}" alone becomes a number)
    headers: {X-Requested-With: XMLHttpRequest}
    first_page: 1                             # the first {page} value
    page_step: 1                              # {page} increment (20 for an offset-numbered API)
    page_size: 20                             # records per page, to turn `total` into a page count
    records: "data.list"                      # api: JMESPath -> the records (a list)
    link: "url"                               # api: JMESPath on one record -> its article URL
    title: "title"                            # api: optional, JMESPath on one record
    date: "pubDate"                           # api: optional; also the fallback publish_time
    total: "data.total"                       # optional JMESPath -> total records
    pages: "data.pageCount"                   # optional JMESPath -> total pages
    html: "data.html"                         # fragment: optional JMESPath to the HTML in a JSON envelope

Paging ends at the total (or page count), on a page without records, or on a page repeating the previous one.

Problems (unknown site, unreadable YAML, wrong types, misspelt keys) raise :class:`SiteConfigError`
subclasses with the file and the key in the message.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from gongkai_spider.errors import SiteConfigError, SiteConfigMissing

# The bundled configs: a folder, or a folder inside a zipped egg (scrapyd), hence importlib.resources.
BUNDLED_DIR: Traversable = resources.files(__name__)
DETAIL_FIELDS = frozenset({"title", "publish_time", "read_count", "author", "source", "summary", "keywords",
                           "body", "attachments"})
SCHEMA_FILE: Traversable = BUNDLED_DIR.joinpath("site.schema.json")  # JSON Schema of the YAML, for editors
# A site config is a few hundred bytes; anything far larger is a mistake or an attack.
MAX_CONFIG_BYTES = 64 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Keys of listing.api / listing.fragment holding JMESPath expressions
_JMESPATH_KEYS = ("total", "pages", "records", "link", "title", "date", "html")


# A site config that cannot be used (the message names the file and every problem with its key), and a site
# name with no config; both end a crawl or command with exit 2 (gongkai_spider/errors.py).
UnknownSiteError = SiteConfigMissing


@dataclass(frozen=True)
class PagedRequest:
    """``listing.api`` / ``listing.fragment``: the request of one listing page and how its answer is read.

    The JMESPath fields are kept as text (checked to compile when the config is read).
    """

    url: str
    method: str = "GET"
    form: dict[str, str] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    first_page: int = 1
    page_step: int = 1
    page_size: int | None = None
    total: str | None = None  # JMESPath -> total records
    pages: str | None = None  # JMESPath -> total pages
    records: str | None = None  # api: JMESPath -> list of records
    link: str | None = None  # api: JMESPath per record
    title: str | None = None
    date: str | None = None
    html: str | None = None  # fragment: JMESPath -> the HTML in a JSON envelope (None: the body is HTML)


@dataclass(frozen=True)
class ListingRules:
    """Optional listing overrides: ``links`` selects article anchors, ``next`` selects next-page anchors."""

    links: str | None = None
    next: str | None = None
    page_base: int | None = None  # createPageHTML numbering override (0 = TRS, 1 = index_2 is page 2)
    api: PagedRequest | None = None  # a JSON list API
    fragment: PagedRequest | None = None  # an HTML-fragment endpoint
    postback: str | None = None  # selector of the ASP.NET pager's next anchor (None: the 下一页 link)

    @property
    def paged(self) -> PagedRequest | None:
        """The API or fragment request that replaces the column page, if any."""
        return self.api or self.fragment


@dataclass(frozen=True)
class SiteSettings:
    """Per-site crawl settings (``settings:``), applied per host by the spider through Scrapy's download slots."""

    download_delay: float | None = None
    concurrency: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    obey_robots: bool | None = None  # None: ROBOTSTXT_OBEY decides
    robots_reason: str | None = None


@dataclass(frozen=True)
class SiteConfig:
    name: str
    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...] = ()
    title: str = ""
    max_pages: int = 0
    listing: ListingRules = field(default_factory=ListingRules)
    detail: dict[str, str] = field(default_factory=dict)  # field name -> selector (see split_selector)
    settings: SiteSettings = field(default_factory=lambda: SiteSettings())
    detail_json: dict[str, Any] = field(default_factory=dict)  # field -> JMESPath, for JSON article pages
    # start URL -> the listing rules of that column (from a ``{url:, listing:}`` start_urls entry)
    column_listing: dict[str, ListingRules] = field(default_factory=dict)
    path: Traversable | None = None  # the file it came from (a Path, or inside a zipped egg)

    def listing_for(self, column: str | None) -> ListingRules:
        """The listing rules of one column: its own, else the site's."""
        return self.column_listing.get(column or "", self.listing)

    def for_column(self, column: str | None) -> SiteConfig:
        """This config with the column's listing rules as ``listing`` (what extract_listing reads)."""
        rules = self.listing_for(column)
        return self if rules is self.listing else replace(self, listing=rules)

    def with_base_url(self, base_url: str | None) -> SiteConfig:
        """Start URLs made absolute against ``base_url``; ``allowed_domains`` filled from them when empty."""
        relative = [u for u in self.start_urls if not urlsplit(u).scheme]
        if relative and not base_url:
            raise SiteConfigError(
                f"site {self.name!r} has relative start URLs ({relative[0]}); pass -a base_url=http://host:port")
        if base_url and not urlsplit(base_url).scheme:
            raise SiteConfigError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        start_urls = tuple(urljoin(base_url, u) if base_url else u for u in self.start_urls)
        domains = self.allowed_domains or tuple(dict.fromkeys(
            urlsplit(u).hostname for u in start_urls if urlsplit(u).hostname))
        columns = {urljoin(base_url, u) if base_url else u: rules for u, rules in self.column_listing.items()}
        return replace(self, start_urls=start_urls, allowed_domains=domains, column_listing=columns)


def split_selector(selector: str) -> tuple[str, str]:
    """``("xpath", expr)`` for XPath (leading ``/``, ``(`` or ``xpath:``), else ``("css", expr)``."""
    text = selector.strip()
    if text.startswith("xpath:"):
        return "xpath", text[len("xpath:"):].strip()
    if text.startswith(("/", "(")):
        return "xpath", text
    return "css", text.removeprefix("css:").strip()


def site_dirs(extra_dir: str | Path | None = None) -> list[Traversable]:
    """Folders searched for ``<name>.yaml``, in order."""
    return ([Path(extra_dir)] if extra_dir else []) + [BUNDLED_DIR]


def available_sites(extra_dir: str | Path | None = None) -> list[str]:
    return sorted({p.name.removesuffix(".yaml") for d in site_dirs(extra_dir) if d.is_dir() for p in d.iterdir()
                   if p.name.endswith(".yaml") and p.is_file()})


def site_file(name: str, extra_dir: str | Path | None = None) -> Traversable | None:
    """The file ``load_site(name, extra_dir)`` reads (the first folder of ``site_dirs`` that has it), or None."""
    for folder in site_dirs(extra_dir):
        path = folder.joinpath(f"{name}.yaml")
        if path.is_file():
            return path
    return None


def load_site(name: str, extra_dir: str | Path | None = None) -> SiteConfig:
    """The config named ``name``; raises UnknownSiteError / SiteConfigError with a readable message."""
    if not _NAME_RE.match(name or ""):
        raise UnknownSiteError(f"invalid site name {name!r}: use letters, digits, '_', '-', '.'")
    path = site_file(name, extra_dir)
    if path is not None:
        return parse_site(_read(path), name=name, path=path)
    known = ", ".join(available_sites(extra_dir)) or "none"
    searched = ", ".join(str(d) for d in site_dirs(extra_dir))
    raise UnknownSiteError(f"no site config {name!r} (searched {searched}; known sites: {known})")


def parse_site(text: str, *, name: str, path: Traversable | None = None) -> SiteConfig:
    """A SiteConfig from YAML text (``name`` is the default when the file has no ``name:``).

    Every problem is reported at once, each with its key: the JSON Schema (``site.schema.json``: unknown keys,
    types, ranges), then each selector compiled (CSS and XPath). Files over ``MAX_CONFIG_BYTES`` and YAML aliases
    are refused before parsing (a few hundred bytes of nested aliases expand to gigabytes).
    """
    where = str(path) if path else f"site {name!r}"
    size = len(text.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise SiteConfigError(f"{where}: {size} bytes, over the {MAX_CONFIG_BYTES}-byte limit of a site config")
    data = _load_yaml(text, where)
    problems = [*schema_problems(data), *(_value_problems(data) if isinstance(data, dict) else [])]
    if problems:
        raise SiteConfigError(f"{where}: {'; '.join(problems)}")

    detail = data.get("detail") or {}
    columns = [entry for entry in _entries(data["start_urls"]) if isinstance(entry, dict)]
    return SiteConfig(
        name=str(data.get("name") or name),
        start_urls=tuple(entry["url"].strip() if isinstance(entry, dict) else entry.strip()
                         for entry in _entries(data["start_urls"])),
        allowed_domains=tuple(_strings(data.get("allowed_domains") or [])),
        title=str(data.get("title") or ""),
        max_pages=data.get("max_pages", 0),
        listing=_listing_rules(data.get("listing") or {}),
        detail={k: v.strip() for k, v in detail.items() if k != "json"},
        settings=SiteSettings(**(data.get("settings") or {})),
        detail_json=_detail_json(detail.get("json") or {}),
        column_listing={entry["url"].strip(): _listing_rules(entry.get("listing") or {}) for entry in columns},
        path=path,
    )


def _entries(value: str | list) -> list:
    return [value] if isinstance(value, str) else list(value)


def _listing_rules(value: dict) -> ListingRules:
    """ListingRules from a validated ``listing`` mapping."""
    postback = value.get("postback")
    return ListingRules(links=value.get("links"), next=value.get("next"), page_base=value.get("page_base"),
                        api=_paged_request(value["api"]) if "api" in value else None,
                        fragment=_paged_request(value["fragment"]) if "fragment" in value else None,
                        postback=postback.get("next") if isinstance(postback, dict) else None)


def _paged_request(value: dict) -> PagedRequest:
    """A validated ``listing.api`` / ``listing.fragment`` mapping."""
    form = value.get("form")
    return PagedRequest(
        url=value["url"].strip(), method=str(value.get("method", "GET")).upper(),
        form={str(k): str(v) for k, v in form.items()} if form else None, json=value.get("json"),
        headers={str(k): str(v) for k, v in (value.get("headers") or {}).items()},
        first_page=value.get("first_page", 1), page_step=value.get("page_step", 1), page_size=value.get("page_size"),
        **{name: value[name].strip() for name in _JMESPATH_KEYS if name in value})


def _detail_json(value: dict) -> dict[str, Any]:
    """``detail.json``: field -> JMESPath (``doc_meta``: key -> JMESPath)."""
    return {name: ({str(k): v.strip() for k, v in expr.items()} if name == "doc_meta" else expr.strip())
            for name, expr in value.items()}


def _jmespath_problem(expression: Any) -> str | None:
    """Why a JMESPath expression cannot be used, or None (parsel ships jmespath)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    if not isinstance(expression, str):
        return None  # the schema reports the type
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        return f"JMESPath {expression!r} does not compile: {' '.join(str(exc).split())}"
    return None


def _read(path: Traversable) -> str:
    """The file's text, refusing one over MAX_CONFIG_BYTES before reading it whole."""
    with path.open("rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise SiteConfigError(f"{path}: over the {MAX_CONFIG_BYTES}-byte limit of a site config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases (``*name``): a config never needs them, and nested ones are a
    memory bomb (414 bytes took a minute and 3 GB)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"YAML aliases are not allowed in a site config (*{event.anchor}, line "
                                 f"{event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def _load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from exc


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def schema_problems(data: Any) -> list[str]:
    """Every JSON Schema violation of a parsed config, as ``key: problem`` (``(top)`` for the whole file)."""
    out = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        key = ".".join(str(p) for p in error.absolute_path) or "(top)"
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            out.append(f"{key}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
        elif error.validator == "not" and isinstance(error.validator_value, dict) \
                and "required" in error.validator_value:
            out.append(f"{key}: {' and '.join(error.validator_value['required'])} exclude each other; use one")
        elif error.validator == "required" and "then" in error.schema_path and error.validator_value == ["method"]:
            out.append(f"{key}: form / json bodies need method: POST")
        elif error.validator == "oneOf" and error.context:
            out.append(f"{key}: {min(error.context, key=lambda e: len(e.message)).message}")
        else:
            out.append(f"{key}: {error.message}")
    return out


def _value_problems(data: dict) -> list[str]:
    """What the schema cannot check: selectors compile, the forced encoding exists."""
    out = []
    encoding = (data.get("settings") or {}).get("encoding") if isinstance(data.get("settings"), dict) else None
    if isinstance(encoding, str):
        try:
            codecs.lookup(encoding)
        except LookupError:
            out.append(f"settings.encoding: unknown encoding {encoding!r}")
    sections: list[tuple[str, Any]] = [("listing", data.get("listing")), ("detail", data.get("detail"))]
    entries = data.get("start_urls") if isinstance(data.get("start_urls"), list) else []
    sections += [(f"start_urls.{i}.listing", e.get("listing")) for i, e in enumerate(entries) if isinstance(e, dict)]
    for section, rules in sections:
        if not isinstance(rules, dict):
            continue
        for key, selector in rules.items():
            if isinstance(selector, str) and selector.strip():
                problem = selector_problem(selector)
                if problem:
                    out.append(f"{section}.{key}: {problem}")
        postback = rules.get("postback")
        if isinstance(postback, dict) and isinstance(postback.get("next"), str) and postback["next"].strip():
            problem = selector_problem(postback["next"])
            if problem:
                out.append(f"{section}.postback.next: {problem}")
        # JMESPath expressions of listing.api / listing.fragment and detail.json
        for sub in ("api", "fragment", "json"):
            block = rules.get(sub)
            if not isinstance(block, dict):
                continue
            for key, expression in block.items():
                if sub != "json" and key not in _JMESPATH_KEYS:
                    continue
                for name, expr in (expression.items() if isinstance(expression, dict) else [(None, expression)]):
                    problem = _jmespath_problem(expr)
                    if problem:
                        out.append(f"{section}.{sub}.{key}{'.' + str(name) if name else ''}: {problem}")
    return out


def compile_selector(selector: str) -> Any:
    """The lxml XPath of a config selector (CSS translated the way the listing extractor does)."""
    from lxml import etree
    from parsel.csstranslator import css2xpath

    kind, expr = split_selector(selector)
    return etree.XPath(css2xpath(expr) if kind == "css" else expr)


def selector_problem(selector: str) -> str | None:
    """Why ``selector`` cannot be used (does not compile, or fails on a page), or None."""
    from lxml import etree, html

    kind, expr = split_selector(selector)
    try:
        compiled = compile_selector(selector)
        compiled(html.fromstring("<html><body><p>x</p></body></html>"))
    except (etree.XPathError, SyntaxError, ValueError, TypeError) as exc:  # cssselect raises SelectorSyntaxError
        return f"{kind.upper()} selector {expr!r} does not compile: {exc}"
    return None


def _strings(value: str | list[str]) -> list[str]:
    return [v.strip() for v in ([value] if isinstance(value, str) else value)]
