"""Listing pages: the article links of a column page and the URLs of its further pages.

``extract_listing(body, url, request=...)`` is pure (bytes + URL, and the request that fetched them, in;
dict out)::

    {"links": [{"url": abs, "title": str | None, "date": str | None, "pinned": bool,
                "fields": {...}}, ...],   # page order; "fields" (API records only): fallback article values
     "next_urls": [abs, ...],             # further pages fetched with a plain GET
     "next_requests": [request, ...],     # further pages needing a method, body or headers (extract/api.py)
     "kind": "listing" | "detail" | "empty", "reason": str | None,
     "overrides": {"listing.links": bool, "listing.next": bool}}   # site selectors tried: matched or not

A response to a request of ``extract/api.py`` is read by the dialect its ``state`` names: ``api`` and
``fragment`` (the site's ``listing.api`` / ``listing.fragment``), ``gkmlpt``, ``jpaas``, ``hanweb``
(dataproxy.jsp answers) and ``postback`` (ASP.NET pages, read like any page).

Where the links come from, first hit wins (gov-portals.md section 1):

1. the site's ``listing.links`` selector (sites/*.yaml);
2. Hanweb records: a dataproxy.jsp XML response, or the ``<datastore>`` island in a column page;
3. the generic main list: anchors grouped by their list item (``li``/``tr``/``dd``/parent), items grouped by
   list container, the container with the most dated, headline-length items wins. Navigation, header,
   footer, breadcrumb, sidebar, related and friend-link blocks are never candidates.

Further pages come from every mechanism present: the site's ``listing.next`` selector, plain next links
(下一页, 下页, 后页, ``>``), TRS ``createPageHTML(count, cur, prefix, ext)`` (all pages at once; identifiers
resolved from ``var countPage = N``), Hanweb ``<nextgroup>`` -> dataproxy.jsp groups requested the way
jpage.js does (POST, the column's fields as a form, ``X-Requested-With`` and the column page as ``Referer``),
for a dataproxy response the remaining groups up to ``<totalrecord>``, and an ASP.NET ``__doPostBack`` pager
(the page's form posted back with ``__EVENTTARGET``/``__EVENTARGUMENT``, as ``FormRequest.from_response``).
Shells whose records come from an API are recognised and answered with the API's first request: Guangdong
gkmlpt (``window._CONFIG`` SID + category tree) and Hanweb jpaas (a ``queryData`` blob).
"""

from __future__ import annotations

import html as html_lib
import math
import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree
from lxml.html import HtmlElement
from parsel.csstranslator import css2xpath

from gongkai_spider.extract import api
from gongkai_spider.extract.encoding import decode_html
from gongkai_spider.normalize import DATE_RE, collapse_ws
from gongkai_spider.sites import split_selector

# ----------------------------------------------------------------------------- tunables
# class/id tokens (split on non-alphanumerics, lower-cased) of blocks whose links are never articles.
EXCLUDED_BLOCK_TOKENS = frozenset({
    "nav", "navbar", "navigation", "menu", "menus", "submenu", "header", "footer", "foot", "crumb", "crumbs",
    "breadcrumb", "breadcrumbs", "position", "location", "weizhi", "dqwz", "sidebar", "side", "aside", "related",
    "xgxx", "xgwz", "xglj", "hot", "hots", "rank", "ranking", "friend", "friendlink", "links", "yqlj", "share",
    "copyright", "banner", "toolbar", "login", "search", "bottom", "tags", "prev", "previous", "next", "prevnext",
    "prenext",
})
EXCLUDED_BLOCK_TAGS = frozenset({"nav", "header", "footer", "aside"})
ITEM_TAGS = frozenset({"li", "tr", "dd", "dt"})
# Links to files are attachments, not article pages.
FILE_EXTENSIONS = (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".wps", ".ofd", ".zip", ".rar", ".7z", ".jpg",
                   ".jpeg", ".png", ".gif", ".mp4", ".txt", ".csv", ".ppt", ".pptx")
NEXT_TEXTS = frozenset({"下一页", "下页", "后页", "后一页", "下一頁", "next", "nextpage"})
NEXT_SYMBOLS = frozenset({">", "›", "〉", "＞"})
# Pager anchors (lower-cased, spaces removed) are never article links.
PAGER_TEXTS = NEXT_TEXTS | frozenset({"上一页", "上页", "前页", "首页", "尾页", "末页", "prev", "prevpage",
                                      "previous", "previouspage", "first", "last", "lastpage", "firstpage"})
PINNED_TOKENS = frozenset({"zd", "zhiding", "istop", "pinned", "sticky", "settop"})
# Headlines shorter than this are menu entries, not articles.
MIN_TITLE_CHARS = 4
# An article, not a listing: at least this much prose in <p> paragraphs of at least ARTICLE_PARAGRAPH_CHARS
# characters, and more than twice the text of the links found.
ARTICLE_MIN_PROSE_CHARS = 120
ARTICLE_PARAGRAPH_CHARS = 40
# Hanweb jpage: records per page when the page does not say (gov-portals.md 1.2).
HANWEB_DEFAULT_PERPAGE = 15
MAX_TRS_PAGES = 10000  # a sanity bound on createPageHTML's page count

_TOKEN_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_PINNED_TEXT_RE = re.compile(r"置顶")
_PINNED_PREFIX_RE = re.compile(r"^\s*[\[【(（]?\s*置顶\s*[\]】)）]?\s*")
_SHORT_DATE_RE = re.compile(r"(?<![\d-])(?:[01]?\d)[-/.月](?:[0-3]?\d)日?(?![\d-])")
_CREATE_PAGE_RE = re.compile(r"(function\s+)?createPageHTML\s*\(([^()]*)\)")
_JS_NUMBER_VAR_RE = r"(?:\bvar\s+|\blet\s+|\bconst\s+|[;{\s])NAME\s*=\s*['\"]?(\d+)"
_DATASTORE_RE = re.compile(r"<datastore[^>]*>(.*?)</datastore>", re.S | re.I)
_RECORD_RE = re.compile(r"<record[^>]*>(.*?)</record>", re.S | re.I)
_CDATA_RE = re.compile(r"^\s*<!\[CDATA\[(.*)\]\]>\s*$", re.S)
_NEXTGROUP_RE = re.compile(r"<nextgroup[^>]*>(.*?)</nextgroup>", re.S | re.I)
_HREF_RE = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.I)
_TOTALRECORD_RE = re.compile(r"<totalrecord>\s*(\d+)\s*</totalrecord>|\btotalRecord\s*[:=]\s*['\"]?(\d+)", re.I)
_PERPAGE_RE = re.compile(r"\bperpage\s*[:=]\s*['\"]?(\d+)", re.I)
_HANWEB_COLUMN_RE = re.compile(r"/col/col(\d+)/")
# jpage.js's form fields and their values when neither the nextgroup URL nor the page gives one.
HANWEB_FORM_DEFAULTS = {"col": "1", "appid": "1", "webid": "", "path": "/", "columnid": "", "sourceContentType": "1",
                        "unitid": "", "webname": "", "permissiontype": "0"}
_HANWEB_RANGE_KEYS = ("startrecord", "endrecord", "perpage")
_JPAAS_QUERY_RE = re.compile(r"""queryData\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_POSTBACK_RE = re.compile(r"""__doPostBack\(\s*['"]([^'"]*)['"]\s*,\s*['"]([^'"]*)['"]\s*\)""")
# Sentences outside links and scripts: paragraphs of an article, whatever element holds them.
_PROSE_TEXT = etree.XPath("//body//text()[contains(., '。')][not(ancestor::a or ancestor::script or ancestor::style)]")
_ARTICLE_MARKERS = etree.XPath(
    "//meta[translate(@name, 'ARTICLETITLE', 'articletitle')='articletitle']"
    " | //*[contains(@class, 'TRS_Editor') or contains(@class, 'TRS_UEDITOR') or @id='UCAP-CONTENT' or @id='zoom']"
)


def extract_listing(body: bytes, url: str, *, encoding: str | None = None, site: Any = None,
                    request: dict | None = None) -> dict:
    """Article links and further listing pages of one listing page (or API / dataproxy.jsp response).

    ``request``: the plain-data request (extract/api.py) that fetched the page, when it was not a plain GET
    of a listing URL; its ``state`` names the dialect to read the answer with.
    """
    if not body or not body.strip():
        return _result([], [], reason="empty_body")
    rules = getattr(site, "listing", None)
    dialect = ((request or {}).get("state") or {}).get("dialect")
    if dialect in _JSON_DIALECTS:
        return _json_dialect(dialect, body, url, encoding, rules, request or {})
    text = decode_html(body, encoding)
    if dialect == "fragment" and rules is not None and rules.fragment is not None:
        return _fragment_page(text, url, rules, request or {}, data=None)
    if _is_dataproxy_response(text):
        links, next_urls, next_requests = _dataproxy_listing(text, url, request)
        return _result(links, next_urls, reason="no_records", next_requests=next_requests)
    if dialect == "hanweb":  # an error page where records were asked for: its links are not records
        return _result([], [], reason="not_dataproxy")

    tree = _parse(text, url)
    if tree is None:
        return _result([], [], reason="unparsable")
    base = _base_url(tree, url)
    shell = api.gkmlpt_start(text, url) or _jpaas_start(text, url)
    if shell:  # an SPA shell: its records come from the API, the page's own links are chrome
        return _result([], [], reason="no_links", next_requests=shell)

    island = _DATASTORE_RE.search(text)
    links = _override_links(tree, rules.links, base) if rules is not None and rules.links else []
    generic = False
    if not links and island:  # the column's records are all in the island; empty means an empty column
        links = _record_links(island.group(1), base)
    elif not links:
        links, generic = _main_list_links(tree, base), True

    # which site selectors matched on this page (the crawl alerts on one that never does)
    overrides: dict[str, bool] = {}
    if rules is not None and rules.links:
        overrides["listing.links"] = bool(links) and not generic and not island
    next_urls: list[str] = []
    next_requests: list[dict] = []
    if rules is not None and rules.next:
        next_urls += _override_urls(tree, rules.next, base)
        overrides["listing.next"] = bool(next_urls)
    next_urls += _create_page_urls(text, url, getattr(rules, "page_base", None))
    if island:
        next_requests += _nextgroup_requests(island.group(1), text, base, url,
                                             len(_RECORD_RE.findall(island.group(1))))
    next_urls += _next_link_urls(tree, base)
    next_requests += _postback_requests(tree, base, getattr(rules, "postback", None))

    if (not links and not next_urls and not next_requests and _ARTICLE_MARKERS(tree)) \
            or (generic and _is_article_page(tree, links)):
        return {"links": [], "next_urls": [], "next_requests": [], "kind": "detail", "reason": "article_page"}
    if overrides.get("listing.next") is False and not next_urls:
        del overrides["listing.next"]  # the last page: no next page for the selector to find
    result = _result(links, _unique(next_urls, exclude=url), reason="no_links", next_requests=next_requests)
    result["overrides"] = overrides
    return result


def _result(links: list[dict], next_urls: list[str], *, reason: str, next_requests: list[dict] | None = None) -> dict:
    next_requests = list(next_requests or [])
    if links or next_urls or next_requests:
        return {"links": links, "next_urls": next_urls, "next_requests": next_requests, "kind": "listing",
                "reason": None}
    return {"links": [], "next_urls": [], "next_requests": [], "kind": "empty", "reason": reason}


# ----------------------------------------------------------------------------- API dialects

_JSON_DIALECTS = frozenset({"api", "gkmlpt", "jpaas"})


def _json_dialect(dialect: str, body: bytes, url: str, encoding: str | None, rules: Any, request: dict) -> dict:
    if dialect == "gkmlpt":
        got = api.gkmlpt_listing(body, url, request, encoding)
    elif dialect == "api":
        if rules is None or rules.api is None:
            return _result([], [], reason="no_api_rules")
        got = api.api_listing(body, url, rules.api, request, encoding)
    else:  # jpaas: JSON envelope around a list fragment
        fragment, reason = api.jpaas_fragment(body, encoding)
        if fragment is None:
            return _result([], [], reason=reason or "no_records")
        return _jpaas_page(fragment, url, rules, request)
    return _result(got["links"], [], reason=got["reason"] or "no_records", next_requests=got["next_requests"])


def _fragment_tree(fragment: str, url: str) -> HtmlElement | None:
    return _parse(f"<html><body><div>{fragment}</div></body></html>", url) if fragment.strip() else None


def _fragment_links(tree: HtmlElement | None, url: str, rules: Any) -> list[dict]:
    if tree is None:
        return []
    if rules is not None and rules.links:
        return _override_links(tree, rules.links, url)
    return _main_list_links(tree, url)


def _fragment_page(text: str, url: str, rules: Any, request: dict, data: Any) -> dict:
    """A ``listing.fragment`` answer: HTML, or JSON whose ``html`` expression holds the HTML."""
    paged = rules.fragment
    if paged.html:
        data = api.load_json(text.encode("utf-8"))
        fragment = api.search(paged.html, data) if data is not None else None
        if not isinstance(fragment, str):
            return _result([], [], reason="not_json" if data is None else "no_records")
        text = fragment
    links = _fragment_links(_fragment_tree(text, url), url, rules)
    pages = api.total_pages(data, paged, api.per_page(request, len(links))) if data is not None else None
    return _result(links, [], reason="no_links", next_requests=api.next_paged_request(paged, request, links, pages))


def _jpaas_start(text: str, url: str) -> list[dict]:
    """The gateway's first page for a jpaas column page (its ``queryData`` blob), or []."""
    match = _JPAAS_QUERY_RE.search(text)
    if not match:
        return []
    parsed = api.jpaas_query(html_lib.unescape(match.group(1) or match.group(2) or ""))
    if parsed is None:
        return []
    query, size = parsed
    return [api.jpaas_request(url, query, 1, size)]


def _jpaas_page(fragment: str, url: str, rules: Any, request: dict) -> dict:
    """A jpaas gateway page: the fragment's records; pages bounded by ``rows``/``count`` of its pager."""
    state = request.get("state") or {}
    tree = _fragment_tree(fragment, url)
    base = state.get("column") or url
    links = _fragment_links(tree, base, rules)
    pager = tree.xpath("//*[@rows and @count]") if tree is not None else []
    pages = None
    if pager:
        rows, count = _int(pager[0].get("rows"), 0), _int(pager[0].get("count"), -1)
        if rows > 0 and count >= 0:
            pages = math.ceil(count / rows)
    page = int(state.get("page") or 1)
    first = links[0]["url"] if links else None
    next_requests = []
    if links and first != state.get("prev_first") and (pages is None or page < pages) \
            and page < api.MAX_API_PAGES:
        next_requests = [api.jpaas_request(base, state.get("query") or {}, page + 1,
                                           int(state.get("page_size") or api.JPAAS_DEFAULT_PAGE_SIZE), first)]
    return _result(links, [], reason="no_records", next_requests=next_requests)


def _postback_requests(tree: HtmlElement, base: str, selector: str | None) -> list[dict]:
    """The ASP.NET postback for the next page: the page's form with the pager's event target and argument."""
    forms = [f for f in tree.iter("form") if f.xpath(".//input[@name='__VIEWSTATE' or @name='__EVENTTARGET']")]
    if not forms:
        return []
    if selector:
        candidates = [hit if isinstance(hit, str) else hit.get("href") or "" for hit in _compiled(selector)(tree)]
    else:
        candidates = [a.get("href") or "" for a in tree.iter("a") if _is_next_anchor(a)]
    for href in candidates:
        match = _POSTBACK_RE.search(html_lib.unescape(href))
        if not match:
            continue
        target, argument = match.groups()
        form = forms[0]
        fields = {name: value or "" for name, value in form.form_values()}
        fields.update({"__EVENTTARGET": target, "__EVENTARGUMENT": argument})
        action = urljoin(base, (form.get("action") or "").strip() or base)
        key = f"POST {action} {target} {argument}"
        return [api.listing_request(urlunsplit(urlsplit(action)._replace(fragment="")), method="POST", form=fields,
                                    headers={"Referer": base}, state={"dialect": "postback"}, key=key)]
    return []


# ----------------------------------------------------------------------------- parsing helpers


def _parse(text: str, url: str) -> HtmlElement | None:
    text = _XML_DECL_RE.sub("", text, count=1)  # lxml refuses str input that declares an encoding
    if not text.strip():
        return None
    try:
        return lxml.html.document_fromstring(text, base_url=url)
    except (etree.ParserError, ValueError):
        return None


def _base_url(tree: HtmlElement, url: str) -> str:
    base = tree.find(".//base[@href]")
    return urljoin(url, base.get("href").strip()) if base is not None else url


def _absolute(base: str, href: str | None) -> str | None:
    """Absolute http(s) URL without fragment, or None for javascript:, mailto:, anchors and files."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith("#") or href.lower().startswith(("javascript:", "mailto:", "tel:", "data:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if parts.path.lower().endswith(FILE_EXTENSIONS):
        return None
    return urlunsplit(parts._replace(fragment=""))


def _unique(urls: list[str], exclude: str | None = None) -> list[str]:
    seen = {exclude} if exclude else set()
    out = []
    for u in urls:
        if u not in seen:
            seen.add(u)
            out.append(u)
    return out


@lru_cache(maxsize=256)
def _compiled(selector: str) -> etree.XPath:
    kind, expr = split_selector(selector)
    return etree.XPath(css2xpath(expr) if kind == "css" else expr)


def _tokens(el: HtmlElement) -> set[str]:
    attrs = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
    return set(_TOKEN_SPLIT_RE.split(attrs)) if attrs.strip() else set()


def _is_hidden(el: HtmlElement) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style or el.get("hidden") is not None


def _in_excluded_block(anchor: HtmlElement) -> bool:
    """True for anchors in navigation/footer/sidebar-like blocks or hidden ones (SEO link farms, Hanweb credit)."""
    if _is_hidden(anchor):
        return True
    for node in anchor.iterancestors():
        if node.tag in EXCLUDED_BLOCK_TAGS or _tokens(node) & EXCLUDED_BLOCK_TOKENS or _is_hidden(node):
            return True
    return False


# ----------------------------------------------------------------------------- link items


def _item_of(anchor: HtmlElement) -> HtmlElement:
    """The list item holding ``anchor``: nearest li/tr/dd/dt within 4 levels, else its parent."""
    node = anchor
    for _ in range(4):
        node = node.getparent()
        if node is None:
            break
        if node.tag in ITEM_TAGS:
            return node
    return anchor.getparent() if anchor.getparent() is not None else anchor


def _anchor_title(anchor: HtmlElement) -> str:
    text = collapse_ws(anchor.text_content())
    attr = collapse_ws(anchor.get("title"))
    # The title attribute holds the full headline when the text is cut ("关于印发《某某..."), but some
    # sites put a date or a tooltip there: take it only when it is at least as long as the text.
    title = attr if attr and len(attr) >= len(text.rstrip(".…")) and not DATE_RE.fullmatch(attr) else text
    return _PINNED_PREFIX_RE.sub("", title)


def _item_date(item: HtmlElement, anchor: HtmlElement) -> str | None:
    """Raw date text of a list item, looked for outside the headline first."""
    item_text = collapse_ws(item.text_content())
    rest = item_text.replace(collapse_ws(anchor.text_content()), " ", 1)
    for candidate in (rest, anchor.get("title") or "", item_text):
        match = DATE_RE.search(candidate)
        if match:
            return match.group(0).strip()
    match = _SHORT_DATE_RE.search(rest)  # list-only "05-24": the year is left to the caller
    return match.group(0) if match else None


def _is_pinned(item: HtmlElement, anchor: HtmlElement) -> bool:
    if _tokens(item) & PINNED_TOKENS or _tokens(anchor) & PINNED_TOKENS:
        return True
    if _PINNED_TEXT_RE.search(item.text_content()):
        return True
    return any(_PINNED_TEXT_RE.search(f"{img.get('alt') or ''}{img.get('title') or ''}") for img in item.iter("img"))


def _link(item: HtmlElement, anchor: HtmlElement, url: str) -> dict:
    return {"url": url, "title": _anchor_title(anchor) or None, "date": _item_date(item, anchor),
            "pinned": _is_pinned(item, anchor)}


def _best_anchor(anchors: list[tuple[HtmlElement, str]]) -> tuple[HtmlElement, str]:
    """The headline anchor of an item: the one with the longest text (category tags are short)."""
    return max(anchors, key=lambda pair: len(_anchor_title(pair[0])))


def _main_list_links(tree: HtmlElement, base: str) -> list[dict]:
    # item -> its usable anchors, in document order
    items: dict[HtmlElement, list[tuple[HtmlElement, str]]] = {}
    for anchor in tree.iter("a"):
        url = _absolute(base, anchor.get("href"))
        if url is None or _in_excluded_block(anchor):
            continue
        items.setdefault(_item_of(anchor), []).append((anchor, url))

    # Items grouped by list container; sibling containers of one kind (lists split into blocks of five)
    # share a key: (grandparent path, container tag, container class).
    groups: dict[tuple[str, str, str], list[tuple[HtmlElement, HtmlElement, str]]] = {}
    roottree = tree.getroottree()
    for item, anchors in items.items():
        anchor, url = _best_anchor(anchors)
        title = _anchor_title(anchor)
        if len(title) < MIN_TITLE_CHARS or title.replace(" ", "").lower() in PAGER_TEXTS:
            continue
        container = item.getparent()
        if container is None:
            continue
        outer = container.getparent()
        key = (roottree.getpath(outer) if outer is not None else "", container.tag, container.get("class") or "")
        groups.setdefault(key, []).append((item, anchor, url))
    if not groups:
        return []

    def score(members: list[tuple[HtmlElement, HtmlElement, str]]) -> tuple[int, int]:
        dated = sum(1 for item, anchor, _ in members if _item_date(item, anchor))
        return dated * 3 + len(members), sum(len(_anchor_title(a)) for _, a, _ in members)

    best = max(groups.values(), key=score)
    links, seen = [], set()
    for item, anchor, url in best:
        if url not in seen:
            seen.add(url)
            links.append(_link(item, anchor, url))
    return links


def _is_article_page(tree: HtmlElement, links: list[dict]) -> bool:
    """An article whose related/previous/next links looked like a list: its prose outweighs the list."""
    prose = sum(len(text) for text in (collapse_ws(t) for t in _PROSE_TEXT(tree))
                if len(text) >= ARTICLE_PARAGRAPH_CHARS)
    listed = sum(len(link["title"] or "") for link in links)
    return prose >= ARTICLE_MIN_PROSE_CHARS and prose > 2 * listed


def _override_links(tree: HtmlElement, selector: str, base: str) -> list[dict]:
    """Links picked by a site selector: anchors, elements containing anchors, or href strings."""
    links, seen = [], set()
    for hit in _compiled(selector)(tree):
        if isinstance(hit, str):
            pairs = [(None, _absolute(base, hit))]
        elif hit.tag == "a":
            pairs = [(hit, _absolute(base, hit.get("href")))]
        else:
            pairs = [(a, _absolute(base, a.get("href"))) for a in hit.iter("a")]
        for anchor, url in pairs:
            if url is None or url in seen:
                continue
            seen.add(url)
            if anchor is None:
                links.append({"url": url, "title": None, "date": None, "pinned": False})
            else:
                links.append(_link(_item_of(anchor), anchor, url))
    return links


def _override_urls(tree: HtmlElement, selector: str, base: str) -> list[str]:
    urls = []
    for hit in _compiled(selector)(tree):
        href = hit if isinstance(hit, str) else hit.get("href")
        url = _absolute(base, href)
        if url:
            urls.append(url)
    return urls


# ----------------------------------------------------------------------------- next links


def _is_next_anchor(el: HtmlElement) -> bool:
    rel = (el.get("rel") or "").lower().split()
    text = collapse_ws(el.text_content() if el.tag == "a" else "").replace(" ", "")
    label = text.rstrip(">»›〉＞").lower() or text
    title = collapse_ws(el.get("title")).replace(" ", "")
    return "next" in rel or label in NEXT_TEXTS or text in NEXT_SYMBOLS or title in NEXT_TEXTS


def _next_link_urls(tree: HtmlElement, base: str) -> list[str]:
    urls = []
    for el in tree.iter("a", "link"):
        if _is_next_anchor(el):
            url = _absolute(base, el.get("href"))
            if url:
                urls.append(url)
    return urls


# ----------------------------------------------------------------------------- TRS createPageHTML


def _js_number(token: str, text: str) -> int | None:
    """An integer literal, or the value of ``var NAME = N`` for an identifier."""
    token = token.strip()
    if token.isdigit():
        return int(token)
    if re.fullmatch(r"[A-Za-z_$][\w$]*", token):
        match = re.search(_JS_NUMBER_VAR_RE.replace("NAME", re.escape(token)), text)
        if match:
            return int(match.group(1))
    return None


def _create_page_urls(text: str, url: str, page_base: int | None) -> list[str]:
    """Every page of a TRS createPageHTML pager except the current one.

    Page index 0 is ``prefix.ext``, index i > 0 is ``prefix_i.ext`` (TRS, 0-based). Sites whose second page is
    ``prefix_2.ext`` (1-based) are recognised from the current URL (``index_2.html`` with current index 1)
    or set with the site's ``listing.page_base: 1``.
    """
    for match in _CREATE_PAGE_RE.finditer(text):
        if match.group(1):  # the function's own definition
            continue
        args = [a.strip() for a in match.group(2).split(",")]
        strings = [a.strip("'\"") for a in args if a[:1] in "'\"" and len(a) >= 2]
        numbers = [_js_number(a, text) for a in args if a[:1] not in "'\""]
        if len(strings) < 2 or len(numbers) < 2 or numbers[0] is None or numbers[1] is None:
            continue
        count, current = numbers[0], numbers[1]
        prefix, ext = strings[-2], strings[-1]
        if count <= 1 or count > MAX_TRS_PAGES or not re.fullmatch(r"[\w.\-]+", prefix + ext):
            return []
        base = page_base if page_base is not None else _page_base(url, prefix, ext, current)
        files = [f"{prefix}.{ext}"] + [f"{prefix}_{i + base}.{ext}" for i in range(1, count)]
        # Plain file names (checked above): joined onto the page's folder, found once. Each of a column's n pages
        # lists all n, so one urljoin per name made a 1,000-page column cost a million of them.
        first = urljoin(url, files[0])
        folder = first[:len(first) - len(files[0])]
        return [folder + name for name in files]
    return []


def _page_base(url: str, prefix: str, ext: str, current: int) -> int:
    """1 when the current file shows 1-based numbering (``index_2.html`` at current index 1), else 0."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    match = re.fullmatch(rf"{re.escape(prefix)}_(\d+)\.{re.escape(ext)}", name)
    return 1 if match and int(match.group(1)) == current + 1 else 0


# ----------------------------------------------------------------------------- Hanweb datastore / dataproxy


def _is_dataproxy_response(text: str) -> bool:
    head = _XML_DECL_RE.sub("", text[:2000], count=1).lstrip().lower()
    return head.startswith("<datastore")


def _records(datastore: str) -> list[str]:
    out = []
    for raw in _RECORD_RE.findall(datastore):
        cdata = _CDATA_RE.match(raw)
        out.append(cdata.group(1) if cdata else raw)
    return out


def _record_links(datastore: str, base: str) -> list[dict]:
    """One link per ``<record>``: its headline anchor, date and pinned flag."""
    records = [r for r in _records(datastore) if r.strip()]
    if not records:
        return []
    # One parse for all records: each becomes a child of the wrapper (rows of a table, or divs).
    rows = all(r.lstrip().lower().startswith("<tr") for r in records)
    markup = "<table>" + "".join(records) + "</table>" if rows else "".join(f"<div>{r}</div>" for r in records)
    try:
        wrapper = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    holders = wrapper.findall(".//tr") if rows else list(wrapper)
    links, seen = [], set()
    for holder in holders:
        anchors = [(a, _absolute(base, a.get("href"))) for a in holder.iter("a")]
        anchors = [(a, u) for a, u in anchors if u]
        if not anchors:
            continue
        anchor, url = _best_anchor(anchors)
        if url not in seen:
            seen.add(url)
            links.append(_link(_item_of(anchor), anchor, url))
    return links


def _with_records(url: str, start: int, end: int, perpage: int | None) -> str:
    """``url`` asking for records ``start..end``: startrecord/endrecord/perpage first, other params kept."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in ("startrecord", "endrecord", "perpage")]
    head = [("startrecord", str(start)), ("endrecord", str(end))]
    if perpage:
        head.append(("perpage", str(perpage)))
    return urlunsplit(parts._replace(query=urlencode(head + kept), fragment=""))


def _total_records(text: str) -> int | None:
    match = _TOTALRECORD_RE.search(text)
    return int(match.group(1) or match.group(2)) if match else None


def _nextgroup_requests(datastore: str, page_text: str, base: str, page_url: str, group_size: int) -> list[dict]:
    """dataproxy.jsp groups after a column page's island (all of them when the total is known), as jpage.js
    asks for them: POST to ``dataproxy.jsp?startrecord=&endrecord=&perpage=`` with the column's form fields."""
    nextgroup = _NEXTGROUP_RE.search(datastore)
    href = _HREF_RE.search(nextgroup.group(1)) if nextgroup else None
    proxy_url = _absolute(base, html_lib.unescape(href.group(1))) if href else None
    if not proxy_url or group_size <= 0:
        return []
    perpage_match = _PERPAGE_RE.search(page_text)
    perpage = int(perpage_match.group(1)) if perpage_match else HANWEB_DEFAULT_PERPAGE
    parts = urlsplit(proxy_url)
    form = dict(HANWEB_FORM_DEFAULTS)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() not in (*_HANWEB_RANGE_KEYS, "page"):
            form[key] = value
    for key, value in form.items():  # fields the nextgroup URL lacks: from the page's script (unitid: "62345")
        if not value:
            found = re.search(rf"""\b{key}\s*["']?\s*[:=]\s*["']?([^"'&,;\s}})]+)""", page_text, re.I)
            form[key] = found.group(1) if found else ""
    if not form["columnid"]:
        column = _HANWEB_COLUMN_RE.search(urlsplit(page_url).path)
        form["columnid"] = column.group(1) if column else ""
    template = api.listing_request(urlunsplit(parts._replace(query="", fragment="")), method="POST", form=form,
                                   headers={**api.XHR_HEADERS, "Referer": page_url}, state={"dialect": "hanweb"})
    total = _total_records(datastore) or _total_records(page_text)
    if total is None:  # unknown: ask for the next group; its <totalrecord> tells the rest
        return [_group_request(template, group_size + 1, 2 * group_size, perpage)]
    return [_group_request(template, start, min(start + group_size - 1, total), perpage)
            for start in range(group_size + 1, total + 1, group_size)]


def _group_request(template: dict, start: int, end: int, perpage: int | None) -> dict:
    """``template`` (a dataproxy.jsp POST) asking for records ``start..end``."""
    return dict(template, url=_with_records(template["url"], start, end, perpage), state=dict(template["state"]))


def _dataproxy_listing(text: str, url: str, request: dict | None) -> tuple[list[dict], list[str], list[dict]]:
    """Records of a dataproxy.jsp response and the groups after it (POSTed again when this one was)."""
    datastore = _DATASTORE_RE.search(text)
    body = datastore.group(1) if datastore else text
    links = _record_links(body, url)
    total = _total_records(body)
    if not links or total is None:
        return links, [], []
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    if "startrecord" in query or "page" not in query:
        start = _int(query.get("startrecord"), 1)
        end = max(_int(query.get("endrecord"), start + len(links) - 1), start)
        size = end - start + 1
        perpage = _int(query.get("perpage"), 0) or None
        ranges = [(s, min(s + size - 1, total)) for s in range(end + 1, total + 1, size)]
        if request and request.get("method") == "POST":
            template = dict(request, url=url)
            return links, [], [_group_request(template, s, e, perpage) for s, e in ranges]
        return links, [_with_records(url, s, e, perpage) for s, e in ranges], []
    # Page-numbered variant (``dataproxy.jsp?page=2&...``): one page of len(links) records per request.
    page = _int(query.get("page"), 1)
    n_pages = -(-total // len(links))
    return links, [_with_page(url, p) for p in range(page + 1, n_pages + 1)], []


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    pairs = [(k, str(page) if k.lower() == "page" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs), fragment=""))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
