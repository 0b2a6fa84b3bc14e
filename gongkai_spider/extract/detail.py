"""Detail-page extraction: page bytes + URL -> the raw fields of one article.

Order of work (the tree is parsed once and never modified here):

1. decode (``encoding.decode_html_utf8``) and parse with lxml (``huge_tree``; a page nested past libxml2's
   limit is flattened and parsed again);
2. ``signals.page_signals(tree, url)`` -- the spam scorer's markup facts, taken before anything else;
3. one walk over the page gives a linear text with the offset of every element (``_Page``), and in the
   same pass the lines the body extractor scores; all label searches run over that text, so the page is
   scanned a fixed, small number of times;
4. the 信息公开 metadata table (``_doc_meta``, every layout of gov-portals.md 2.3);
5. fields, each a cascade where the first stage that finds a value wins (style.md 3.3): site overrides ->
   what the page shows (labelled byline fields near the headline, the metadata table, labelled fields
   anywhere) -> standard ``<meta>`` tags (title: ``ArticleTitle`` first) -> weaker fallbacks (URL date,
   ``<title>`` with the site suffix cut). Date and source follow gov-portals.md 2.3.1: the printed date
   and the visible 来源 win over ``<meta PubDate>`` / ``ContentSource``, whose values come back in ``raw``;
6. ``body.find_body`` for the body text (without the metadata rows), then ``pagekind.classify_page`` for
   not-article pages.

``overrides`` says for each site selector whether it matched on this page (``{"detail.body": False}``).
Values are returned raw (as found on the page, whitespace runs collapsed); typing and label stripping
belong to the clean pipeline.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from ..normalize import DATE_RE, parse_datetime
from . import selectors as S
from .body import find_body, walk_body
from .encoding import decode_html_utf8
from .pagekind import classify_page
from .signals import page_signals
from .text import RawText

# ----------------------------------------------------------------------------- page model
# huge_tree: libxml2 otherwise stops at 256 open elements and drops the rest of the page (an article under
# a few hundred wrappers, or under the unclosed <font> tags broken CMS output piles up); with it the limit
# is 2048, and deeper pages are flattened before a second parse (``parse_html``).
_PARSER = lxml.html.HTMLParser(encoding="utf-8", collect_ids=False, huge_tree=True)
# Every element proxy lxml.html creates calls a Python lookup picking a class by tag (FormElement,
# InputElement ...), ~1000 calls a page; nothing here uses those form classes, so a C-level lookup
# hands out plain HtmlElement (text_content(), iterancestors() ... all still there).
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity))
# Subtrees that hold no visible text (in the page text; the body lines skip a few more, text.SKIP_TAGS).
_SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "title", "head", "meta", "link", "select", "option",
    "textarea", "button", "svg", "canvas", "object", "embed", "iframe", "frameset", "frame",
})
_WS_RUN_RE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_CJK = r"\u3400-\u9fff\uf900-\ufaff"


@cache
def _rare(pattern: str) -> re.Pattern[str]:
    """A pattern few pages need, compiled when one does: a class of CJK ranges takes about 1 ms to compile,
    paid by every `gongkai extract` if compiled at import."""
    return re.compile(pattern)


_CJK_LINE_JOIN_RE = re.compile(rf"(?<=[{_CJK}，。、；：“”《》（）])\s*\n\s*(?=[{_CJK}，。、；：“”《》（）])")
_DATE_AT_RE = re.compile(r"[\s(（\[【]*(?:" + DATE_RE.pattern + ")")
# A byline segment is short; a date inside a long text node is part of the prose, not a byline.
_BYLINE_SEGMENT_MAX = 90
# A link with at least this many characters in a list item makes the item an entry of a link list.
_ENTRY_LINK_CHARS = 6
# How far after the headline the byline may be (characters of page text), and before it.
_ZONE_AFTER = 500
_ZONE_BEFORE = 150


# Full-width ASCII forms -> ASCII (the part of NFKC that matters when comparing titles, at C speed).
_WIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULL_WIDTH_RE = re.compile("[\uff01-\uff5e]")


def norm(text: str | None) -> str:
    """Comparison form: full-width ASCII folded to ASCII, all whitespace removed."""
    if not text:
        return ""
    if _FULL_WIDTH_RE.search(text):  # translate() walks a dict per character: only when needed
        text = text.translate(_WIDTH_TABLE)
    return _WS_RUN_RE.sub("", text)


def tidy(text: str | None) -> str:
    """Raw value form: lines of a multi-line element joined (no space between CJK), whitespace collapsed."""
    if not text:
        return ""
    return _WS_RUN_RE.sub(" ", _CJK_LINE_JOIN_RE.sub("", text.strip())).strip()


class _Page:
    """A parsed page with its visible text laid out once, in document order.

    ``text`` joins the non-blank text nodes with ``\\n``; ``seg_start[i]``/``seg_el[i]`` give the offset of
    node ``i`` and the element whose ``.text`` (or, for a tail, whose parent) holds it; ``span[el]`` is the
    ``(start, end)`` of an element's own text in ``text``. The same pass over ``<body>`` renders the lines
    the body extractor scores (``walked``), so the page is walked once.
    """

    __slots__ = (
        "_labels",
        "base_url",
        "html_title",
        "metas",
        "scripts",
        "seg_el",
        "seg_start",
        "seg_text",
        "span",
        "text",
        "tree",
        "url",
        "walked",
    )

    def __init__(self, tree: HtmlElement, url: str) -> None:
        self.tree = tree
        self.url = url
        # iter(tag) filters in C; an ElementPath find() makes a Python object of every element it passes
        base = next((el for el in tree.iter("base") if el.get("href") is not None), None)
        self.base_url = urljoin(url, base.get("href").strip()) if base is not None else url
        self.metas = _metas(tree)
        title_el = next(tree.iter("title"), None)
        self.html_title = tidy(title_el.text_content()) if title_el is not None else ""
        raw = RawText(_SKIP_TAGS)
        self.walked = walk_body(tree, raw)
        self.seg_text, self.seg_start, self.seg_el, self.span = raw.parts, raw.starts, raw.owners, raw.span
        self.scripts = raw.scripts
        # scripts under <head> matter for createPageHTML too
        for head in tree.iter("head"):
            for script in head.iterchildren("script"):
                if script.text:
                    self.scripts.append(script.text)
        self.text = raw.text()
        self._labels: list[tuple[int, int, str]] | None = None

    # -- helpers over the linear text
    def seg_index(self, offset: int) -> int:
        return bisect_right(self.seg_start, offset) - 1

    def segment(self, i: int) -> str:
        return self.seg_text[i]

    def element_text(self, el: HtmlElement) -> str:
        start, end = self.span.get(el, (0, 0))
        return self.text[start:end]

    def labels(self) -> list[tuple[int, int, str]]:
        """Every byline label in the page text: (start, end after the colon, canonical kind)."""
        if self._labels is None:
            out = []
            text, cjk = self.text, S.CJK_CHAR_RE
            for m in S.BYLINE_LABEL_RE.finditer(text):
                if m.start() and cjk.match(text, m.start() - 1):
                    continue  # the tail of a longer word: 图片来源：, 当地时间：
                kind = S.label_kind(m.group("label"))
                if kind:
                    out.append((m.start(), m.end(), kind))
            self._labels = out
        return self._labels

    def in_list_entry(self, offset: int) -> bool:
        """Is the text at ``offset`` inside a link, or in a list item that holds a link (an entry of a
        related-articles or latest-news list)?"""
        i = self.seg_index(offset)
        if i < 0:
            return False
        el = self.seg_el[i]
        for node in (el, *el.iterancestors()):
            if node.tag == "a":
                return True
            if node.tag in ("li", "dd", "dt"):
                # a list entry links to another page by its title; a byline item may hold a
                # widget link ("打印", "分享") or a linked source name, which does not make it one
                return any(len(norm(self.element_text(a))) >= _ENTRY_LINK_CHARS for a in node.iter("a"))
            if node.tag == "body":
                break
        return False

    def in_link(self, offset: int) -> bool:
        """Is the text at ``offset`` inside an ``<a>``?"""
        i = self.seg_index(offset)
        if i < 0:
            return False
        el = self.seg_el[i]
        # a tail's owner is the parent, so the link test covers the text's own element and its ancestors
        return el.tag == "a" or any(a.tag == "a" for a in el.iterancestors())


def _metas(tree: HtmlElement) -> dict[str, str]:
    """Lower-cased meta name/property -> first non-empty content."""
    out: dict[str, str] = {}
    for meta in tree.iter("meta"):
        name = meta.get("name") or meta.get("property") or meta.get("itemprop")
        if not name:
            continue
        content = (meta.get("content") or "").strip()
        key = name.strip().lower()
        if content and key not in out:
            out[key] = content
    return out


def _meta(page: _Page, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = page.metas.get(name)
        if value and "<" not in value:
            return value
    return None


# ----------------------------------------------------------------------------- site overrides
@lru_cache(maxsize=256)
def _compiled(selector: str) -> etree.XPath:
    # same syntax as the site configs: XPath when it starts with "/", "(" or "xpath:", else CSS
    from gongkai_spider.sites import split_selector

    kind, expr = split_selector(selector)
    if kind == "xpath":
        return etree.XPath(expr)
    from lxml.cssselect import CSSSelector

    return CSSSelector(expr)


def _select(tree: HtmlElement, selector: str | list | tuple | None) -> list[HtmlElement | str]:
    """Every match of the first selector (of a list) that matches anything; bad selectors are skipped."""
    if not selector:
        return []
    for sel in [selector] if isinstance(selector, str) else selector:
        try:
            found = _compiled(sel)(tree)
        except (etree.XPathError, SyntaxError, ValueError, RuntimeError):  # bad selector: try the next
            continue
        if isinstance(found, str):
            found = [found]
        elif not isinstance(found, list):
            continue
        found = [f for f in found if (f.strip() if isinstance(f, str) else tidy(f.text_content()))]
        if found:
            return found
    return []


def _override(tree: HtmlElement, selector: str | list | tuple | None) -> HtmlElement | str | None:
    found = _select(tree, selector)
    return found[0] if found else None


def _override_attachments(page: _Page, selector: str | list | tuple | None) -> list[dict[str, str]] | None:
    """Attachments from a site selector: the links it matches, or the links inside what it matches."""
    found = [el for el in _select(page.tree, selector) if not isinstance(el, str)]
    if not found:
        return None
    out: list[dict[str, str]] = []
    for el in found:
        for a in [el] if el.tag == "a" else el.iterfind(".//a[@href]"):
            href = (a.get("href") or "").strip()
            if href and not href.startswith(("javascript:", "mailto:", "#")):
                url = urljoin(page.base_url, href)
                if all(x["url"] != url for x in out):
                    out.append({"name": tidy(a.text_content()) or url.rsplit("/", 1)[-1], "url": url})
    return out


def _site_detail(site: Any) -> Mapping[str, Any]:
    detail = getattr(site, "detail", None) if site is not None else None
    if detail is None and isinstance(site, Mapping):
        detail = site.get("detail")
    return detail if isinstance(detail, Mapping) else {}


def _override_text(tree: HtmlElement, overrides: Mapping[str, Any], field: str) -> str | None:
    found = _override(tree, overrides.get(field))
    if found is None:
        return None
    value = tidy(found if isinstance(found, str) else found.text_content())
    return value or None


# ----------------------------------------------------------------------------- title
def _is_heading(el: HtmlElement) -> bool:
    if el.tag in S.HEADING_TAGS:
        return True
    return bool(S.TITLE_CLASS_RE.search(f"{el.get('class') or ''} {el.get('id') or ''}"))


def _has_link(page: _Page, el: HtmlElement, text_owner: HtmlElement) -> bool:
    if el.tag == "a" or text_owner.tag == "a":
        return True
    for anc in text_owner.iterancestors():
        if anc.tag == "a":
            return True
        if anc is el:
            break
    return any(anc.tag == "a" for anc in el.iterancestors())


def _agreeing_element(page: _Page, target: str, *, exact: bool = False) -> tuple[HtmlElement, str] | None:
    """The page element whose whole text is the longest part of ``target`` (normally ``<title>``).

    The headline usually opens ``<title>`` ("headline_栏目_站点"); an element agreeing with it is the
    headline, and its text carries no site suffix. Link texts (navigation, "current article" entries of
    related lists) never count. ``exact`` asks for the whole ``target``.
    """
    nt = norm(target)
    if len(nt) < 2:
        return None
    nt_raw = _WS_RUN_RE.sub("", target)  # as written: most pages use the same characters in both places
    site_names = {norm(page.metas.get(n)) for n in S.META_SITE_NAME if page.metas.get(n)}
    best: tuple[tuple, HtmlElement, str] | None = None
    seen: set[HtmlElement] = set()
    min_len = len(nt) if exact else min(4, len(nt))
    max_len = len(target) + 40
    # characters a matching text node can start with (the test on its first two characters below needs
    # one of them): a set lookup turns away most of the page's nodes
    nt_chars = set(nt)
    firsts = set(nt_raw) | nt_chars | {chr(ord(c) + 0xFEE0) for c in nt_chars if "!" <= c <= "~"}
    for i, seg in enumerate(page.seg_text):
        first = seg[:1]
        if first not in firsts and not first.isspace():
            continue  # stripping would not change the first character
        if len(seg) > max_len and len(seg := seg.strip()) > max_len:
            continue
        if seg[:1].isspace():
            seg = seg.lstrip()
        if seg[:1] not in firsts:
            continue
        head = seg[:2]
        if head[1:].isspace():
            head = head[:1]
        if not head or (head not in nt_raw and not (_FULL_WIDTH_RE.search(head)
                                                    and head.translate(_WIDTH_TABLE) in nt)):
            continue  # cheap reject before normalising
        ns = norm(seg)
        if len(ns) < 2 or ns not in nt:
            continue
        el = owner = page.seg_el[i]
        start, end = page.span.get(el, (0, 0))
        if end - start > max_len * 3 or (el_norm := norm(page.text[start:end])) not in nt:
            continue  # a tail inside a longer element
        while True:
            parent = el.getparent()
            if parent is None or parent.tag in ("body", "html"):
                break
            start, end = page.span.get(parent, (0, 0))
            if end - start > max_len * 3:
                break  # far longer than the title, whitespace or not
            parent_norm = norm(page.text[start:end])
            if parent_norm not in nt:
                break
            el, el_norm = parent, parent_norm
        if el in seen or len(el_norm) < min_len or (exact and el_norm != nt):
            continue
        seen.add(el)
        if el_norm in site_names or _has_link(page, el, owner):
            continue
        at = nt.find(el_norm)
        if at > 0 and (nt[at - 1] not in "_-|–—·:：｜" or at + len(el_norm) != len(nt)):
            continue  # not the headline of a "site - headline" title: a fragment or the site name
        key = (at == 0, len(el_norm), _is_heading(el), -i)
        if best is None or key > best[0]:
            best = (key, el, el_norm)
    if best is None:
        return None
    return best[1], best[2]


def _strip_site_suffix(title: str) -> str:
    """``<title>`` without the site/column parts: the first part, unless that is too short to be one."""
    parts = [p for p in S.TITLE_SEPARATOR_RE.split(title) if p and p.strip()]
    if not parts:
        return title.strip()
    first = parts[0].strip()
    if len(norm(first)) >= 4 or len(parts) == 1:
        return first
    return max(parts, key=lambda p: len(norm(p))).strip()


def _byline_heading(page: _Page) -> HtmlElement | None:
    """The heading right before the first labelled publication date (for pages whose ``<title>`` is
    only the column and site name)."""
    for start, end, kind in page.labels():
        if kind != "publish" or not _DATE_AT_RE.match(page.text, end) or page.in_link(start):
            continue
        i = page.seg_index(start)
        for j in range(i - 1, max(i - 8, -1), -1):
            seg = page.segment(j)
            n = norm(seg)
            if len(n) < 5:
                continue
            if len(n) > 120 or S.BYLINE_LABEL_RE.search(seg):
                return None
            el = page.seg_el[j]
            if norm(page.element_text(el)) != n or _has_link(page, el, el):
                return None
            if _is_heading(el) or el.tag in ("b", "strong", "font"):
                return el
            return None
        return None
    return None


def _title(page: _Page, overrides: Mapping[str, Any]) -> tuple[str | None, HtmlElement | None]:
    """The headline and the element that shows it (the anchor for byline fields), either may be None."""
    value = _override_text(page.tree, overrides, "title")
    if value:
        found = _agreeing_element(page, value, exact=True)
        return value, found[0] if found else None
    meta_title = _meta(page, S.META_TITLE)
    if meta_title:
        meta_title = tidy(meta_title)
        found = _agreeing_element(page, meta_title, exact=True)
        return meta_title, found[0] if found else None
    if page.html_title:
        found = _agreeing_element(page, page.html_title)
        if found:
            return tidy(page.element_text(found[0])), found[0]
    social = _meta(page, S.META_SOCIAL_TITLE)
    if social:
        social = tidy(social)
        if social == page.html_title:  # a copy of <title>, site suffix and all
            social = _strip_site_suffix(social)
        found = _agreeing_element(page, social)
        return (tidy(page.element_text(found[0])), found[0]) if found else (social, None)
    el = _byline_heading(page)
    if el is not None:
        return tidy(page.element_text(el)), el
    h1s = [h for h in page.tree.iter("h1") if norm(page.element_text(h))]
    if len(h1s) == 1:
        return tidy(page.element_text(h1s[0])), h1s[0]
    if page.html_title:
        return _strip_site_suffix(page.html_title), None
    return None, None


# ----------------------------------------------------------------------------- labelled values
_LABEL_LIKE_RE = re.compile(r"[^\s:：|｜,，。]{1,8}[:：](?!//)")
_TRAILING_JUNK = " )）]】>》,，;；:：/"
_LEADING_JUNK = " (（[【<《"


def _value_after(page: _Page, pos: int, *, limit: int = 60, spaces: bool = False) -> str | None:
    """The value that follows a label ending at ``pos``: up to the next label, separator or line end."""
    text = page.text
    n = len(text)
    limit_ws = min(n, pos + 40)
    while pos < limit_ws and text[pos] in " \t\r\n\xa0\u3000":
        pos += 1
    chunk = text[pos:pos + limit + 20]
    stop = S.VALUE_STOP_RE.search(chunk)
    if stop:
        chunk = chunk[:stop.start()]
    if _LABEL_LIKE_RE.match(chunk):
        return None  # an empty value followed by a label we do not know ("作者： 版权声明：")
    if not spaces:
        chunk = chunk.split(" ", 1)[0]
    else:
        # "张三 李四": keep short space-separated name tokens, stop at anything longer
        tokens = chunk.split(" ")
        kept = [tokens[0]]
        for tok in tokens[1:]:
            if not tok or len(tok) > 6:
                break
            kept.append(tok)
        chunk = " ".join(kept)
    value = chunk.strip().lstrip(_LEADING_JUNK).rstrip(_TRAILING_JUNK).strip()
    if len(value) > limit or value.lower() in S.EMPTY_VALUES:
        return None
    return value


def _plausible_name(value: str | None) -> bool:
    """A source/author value, not a sentence or a date."""
    if not value or len(value) > 60:
        return False
    if "。" in value or "，" in value:
        return False
    return not DATE_RE.match(value)


class _Zone(NamedTuple):
    """Where the byline of the headline may be: ``lo <= start < end <= hi``, the headline is start..end."""

    lo: int
    start: int
    end: int
    hi: int


def _zone(page: _Page, anchor: HtmlElement | None) -> _Zone | None:
    if anchor is None or anchor not in page.span:
        return None
    start, end = page.span[anchor]
    return _Zone(max(0, start - _ZONE_BEFORE), start, end, end + _ZONE_AFTER)


def _labelled(page: _Page, kinds: tuple[str, ...], zone: _Zone | None,
              inside: bool) -> list[tuple[int, int, str]]:
    """Labels of ``kinds`` near the headline (``inside``: after it in reading order, then above it,
    nearest first) or elsewhere (document order)."""
    after, above, rest = [], [], []
    for label in page.labels():
        if label[2] not in kinds:
            continue
        pos = label[0]
        if zone is not None and zone.end <= pos < zone.hi:
            after.append(label)
        elif zone is not None and zone.lo <= pos < zone.start:
            above.append(label)
        else:
            rest.append(label)
    return after + above[::-1] if inside else rest


def _pick_name(page: _Page, kind: str, zone: _Zone | None, *, spaces: bool) -> str | None:
    for inside in (True, False):
        for _start, end, _ in _labelled(page, (kind,), zone, inside):
            value = _value_after(page, end, spaces=spaces)
            if _plausible_name(value):
                return value
    return None


# ----------------------------------------------------------------------------- dates
def _date_at(page: _Page, pos: int) -> str | None:
    m = _DATE_AT_RE.match(page.text, pos)
    if not m:
        return None
    raw = tidy(m.group(0).lstrip(" \t\r\n(（[【"))
    return raw if parse_datetime(raw) else None


def _labelled_dates(page: _Page, labels: list[tuple[int, int, str]]) -> list[str]:
    return [d for start, end, _ in labels
            if not page.in_list_entry(start) and (d := _date_at(page, end))]


def _date_candidates_in_zone(page: _Page, zone: _Zone) -> tuple[list[str], list[str]]:
    """Dates shown with the headline, as (printed, weak). Printed: a labelled publication date below it,
    else an unlabelled date in a byline segment below it (the date alone, or beside a byline label),
    else a labelled one just above it. Weak: an unlabelled date inside other short text below it
    ("（2023年8月30日……会议通过）"), a bare date right above it."""
    labels = _labelled(page, ("publish",), zone, True)
    found = _labelled_dates(page, [t for t in labels if t[0] >= zone.end])
    if found:
        return found, []
    text = page.text
    skip_labels = S.WRITTEN_LABELS + S.DECOY_DATE_LABELS
    weak: list[str] = []
    for m in DATE_RE.finditer(text, zone.end, zone.hi):
        i = page.seg_index(m.start())
        seg = page.segment(i) if i >= 0 else ""
        if i < 0 or len(seg.strip()) > _BYLINE_SEGMENT_MAX or page.in_list_entry(m.start()):
            continue
        before = norm(text[max(page.seg_start[i], m.start() - 12):m.start()])
        if any(label in before for label in skip_labels):
            continue
        raw = tidy(m.group(0))
        if parse_datetime(raw):
            alone = not _rare(_CJK_RUN).search(seg[:m.start() - page.seg_start[i]] + seg[m.end() - page.seg_start[i]:])
            (found if alone or S.BYLINE_LABEL_RE.search(seg) else weak).append(raw)
    found = found or _labelled_dates(page, [t for t in labels if t[0] < zone.start])
    return found, weak + _date_right_above(page, zone)


_CJK_RUN = rf"[{_CJK}]{{2,}}"


def _date_right_above(page: _Page, zone: _Zone) -> list[str]:
    """An unlabelled date in one of the two text nodes right above the headline ("2024-05-24" over the
    <h1>), but not a "today is ..." clock of the page header."""
    first = page.seg_index(zone.start)
    for i in range(first - 1, max(first - 3, -1), -1):
        seg = page.segment(i)
        m = DATE_RE.search(seg)
        if m and len(seg.strip()) <= _BYLINE_SEGMENT_MAX and not _CLOCK_RE.search(seg) \
                and not page.in_list_entry(page.seg_start[i]):
            raw = tidy(m.group(0))
            return [raw] if parse_datetime(raw) else []
    return []


_CLOCK_RE = re.compile(r"今天|今日|当前时间|现在是|北京时间")


def _url_date(url: str) -> str | None:
    path = urlsplit(url).path
    for rx in S.URL_DATE_RES:
        m = rx.search(path)
        if m:
            raw = f"{m['y']}-{int(m['m']):02d}-{int(m['d']):02d}"
            if parse_datetime(raw):
                return raw
    return None


def _has_time(raw: str) -> bool:
    m = DATE_RE.search(raw)
    return bool(m and m.group("H"))


def _meta_date(page: _Page) -> str | None:
    value = _meta(page, S.META_PUBLISHED)
    return value if value and parse_datetime(value) else None


def _publish_time(page: _Page, overrides: Mapping[str, Any], zone: _Zone | None,
                  table: _MetaTable) -> str | None:
    """What a reader sees wins (gov-portals.md 2.3.1): the date printed with the headline, the table's
    publication date, a labelled date elsewhere; ``<meta>`` dates (rewritten by migrations and republishing)
    only when the page prints none; then the URL's date and the written date."""
    value = _override_text(page.tree, overrides, "publish_time")
    if value:
        return value
    near, weak = _date_candidates_in_zone(page, zone) if zone else ([], [])
    anywhere = _labelled_dates(page, _labelled(page, ("publish",), zone, False))
    meta = _meta_date(page)
    chosen = None
    for candidate in (near[0] if near else None, table.publish, anywhere[0] if anywhere else None, meta,
                      weak[0] if weak else None, _url_date(page.url), table.written):
        if candidate:
            chosen = candidate
            break
    if chosen and not _has_time(chosen):
        # a date-only value: the byline (or the meta tag) often gives the same day with the time
        day = parse_datetime(chosen).date()
        for other in [*near, *anywhere, meta, *weak]:
            if other and _has_time(other) and parse_datetime(other).date() == day:
                return other
    return chosen


# ----------------------------------------------------------------------------- 信息公开 metadata table
class _MetaTable(NamedTuple):
    """What the metadata table (or its list / inline variants) says."""

    doc_meta: dict[str, Any]   # DOC_META_LABELS keys, plus "other" (label -> value) for unknown labels
    publish: str | None        # its publication date (发布日期 ...), for the publish_time cascade
    written: str | None        # 成文日期, else 生成日期: the last resort of the cascade
    source: str | None         # a 来源 row, backing up the byline source
    rows: list[HtmlElement]    # the elements holding the pairs: kept out of the body


class _Pair(NamedTuple):
    key: str                   # DOC_META_LABELS key, "generated", "source", "other"
    label: str
    value: str | None          # None: an empty value cell (the field is absent)
    container: HtmlElement     # the table / list / block the pair belongs to
    rows: tuple[HtmlElement, ...]


# Label/value pairs read per page at most (each costs walks up the tree).
_MAX_META_PAIRS = 200
# Inline wrappers around a label ("<td><b>文号：</b></td>"): the label's element is the one they sit in.
_LABEL_WRAPPER_TAGS = frozenset({"span", "font", "b", "strong", "em", "i", "u", "label", "a"})
_CELL_TAGS = frozenset({"td", "th"})
_ROW_STOP_TAGS = frozenset({"tr", "table", "tbody", "thead", "body", "ul", "ol", "dl", "html"})


def _doc_meta(page: _Page) -> _MetaTable:
    """The 信息公开 metadata of the page in any layout of gov-portals.md 2.3: label/value cells in rows
    (labels padded with spaces or not), a header row of labels over a row of values, label and value in
    one cell, ``<li>`` / ``<dl>`` / ``<p>`` / ``<span>`` pairs and ``[标签] 值`` lists. An empty value
    cell leaves the field absent. Fields other than the anchor keys (DOC_META_ANCHOR_KEYS), and labels we
    do not know, count only from a table / list / block that also holds an anchor key."""
    empty = _MetaTable({}, None, None, None, [])
    if not S.TABLE_HINT_RE.search(page.text):
        return empty
    pairs: list[_Pair] = []
    count = len(page.seg_start)
    skip_until = -1  # end offset of a header/value row pair already read
    for i in range(count):
        if len(pairs) >= _MAX_META_PAIRS:
            break  # a real table has a few dozen; a page of thousands of labels (a data dump, an attack) stops here
        start = page.seg_start[i]
        if start < skip_until:
            continue
        seg = page.segment(i)
        if len(seg) > 200:
            continue
        m = S.TABLE_LABEL_RE.match(seg)
        if m:
            label = _WS_RUN_RE.sub("", m.group("label"))
            key = S.table_kind(label)
            colon = bool(m.group("colon"))
        else:
            m = S.OTHER_TABLE_LABEL_RE.match(seg) if len(seg) <= 60 else None
            if m is None:
                continue
            label = _WS_RUN_RE.sub("", m.group("bracketed") or m.group("label"))
            if S.label_kind(label) or S.table_kind(label):
                continue  # a byline label (浏览次数：) or a known label with odd padding
            key, colon = "other", bool(m.group("colon"))
        if key is None or page.in_list_entry(start):
            continue  # entries of link lists ("发布时间：..." under a related article) are not the table
        bracketed = seg.lstrip()[:1] in "[【(（"
        if not (colon or bracketed) and seg[m.end():].strip():
            continue  # "编号为……" in prose is not a label
        lab = _label_element(page, i)
        if lab is None:
            continue
        header = _header_row(page, lab) if not seg[m.end():].strip() and lab.tag in _CELL_TAGS else None
        if header is not None:
            pairs.extend(header[0])
            skip_until = header[1]
            continue
        pair = _pair_value(page, i, m.end(), lab, key)
        if pair is not None:
            value, rows = pair
            container = _container(lab)
            pairs.append(_Pair(key, label, value, container, rows))
            if value and seg[m.end():].strip():
                pairs.extend(_more_inline_pairs(seg[m.end():], container, rows))
    return _meta_table(pairs)


def _more_inline_pairs(text: str, container: HtmlElement, rows: tuple[HtmlElement, ...]) -> list[_Pair]:
    """Further "标签：值" pairs in the text node of a first one ("索引号：…　发文机构：县林业局")."""
    out = []
    for m in S.NEXT_TABLE_LABEL_RE.finditer(text):
        part = text[m.start():]
        head = S.TABLE_LABEL_RE.match(part)  # anchored with ^: on the slice
        if head is None or not (head.group("colon") or part[:1] in "[【"):
            continue
        key = S.table_kind(head.group("label"))
        if key is None:
            continue
        value = part[head.end():]
        stop = S.NEXT_TABLE_LABEL_RE.search(value)
        value = tidy(_CELL_GAP_RE.split((value[:stop.start()] if stop else value).strip(), 1)[0])
        value = value.strip(_TRAILING_JUNK + _LEADING_JUNK)
        if value and len(value) <= 120 and value.lower() not in S.EMPTY_VALUES \
                and _TABLE_VALUE_CHECKS.get(key, bool)(value):
            out.append(_Pair(key, _WS_RUN_RE.sub("", head.group("label")), value, container, rows))
    return out


def _label_element(page: _Page, i: int) -> HtmlElement | None:
    """The element a label (segment ``i``) stands in: its cell, list item or block, past inline wrappers."""
    el = page.seg_el[i]
    while el.tag in _LABEL_WRAPPER_TAGS:
        parent = el.getparent()
        if parent is None or parent.tag in _ROW_STOP_TAGS:
            break
        el = parent
    return el if el.tag not in _ROW_STOP_TAGS else None


def _container(lab: HtmlElement) -> HtmlElement:
    """The table, list or block a pair belongs to (pairs of one metadata table share it)."""
    if lab.tag in _CELL_TAGS:
        for anc in lab.iterancestors("table"):
            return anc
    parent = lab.getparent()
    return parent if parent is not None else lab


def _slot(lab: HtmlElement) -> HtmlElement | None:
    """The value cell that belongs to a label-only element: the next cell, the ``<dd>`` after a ``<dt>``,
    the next block after a label block; never a headline."""
    slot = lab.getnext()
    while slot is not None and not isinstance(slot.tag, str):
        slot = slot.getnext()  # comments
    if slot is None or slot.tag in S.HEADING_TAGS or _is_heading(slot):
        return None
    if lab.tag in _CELL_TAGS:
        return slot if slot.tag in _CELL_TAGS else None
    if lab.tag == "dt":
        return slot if slot.tag == "dd" else None
    if lab.tag in ("li", "p", "tr", "dd"):
        return None  # a label alone in a list item or paragraph has no value next to it
    return slot


def _segments_text(page: _Page, start: int, end: int) -> str:
    """The text nodes from offset ``start`` up to ``end``, inline pieces joined without a gap
    (国办发〔<font>2024</font>〕18号)."""
    j = page.seg_index(start)
    if j < 0 or page.seg_start[j] < start:
        j += 1
    parts = []
    while j < len(page.seg_start) and page.seg_start[j] < end:
        parts.append(page.segment(j).strip())
        j += 1
    return "".join(parts)


def _pair_value(page: _Page, i: int, label_end: int, lab: HtmlElement,
                key: str) -> tuple[str | None, tuple[HtmlElement, ...]] | None:
    """(value or None for an empty cell, the row elements) of the label in segment ``i``; None when the
    label has no value place at all (a navigation tab, a label in prose)."""
    seg = page.segment(i)
    rest = seg[label_end:]
    row = lab.getparent() if lab.tag in _CELL_TAGS else lab
    rows: tuple[HtmlElement, ...] = (row,) if row is not None else ()
    lab_end = page.span.get(lab, (0, 0))[1]
    cut = True
    if rest.strip():
        value = rest
    elif i + 1 < len(page.seg_start) and page.seg_start[i + 1] < lab_end:
        # the value follows in the label's own element: <li><span>发布机构</span><span>某局</span></li>
        if page.in_link(page.seg_start[i + 1]) and lab.tag not in _CELL_TAGS:
            return None
        value = _segments_text(page, page.seg_start[i + 1], lab_end)
    else:
        slot = _slot(lab)
        if slot is None:
            return None
        start, end = page.span.get(slot, (0, 0))
        if lab.tag not in _CELL_TAGS:
            rows = (*rows, slot)
        if start == end:
            return None, rows  # an empty value cell: the field is absent
        value = _segments_text(page, start, end)
        cut = key not in ("subject_words", "title")  # whole cells; these hold spaced words
    follow = S.TABLE_LABEL_RE.match(value)
    if follow and S.table_kind(follow.group("label")) and (follow.group("colon") or not value[follow.end():]):
        return None, rows  # an empty cell followed by the next label
    stop = S.NEXT_TABLE_LABEL_RE.search(value)
    if stop:
        value = value[:stop.start()]
    if cut or rest.strip():
        value = _CELL_GAP_RE.split(value.strip(), 1)[0]
    value = tidy(value).strip(_TRAILING_JUNK + _LEADING_JUNK)
    check = _TABLE_VALUE_CHECKS.get(key, bool)
    if not value or len(value) > 120 or value.lower() in S.EMPTY_VALUES or not check(value):
        return None, rows
    return value, rows


def _header_row(page: _Page, lab: HtmlElement) -> tuple[list[_Pair], int] | None:
    """A row of label cells over a row of value cells (索取号 | 发布时间 | 发布机构 | 文件编号): the pairs
    by column and where the value row ends; None when ``lab`` is not the first cell of such a row."""
    row = lab.getparent()
    if row is None or row.tag != "tr":
        return None
    cells = [c for c in row if c.tag in _CELL_TAGS]
    if len(cells) < 2 or cells[0] is not lab:
        return None
    labels = []
    for cell in cells:
        text = norm(page.element_text(cell)).rstrip(":：")
        kind = S.table_kind(text)
        if kind is None or kind == "other":
            return None
        labels.append((kind, text))
    values_row = row.getnext()
    while values_row is not None and values_row.tag != "tr":
        values_row = values_row.getnext()
    if values_row is None:
        return None
    values = [c for c in values_row if c.tag in _CELL_TAGS]
    if len(values) != len(cells):
        return None
    container = _container(lab)
    pairs = []
    for (key, label), cell in zip(labels, values, strict=True):
        start, end = page.span.get(cell, (0, 0))
        value = tidy(_segments_text(page, start, end)).strip(_TRAILING_JUNK + _LEADING_JUNK)
        ok = value and len(value) <= 120 and value.lower() not in S.EMPTY_VALUES
        pairs.append(_Pair(key, label, value if ok and _TABLE_VALUE_CHECKS.get(key, bool)(value) else None,
                           container, (row, values_row)))
    return pairs, page.span.get(values_row, (0, 0))[1]


def _meta_table(pairs: list[_Pair]) -> _MetaTable:
    anchored = {id(p.container) for p in pairs if p.key in S.DOC_META_ANCHOR_KEYS and p.value}
    doc_meta: dict[str, Any] = {}
    other: dict[str, str] = {}
    publish = written = generated = source = None
    rows: list[HtmlElement] = []
    for p in pairs:
        in_table = id(p.container) in anchored
        if in_table:
            rows.extend(p.rows)
        if p.value is None:
            continue
        # the cascade reads dates and sources wherever a table-style label shows them
        if p.key == "published_date" and publish is None:
            publish = p.value
        elif p.key == "source" and source is None:
            source = p.value
        if p.key in S.DOC_META_ANCHOR_KEYS or (in_table and p.key in S.DOC_META_LABELS):
            doc_meta.setdefault(p.key, p.value)
        elif in_table and p.key == "generated":
            generated = generated or p.value
        elif in_table and p.key == "other":
            other.setdefault(p.label, p.value)
    if generated and "written_date" not in doc_meta:
        doc_meta["written_date"] = generated
    written = doc_meta.get("written_date")
    if other:
        doc_meta["other"] = other
    return _MetaTable(doc_meta, publish, written, source, rows)


# Two values side by side in one text node ("县水利局　责任编辑：李四") are cut at the gap.
_CELL_GAP_RE = re.compile(r"[\u3000\t]|\s{2,}|\xa0{2,}")
_DIGIT_RE = re.compile(r"\d")
# A value must look like what its label promises (a numbered header row "编号 | 1" is not an 索引号).
_TABLE_VALUE_CHECKS = {
    "index_no": lambda v: len(v) >= 4 and bool(_DIGIT_RE.search(v)),
    "written_date": lambda v: bool(_DIGIT_RE.search(v)) or bool(S.CN_DATE_HINT_RE.search(v)),
    "generated": lambda v: parse_datetime(v) is not None,
    "doc_no": lambda v: bool(_DIGIT_RE.search(v)) or "〔" in v,
    "published_date": lambda v: parse_datetime(v) is not None,
}


# ----------------------------------------------------------------------------- other fields
def _read_count(page: _Page, zone: _Zone | None, date_pos: int | None) -> str | None:
    """Inline read count as shown ("1,024", "86次"); None for an empty placeholder or no counter."""
    areas = []
    if zone:
        areas.append((zone.lo, zone.hi))
    if date_pos is not None:
        areas.append((max(0, date_pos - 150), date_pos + 200))
    for lo, hi in areas:
        labelled = [t for t in page.labels() if t[2] == "read" and lo <= t[0] < hi]
        for _start, end, _ in labelled:
            m = S.READ_NUMBER_RE.match(page.text, end)
            if m and not _near_label(page, end, m.start("n")):
                m = None  # the next text block (the body after an empty counter), not the counter
            return tidy(m.group("n")) if m else None  # a labelled placeholder: no number in the HTML
        m = S.READ_COUNT_RE.search(page.text, lo, hi) or S.NTH_READ_RE.search(page.text, lo, hi)
        if m and not page.in_link(m.start()) and _near_label(page, m.start() + 1, m.start("n")):
            return tidy(m.group("n"))
    return None


def _near_label(page: _Page, label_end: int, value_start: int) -> bool:
    """Is a value in the label's own text node, or in a short node right after it (``<b>1,024</b>``)?"""
    i, j = page.seg_index(label_end - 1), page.seg_index(value_start)
    return i == j or (j == i + 1 and len(page.segment(j).strip()) <= 16)


def _keywords(page: _Page) -> str | None:
    for start, end, kind in page.labels():
        if kind == "keywords" and not page.in_link(start):
            value = _value_after(page, end, limit=200, spaces=True)
            if value:
                return value
    value = _meta(page, S.META_KEYWORDS)
    return tidy(value) if value and "=" not in value else None


def _summary(page: _Page) -> str | None:
    for start, end, kind in page.labels():
        if kind == "summary" and not page.in_link(start):
            i = page.seg_index(end)
            seg_end = page.seg_start[i] + len(page.segment(i))
            value = tidy(page.text[end:seg_end]) or (tidy(page.segment(i + 1)) if i + 1 < len(page.seg_start)
                                                     else "")
            if value and not S.BYLINE_LABEL_RE.match(value):
                return value
    value = _meta(page, S.META_DESCRIPTION)
    return tidy(value) if value else None


def _source(page: _Page, overrides: Mapping[str, Any], zone: _Zone | None, table: _MetaTable) -> str | None:
    """The visible 来源 line wins over ``<meta ContentSource>`` (which often names the portal's owner)."""
    value = _override_text(page.tree, overrides, "source")
    if value:
        return value
    value = _pick_name(page, "source", zone, spaces=False) or table.source
    if value:
        return value
    meta = page.metas.get("contentsource")
    if meta and _plausible_name(tidy(meta)):
        return tidy(meta)
    meta = page.metas.get("source")
    if meta:
        m = S.BYLINE_LABEL_RE.match(meta)
        meta = _value_after_text(meta[m.end():] if m else meta)
        if _plausible_name(meta):
            return meta
    return _unlabelled_source(page, zone)


def _unlabelled_source(page: _Page, zone: _Zone | None) -> str | None:
    """A bare organisation name between the headline and its byline date ("某某日报 2024-01-04 20:05")."""
    if zone is None:
        return None
    m = DATE_RE.search(page.text, zone.end, zone.hi)
    if not m:
        return None
    first, last = page.seg_index(zone.end), page.seg_index(m.start())
    if last - first > 4:
        return None  # the date is not right under the headline
    for i in range(last, first - 1, -1):
        seg = page.segment(i)
        if i == last:
            seg = seg[:m.start() - page.seg_start[i]]
        value = seg.strip().strip(_TRAILING_JUNK + _LEADING_JUNK)
        if (2 <= len(value) <= 12 and S.ORG_NAME_RE.search(value)
                and " " not in value and not S.BYLINE_LABEL_RE.search(value)
                and not page.in_list_entry(page.seg_start[i])):
            return value
    return None


def _value_after_text(text: str) -> str | None:
    stop = S.VALUE_STOP_RE.search(text)
    value = (text[:stop.start()] if stop else text).strip().split(" ", 1)[0]
    return value or None


_PERSON = rf"^[{_CJK}·]{{2,4}}$"


def _author(page: _Page, overrides: Mapping[str, Any], zone: _Zone | None, reporter: str | None) -> str | None:
    """Site override, a labelled 作者 byline, a person named by ``<meta author>``, then the reporter line the
    body dropped (本报记者 张三), which only fills an author nothing else gives: the meta author keeps its
    place ahead of it (the scoring corpus expects the meta's name where a page has both)."""
    value = _override_text(page.tree, overrides, "author") or _pick_name(page, "author", zone, spaces=True)
    if value:
        return value
    meta = _meta(page, S.META_AUTHOR)
    if meta and _rare(_PERSON).match(meta.strip()) and not S.ORG_NAME_RE.search(meta.strip()):
        meta = meta.strip()
        site = " ".join(page.metas.get(n, "") for n in S.META_SITE_NAME)
        if meta not in page.html_title and meta not in site:  # "某某网": the site, not a person
            return meta
    return _reporter_names(reporter) if reporter else None


_ROLE_RE = re.compile(r"((?:见习|实习|特约|本报|本台|本网|融媒体)?记者|通讯员|特约撰稿人?|撰稿人?)")
_NAME = rf"[{_CJK}·]{{2,5}}"


def _reporter_names(line: str) -> str | None:
    """The reporters of a byline the body dropped ("见习记者 王一凡　通讯员 陈立" -> "王一凡"); the first
    role's names when no 记者 is named."""
    parts = _ROLE_RE.split(line)
    name_re = _rare(_NAME)
    groups = [(parts[k], name_re.findall(parts[k + 1])) for k in range(1, len(parts) - 1, 2)]
    groups = [(role, names) for role, names in groups if names]
    if not groups:
        return None
    _role, names = next(((r, n) for r, n in groups if "记者" in r), groups[0])
    return " ".join(names)


def _attachments(page: _Page, hrefs: list[str]) -> list[dict[str, str]]:
    """Links to files; ``hrefs`` is ``_HREFS_XPATH(page.tree)``."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    # lower-cased first: an IGNORECASE regex loses the engine's fast literal-prefix scan
    # (the walk holds every <a> of the body already: a tag filter in C is cheaper than an XPath here)
    if (not S.ATTACHMENT_IN_HREFS_RE.search("\n".join(hrefs).lower())
            and not any(a.get("oldsrc") is not None for a in page.tree.iter("a"))):
        return out
    is_file = S.ATTACHMENT_EXT_UNSTRIPPED_RE.search
    for a in _body_links(page.tree):
        raw_href = a.get("href")
        if not is_file(raw_href) and a.get("oldsrc") is None:
            continue  # most links: one regex, before any string work
        href = raw_href.strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        if _in_chrome(a):
            continue
        url = urljoin(page.base_url, href)
        if url in seen:
            continue
        seen.add(url)
        name = tidy(a.text_content()) or tidy(a.get("title")) or urlsplit(url).path.rsplit("/", 1)[-1]
        out.append({"name": name, "url": url})
    return out


# Pages carry hundreds of links: look at the href strings first and build element objects only when
# some link may be a file.
_HREFS_XPATH = etree.XPath("//a/@href", smart_strings=False)
_LINKS_XPATH = etree.XPath("//body//a[@href]")


def _body_links(tree: HtmlElement) -> list[HtmlElement]:
    """``//body//a[@href]``, in document order."""
    bodies = list(tree.iter("body"))
    if len(bodies) != 1:
        return _LINKS_XPATH(tree)  # nested or no <body>: XPath merges the sets
    return [a for a in bodies[0].iter("a") if a.get("href") is not None]


def _in_chrome(el: HtmlElement) -> bool:
    for anc in el.iterancestors():
        if anc.tag in S.CHROME_TAGS:
            return True
        words = f"{anc.get('class') or ''} {anc.get('id') or ''}"
        if words.strip() and S.ATTACHMENT_CONTAINER_RE.search(words):
            return False
        if words.strip() and S.CHROME_WORDS_RE.search(words):
            return True
    return False


def _continuation_urls(page: _Page) -> list[str]:
    """Further pages of a TRS article: ``createPageHTML(3, 0, "t20240524_1", "html")`` -> _1, _2."""
    if not page.scripts:
        return []
    path = urlsplit(page.url).path
    stem = re.sub(r"_\d+$", "", path.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    for script in page.scripts:
        if "createPageHTML" not in script:
            continue
        for m in S.CREATE_PAGE_HTML_RE.finditer(script):
            count, cur, prefix = int(m["count"]), int(m["cur"]), m["prefix"]
            if prefix != stem and not S.TRS_DOC_STEM_RE.match(prefix):
                continue  # a listing pager ("index"), not this article's pages
            if cur != 0 or count < 2:
                return []
            return [urljoin(page.base_url, f"{prefix}_{n}.{m['ext']}") for n in range(1, min(count, 200))]
    return []


# ----------------------------------------------------------------------------- entry point
def _raw_metas(page: _Page) -> dict[str, str]:
    """The ``<meta>`` date and source as written, for the document's ``raw`` (audits: they lose to what
    the page shows, gov-portals.md 2.3.1)."""
    out = {}
    value = _meta(page, S.META_PUBLISHED)
    if value:
        out["meta_publish_time"] = value
    value = _meta(page, S.META_SOURCE)
    if value:
        out["meta_source"] = tidy(value)
    return out


def _empty(reason: str, signals: dict | None = None) -> dict:
    return {
        "kind": "not_article", "reason": reason, "title": None, "publish_time": None, "read_count": None,
        "author": None, "source": None, "summary": None, "keywords": None, "body": "", "attachments": [],
        "doc_meta": {}, "continuation_urls": [], "signals": signals or {}, "raw": {},
    }


_EARLY_CLOSE_RE = re.compile(r"</(?:html|body)\s*>", re.I)
# The same over UTF-8 bytes (half the bytes of a CJK page's text to scan): \s spelled out as the UTF-8 of
# every Unicode whitespace character (a bytes \s is ASCII only); re.I folds no non-ASCII letter into
# "html" or "body", so both find the same closers.
_UNICODE_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
                   + "\u2028\u2029\u202f\u205f\u3000")  # str.isspace(): what \s matches in a str pattern
_EARLY_CLOSE_BYTES_RE = re.compile(
    rb"</(?:html|body)(?:" + b"|".join(re.escape(ch.encode()) for ch in _UNICODE_SPACES) + rb")*>", re.I)


def _early_close(text: str, data: bytes | None) -> bool:
    """Does a ``</html>`` or ``</body>`` come before more than 200 characters holding markup?"""
    if data is None:
        closer = _EARLY_CLOSE_RE.search(text)
        return bool(closer and len(text) - closer.end() > 200 and "<" in text[closer.end():])
    closer = _EARLY_CLOSE_BYTES_RE.search(data)
    if not closer or len(data) - closer.end() <= 200:  # fewer bytes, fewer characters
        return False
    rest = data[closer.end():]
    return b"<" in rest and len(rest.decode("utf-8")) > 200


def parse_html(body: bytes, *, encoding: str | None = None) -> HtmlElement | None:
    """Decode and parse page bytes; None for an empty document."""
    text, data = decode_html_utf8(body, encoding)  # data: the UTF-8 bytes when ``body`` already is them
    if not text or text.isspace():
        return None
    if _early_close(text, data):
        # libxml2 drops everything after a premature </html> (templates that include a whole page as
        # the header); browsers keep it, so do we
        text, data = _EARLY_CLOSE_RE.sub("", text), None
    if data is None:
        data = text.encode("utf-8")
    try:
        tree = lxml.html.document_fromstring(data, parser=_PARSER)
        for flatten in _FLATTEN:
            if not _too_deep(_PARSER):
                break
            # nested past libxml2's hard limit: everything after that point is gone; tags that only
            # style or wrap text are dropped (then block wrappers turned into line breaks) and it is
            # parsed again
            data = flatten(data)
            tree = lxml.html.document_fromstring(data, parser=_PARSER)
        return tree
    except (etree.ParserError, ValueError):
        return None


def _too_deep(parser: etree.HTMLParser) -> bool:
    """Did the last parse stop at libxml2's depth limit? (Parsing ends there, so that error is the last.)"""
    error = parser.error_log.last_error
    return error is not None and error.type_name == "ERR_RESOURCE_LIMIT" and "depth" in error.message


_INLINE_TAG_RE = re.compile(rb"</?(?:font|span|b|i|u|em|strong|small|big|sup|sub|s|strike|label|o:p)(?:\s[^>]*)?/?>",
                            re.I)
_WRAPPER_TAG_RE = re.compile(rb"</?(?:div|section|article|center|blockquote|main|aside|header|footer|nav|form|"
                             rb"fieldset|dl|dd|dt|ul|ol|li|table|tbody|thead|tfoot|tr|td|th)(?:\s[^>]*)?/?>", re.I)
_FLATTEN = (lambda data: _INLINE_TAG_RE.sub(b"", data), lambda data: _WRAPPER_TAG_RE.sub(b"<br>", data))


def extract_detail(body: bytes, url: str, *, encoding: str | None = None, status: int = 200,
                   site: Any = None) -> dict:
    """Raw fields of one detail page; see the module docstring for the keys."""
    tree = parse_html(body, encoding=encoding)
    if tree is None:
        return _empty("empty")
    hrefs = _HREFS_XPATH(tree)  # for the signals and the attachment pre-check
    signals = page_signals(tree, url, hrefs=hrefs)  # before anything else looks at (or could touch) the tree
    page = _Page(tree, url)
    overrides = _site_detail(site)

    title, anchor = _title(page, overrides)
    zone = _zone(page, anchor)
    table = _doc_meta(page)
    publish_time = _publish_time(page, overrides, zone, table)
    date_pos = page.text.find(publish_time) if publish_time else -1
    body_override = _override(tree, overrides.get("body"))
    found = None if isinstance(body_override, HtmlElement) else find_body(
        tree, url=url, title=title, walked=page.walked, exclude=table.rows)
    result = {
        "kind": "article",
        "reason": None,
        "title": title or None,
        "publish_time": publish_time,
        "read_count": _override_text(page.tree, overrides, "read_count")
        or _read_count(page, zone, date_pos if date_pos >= 0 else None),
        "author": _author(page, overrides, zone, found.reporter if found else None),
        "source": _source(page, overrides, zone, table),
        "summary": _override_text(page.tree, overrides, "summary") or _summary(page),
        "keywords": _override_text(page.tree, overrides, "keywords") or _keywords(page),
        "body": "",
        "attachments": _override_attachments(page, overrides.get("attachments")) or _attachments(page, hrefs),
        "doc_meta": table.doc_meta,
        "continuation_urls": _continuation_urls(page),
        "signals": signals,
        "raw": _raw_metas(page),
    }
    if found is None:
        from .text import walk

        result["body"] = "\n".join(line.text for line in walk(body_override).lines)
    else:
        result["body"] = found.text
    # which site selectors matched on this page (the crawl alerts on one that never does)
    result["overrides"] = {f"detail.{name}": bool(_select(tree, selector)) for name, selector in overrides.items()}
    reason = classify_page(tree, status=status, body_text=result["body"], url=url)
    if reason:
        result["kind"], result["reason"] = "not_article", reason
    return result


__all__ = ["extract_detail", "norm", "parse_html", "tidy"]
