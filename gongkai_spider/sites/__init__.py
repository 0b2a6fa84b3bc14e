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

import re
from dataclasses import dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

# The bundled configs: a folder, or a folder inside a zipped egg (scrapyd), hence importlib.resources.
BUNDLED_DIR: Traversable = resources.files(__name__)
DETAIL_FIELDS = frozenset({"title", "publish_time", "read_count", "author", "source", "summary", "keywords",
                           "body", "attachments"})
_TOP_LEVEL_KEYS = frozenset({"name", "title", "start_urls", "allowed_domains", "max_pages", "listing", "detail"})
_LISTING_KEYS = frozenset({"links", "next", "page_base", "api", "fragment", "postback"})
_REQUEST_KEYS = frozenset({"url", "method", "form", "json", "headers", "first_page", "page_step", "page_size",
                           "total", "pages"})
_API_KEYS = _REQUEST_KEYS | {"records", "link", "title", "date"}
_FRAGMENT_KEYS = _REQUEST_KEYS | {"html"}
_POSTBACK_KEYS = frozenset({"next"})
_COLUMN_KEYS = frozenset({"url", "listing"})
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SiteConfigError(ValueError):
    """A site config that cannot be used; the message names the file and the problem."""


class UnknownSiteError(SiteConfigError, LookupError):
    """No config file for the requested site name."""


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
class SiteConfig:
    name: str
    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...] = ()
    title: str = ""
    max_pages: int = 0
    listing: ListingRules = field(default_factory=ListingRules)
    detail: dict[str, str] = field(default_factory=dict)  # field name -> selector (see split_selector)
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


def load_site(name: str, extra_dir: str | Path | None = None) -> SiteConfig:
    """The config named ``name``; raises UnknownSiteError / SiteConfigError with a readable message."""
    if not _NAME_RE.match(name or ""):
        raise UnknownSiteError(f"invalid site name {name!r}: use letters, digits, '_', '-', '.'")
    for folder in site_dirs(extra_dir):
        path = folder.joinpath(f"{name}.yaml")
        if path.is_file():
            return parse_site(path.read_text(encoding="utf-8"), name=name, path=path)
    known = ", ".join(available_sites(extra_dir)) or "none"
    searched = ", ".join(str(d) for d in site_dirs(extra_dir))
    raise UnknownSiteError(f"no site config {name!r} (searched {searched}; known sites: {known})")


def parse_site(text: str, *, name: str, path: Traversable | None = None) -> SiteConfig:
    """A SiteConfig from YAML text (``name`` is the default when the file has no ``name:``)."""
    where = str(path) if path else f"site {name!r}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SiteConfigError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise SiteConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_LEVEL_KEYS)}")

    start_urls, column_listing = _start_urls(data.get("start_urls"), where)
    if not start_urls:
        raise SiteConfigError(f"{where}: start_urls must list at least one URL")
    domains = _string_list(data.get("allowed_domains") or [], "allowed_domains", where)
    for domain in domains:
        if "/" in domain or ":" in domain:
            raise SiteConfigError(f"{where}: allowed_domains entries are host names, got {domain!r}")
    max_pages = data.get("max_pages", 0)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 0:
        raise SiteConfigError(f"{where}: max_pages must be an integer >= 0, got {max_pages!r}")
    return SiteConfig(
        name=str(data.get("name") or name),
        start_urls=tuple(start_urls),
        allowed_domains=tuple(domains),
        title=str(data.get("title") or ""),
        max_pages=max_pages,
        listing=_listing_rules(data.get("listing") or {}, where),
        detail=_detail_rules({k: v for k, v in (data.get("detail") or {}).items() if k != "json"}
                             if isinstance(data.get("detail"), dict) else data.get("detail") or {}, where),
        detail_json=_detail_json(data.get("detail"), where),
        column_listing=column_listing,
        path=path,
    )


def _start_urls(value: Any, where: str) -> tuple[list[str], dict[str, ListingRules]]:
    """Start URLs, and the listing rules of the columns given as ``{url: ..., listing: {...}}``."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SiteConfigError(f"{where}: start_urls must be a list of URLs, got {value!r}")
    urls: list[str] = []
    columns: dict[str, ListingRules] = {}
    for entry in value:
        if isinstance(entry, dict):
            unknown = set(entry) - _COLUMN_KEYS
            if unknown:
                raise SiteConfigError(f"{where}: unknown start_urls entry keys {sorted(unknown)}; "
                                      f"allowed: {sorted(_COLUMN_KEYS)}")
            url = entry.get("url")
            if not (isinstance(url, str) and url.strip()):
                raise SiteConfigError(f"{where}: a start_urls entry needs url: a non-empty string, got {entry!r}")
            urls.append(url.strip())
            columns[url.strip()] = _listing_rules(entry.get("listing") or {}, f"{where} (column {url.strip()})")
        elif isinstance(entry, str) and entry.strip():
            urls.append(entry.strip())
        else:
            raise SiteConfigError(f"{where}: start_urls must be a list of non-empty strings, got {entry!r}")
    return urls, columns


def _string_list(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SiteConfigError(f"{where}: {key} must be a list of non-empty strings, got {value!r}")
    return [v.strip() for v in value]


def _listing_rules(value: Any, where: str) -> ListingRules:
    if not isinstance(value, dict):
        raise SiteConfigError(f"{where}: listing must be a mapping, got {value!r}")
    unknown = set(value) - _LISTING_KEYS
    if unknown:
        raise SiteConfigError(f"{where}: unknown listing keys {sorted(unknown)}; allowed: {sorted(_LISTING_KEYS)}")
    for key in ("links", "next"):
        if key in value and not (isinstance(value[key], str) and value[key].strip()):
            raise SiteConfigError(f"{where}: listing.{key} must be a selector string")
    page_base = value.get("page_base")
    if page_base not in (None, 0, 1):
        raise SiteConfigError(f"{where}: listing.page_base must be 0 or 1, got {page_base!r}")
    if "api" in value and "fragment" in value:
        raise SiteConfigError(f"{where}: listing.api and listing.fragment exclude each other; pick one")
    api = _paged_request(value["api"], "api", where) if "api" in value else None
    fragment = _paged_request(value["fragment"], "fragment", where) if "fragment" in value else None
    postback = value.get("postback")
    if postback is not None:
        if not isinstance(postback, dict) or set(postback) - _POSTBACK_KEYS:
            raise SiteConfigError(f"{where}: listing.postback must be a mapping with the key 'next' (a selector)")
        postback = postback.get("next")
        if postback is not None and not (isinstance(postback, str) and postback.strip()):
            raise SiteConfigError(f"{where}: listing.postback.next must be a selector string")
    return ListingRules(links=value.get("links"), next=value.get("next"), page_base=page_base, api=api,
                        fragment=fragment, postback=postback or None)


def _jmespath(value: Any, key: str, where: str) -> str:
    import jmespath  # parsel's dependency
    from jmespath.exceptions import JMESPathError

    if not (isinstance(value, str) and value.strip()):
        raise SiteConfigError(f"{where}: {key} must be a JMESPath expression string, got {value!r}")
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise SiteConfigError(f"{where}: {key} is not a valid JMESPath expression ({value!r}): {exc}") from None
    return value.strip()


def _paged_request(value: Any, kind: str, where: str) -> PagedRequest:
    """``listing.api`` / ``listing.fragment``, each key checked."""
    key = f"listing.{kind}"
    if not isinstance(value, dict):
        raise SiteConfigError(f"{where}: {key} must be a mapping, got {value!r}")
    allowed = _API_KEYS if kind == "api" else _FRAGMENT_KEYS
    unknown = set(value) - allowed
    if unknown:
        raise SiteConfigError(f"{where}: unknown {key} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    url = value.get("url")
    if not (isinstance(url, str) and url.strip()):
        raise SiteConfigError(f"{where}: {key}.url must be a URL template string")
    method = str(value.get("method", "GET")).upper()
    if method not in ("GET", "POST"):
        raise SiteConfigError(f"{where}: {key}.method must be GET or POST, got {value.get('method')!r}")
    if "form" in value and "json" in value:
        raise SiteConfigError(f"{where}: {key}.form and {key}.json exclude each other; pick one")
    if ("form" in value or "json" in value) and method != "POST":
        raise SiteConfigError(f"{where}: {key}.form / {key}.json need method: POST")
    form = value.get("form")
    if form is not None and not (isinstance(form, dict) and all(isinstance(k, str) for k in form)):
        raise SiteConfigError(f"{where}: {key}.form must be a mapping of field -> value")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise SiteConfigError(f"{where}: {key}.headers must be a mapping of header -> value")
    numbers = {}
    for name, default, low in (("first_page", 1, 0), ("page_step", 1, 1), ("page_size", None, 1)):
        number = value.get(name, default)
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < low):
            raise SiteConfigError(f"{where}: {key}.{name} must be an integer >= {low}, got {number!r}")
        numbers[name] = number
    paths = {name: _jmespath(value[name], f"{key}.{name}", where)
             for name in ("total", "pages", "records", "link", "title", "date", "html") if name in value}
    if kind == "api":
        for name in ("records", "link"):
            if name not in paths:
                raise SiteConfigError(f"{where}: {key}.{name} is required (a JMESPath expression)")
    return PagedRequest(url=url.strip(), method=method, form={k: str(v) for k, v in form.items()} if form else None,
                        json=value.get("json"), headers={str(k): str(v) for k, v in headers.items()},
                        **numbers, **paths)


def _detail_json(value: Any, where: str) -> dict[str, Any]:
    """``detail.json``: field -> JMESPath (``doc_meta`` -> a mapping of key -> JMESPath)."""
    if not isinstance(value, dict) or value.get("json") is None:
        return {}
    rules = value["json"]
    if not isinstance(rules, dict) or not rules:
        raise SiteConfigError(f"{where}: detail.json must be a mapping of field -> JMESPath")
    allowed = DETAIL_FIELDS | {"doc_meta"}
    unknown = set(rules) - allowed
    if unknown:
        raise SiteConfigError(f"{where}: unknown detail.json fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    out: dict[str, Any] = {}
    for name, expr in rules.items():
        if name == "doc_meta":
            if not isinstance(expr, dict):
                raise SiteConfigError(f"{where}: detail.json.doc_meta must be a mapping of key -> JMESPath")
            out[name] = {str(k): _jmespath(v, f"detail.json.doc_meta.{k}", where) for k, v in expr.items()}
        else:
            out[name] = _jmespath(expr, f"detail.json.{name}", where)
    return out


def _detail_rules(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SiteConfigError(f"{where}: detail must be a mapping of field -> selector, got {value!r}")
    unknown = set(value) - DETAIL_FIELDS
    if unknown:
        raise SiteConfigError(f"{where}: unknown detail fields {sorted(unknown)}; allowed: {sorted(DETAIL_FIELDS)}")
    for key, selector in value.items():
        if not (isinstance(selector, str) and selector.strip()):
            raise SiteConfigError(f"{where}: detail.{key} must be a selector string")
    return {k: v.strip() for k, v in value.items()}
