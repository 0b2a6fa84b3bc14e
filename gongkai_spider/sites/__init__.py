"""Per-site crawl configs: one small YAML file per portal (or column set) instead of a spider per site.

``load_site("demo")`` reads ``<name>.yaml`` from ``extra_dir`` (``GONGKAI_SITES_DIR``) first, then from this
package, and returns a :class:`SiteConfig`. File format (every key but ``start_urls`` optional)::

    name: mof                       # defaults to the file name
    title: 财政部 财政新闻           # free text for logs and the summary
    start_urls:                     # first listing page of each column; root-relative paths ("/col/...")
      - http://www.mof.gov.cn/...   #   are joined to the spider's `-a base_url=`
    allowed_domains: [mof.gov.cn]   # empty: the hosts of the start URLs (subdomains included)
    max_pages: 0                    # listing pages per column, 0 = no limit (-a max_pages wins)
    listing:                        # selectors tried before the generic listing extractor
      links: "ul.list li a"         #   CSS, or XPath when it starts with "/" or "(" or "xpath:"
      next: "//a[text()='下一页']"
      page_base: 0                  #   createPageHTML file numbering: 0 = index_1 is page 2 (TRS), 1 = index_2
    detail:                         # field -> selector, run before the generic detail cascade
      body: "div.TRS_Editor"

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


# A site config that cannot be used (the message names the file and every problem with its key), and a site
# name with no config; both end a crawl or command with exit 2 (gongkai_spider/errors.py).
UnknownSiteError = SiteConfigMissing


@dataclass(frozen=True)
class ListingRules:
    """Optional listing overrides: ``links`` selects article anchors, ``next`` selects next-page anchors."""

    links: str | None = None
    next: str | None = None
    page_base: int | None = None  # createPageHTML numbering override (0 = TRS, 1 = index_2 is page 2)


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
    path: Traversable | None = None  # the file it came from (a Path, or inside a zipped egg)

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
        return replace(self, start_urls=start_urls, allowed_domains=domains)


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

    listing = data.get("listing") or {}
    return SiteConfig(
        name=str(data.get("name") or name),
        start_urls=tuple(_strings(data["start_urls"])),
        allowed_domains=tuple(_strings(data.get("allowed_domains") or [])),
        title=str(data.get("title") or ""),
        max_pages=data.get("max_pages", 0),
        listing=ListingRules(links=listing.get("links"), next=listing.get("next"), page_base=listing.get("page_base")),
        detail={k: v.strip() for k, v in (data.get("detail") or {}).items()},
        settings=SiteSettings(**(data.get("settings") or {})),
        path=path,
    )


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
    for section in ("listing", "detail"):
        rules = data.get(section)
        if not isinstance(rules, dict):
            continue
        for key, selector in rules.items():
            if isinstance(selector, str) and selector.strip():
                problem = selector_problem(selector)
                if problem:
                    out.append(f"{section}.{key}: {problem}")
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
