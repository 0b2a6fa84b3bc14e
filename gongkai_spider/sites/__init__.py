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
_LISTING_KEYS = frozenset({"links", "next", "page_base"})
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SiteConfigError(ValueError):
    """A site config that cannot be used; the message names the file and the problem."""


class UnknownSiteError(SiteConfigError, LookupError):
    """No config file for the requested site name."""


@dataclass(frozen=True)
class ListingRules:
    """Optional listing overrides: ``links`` selects article anchors, ``next`` selects next-page anchors."""

    links: str | None = None
    next: str | None = None
    page_base: int | None = None  # createPageHTML numbering override (0 = TRS, 1 = index_2 is page 2)


@dataclass(frozen=True)
class SiteConfig:
    name: str
    start_urls: tuple[str, ...]
    allowed_domains: tuple[str, ...] = ()
    title: str = ""
    max_pages: int = 0
    listing: ListingRules = field(default_factory=ListingRules)
    detail: dict[str, str] = field(default_factory=dict)  # field name -> selector (see split_selector)
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

    start_urls = _string_list(data.get("start_urls"), "start_urls", where)
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
        detail=_detail_rules(data.get("detail") or {}, where),
        path=path,
    )


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
    return ListingRules(links=value.get("links"), next=value.get("next"), page_base=page_base)


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
