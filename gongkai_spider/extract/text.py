"""Render an lxml element as plain text, one paragraph per line.

Used by the body extractor (``extract/body.py``) and by any field helper that needs the visible text of an
element. One walk over the subtree gives every line together with the innermost element that holds the
whole line and how many of its characters sit inside links, which is what the text-density scoring needs;
the same walk can also lay out the raw text nodes for the field extractor (``RawText``), so a detail page
is walked once.

Rules: block elements (``p``, ``div``, ``li``, ``tr``, headings, ...) and ``<br>`` end a line; table cells
are separated by a tab (a data-table row is one line, its cells tab-separated); scripts, styles, form controls, comments and hidden elements
(``display:none``, ``visibility:hidden``, ``hidden``) give no text; runs of whitespace (NBSP, ideographic
space and zero-width characters included) become one space; empty lines are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree
from lxml.html import HtmlElement

# Elements that end a line before and after themselves.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dialog", "dir",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
    "h5", "h6", "header", "hgroup", "hr", "legend", "li", "main", "menu", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "body", "html",
})
# Table cells: a space between cells, the row ends the line.
CELL_TAGS = frozenset({"td", "th"})
# Elements whose content is never visible text.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "iframe", "object", "embed", "applet", "select", "option",
    "textarea", "button", "input", "svg", "canvas", "audio", "video", "map", "head", "title", "meta",
    "link", "base", "frameset", "frame",
})

# Marks the end of a table cell inside a line being built (a private-use character no page text holds in
# practice; whitespace would be collapsed away); rendered as a tab.
CELL_END = "\ue0f0"
_CELL_SEP_RE = re.compile(r" ?\ue0f0 ?")
_WS_RE = re.compile(r"[\s\xa0\u3000\u2002\u2003\u2009\u200b\u200c\u200d\u2060\ufeff]+")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


# Without zero-width characters, str.split() sees exactly the whitespace of _WS_RE (its \s) and is 2-3x
# faster than the regex. (The test is spelled out in both functions: they run once per line and link.)
def collapse(text: str) -> str:
    """One ASCII space per whitespace run (NBSP, U+3000 and zero-width characters included), trimmed."""
    if text.isascii() or not ("\u200b" in text or "\u200c" in text or "\u200d" in text
                              or "\u2060" in text or "\ufeff" in text):
        return " ".join(text.split())
    return _WS_RE.sub(" ", text).strip()


def visible_len(text: str) -> int:
    """Number of non-whitespace characters (zero-width ones count as whitespace)."""
    if text.isascii() or not ("\u200b" in text or "\u200c" in text or "\u200d" in text
                              or "\u2060" in text or "\ufeff" in text):
        return len("".join(text.split()))
    return len(_WS_RE.sub("", text))


def is_hidden(el: HtmlElement) -> bool:
    """True for elements a browser does not show (inline style or the ``hidden`` attribute)."""
    style = el.get("style")
    if style and ("none" in style or "hidden" in style) and _HIDDEN_STYLE_RE.search(style):
        return True
    return el.get("hidden") is not None


@dataclass(slots=True)
class Line:
    """One rendered line (paragraph) of a walk."""

    text: str          # collapsed, non-empty
    owner: int         # index in Walk.elements of the innermost element holding the whole line
    chars: int         # non-whitespace characters
    link_chars: int    # non-whitespace characters inside <a>
    cells: int = 0     # table cells (td/th) closed on this line


@dataclass(slots=True)
class Walk:
    """Result of :func:`walk`: lines plus the element table their ``owner`` indexes point into.

    ``elements`` are in document (pre-)order; ``parent[i]`` is the index of the parent (-1 for the root)
    and ``end[i]`` the index of the last element of ``elements[i]``'s subtree, so ``j`` is inside ``i``
    exactly when ``i <= j <= end[i]``. Skipped subtrees are absent.
    """

    lines: list[Line]
    elements: list[HtmlElement]
    parent: list[int]
    end: list[int]
    marked: list[int] = field(default_factory=list)  # elements the attr_kind hook marked (MARK)


# Answers of an ``attr_kind`` hook for an element's (class, id).
KEEP, MARK, WIDGET = 0, 1, 2


class RawText:
    """Optional second output of :func:`walk`: the text nodes of the subtree as written, in one string.

    For callers that search the whole page text by offset (``detail._Page``), taken in the same pass as
    the lines. ``parts`` are the non-blank text nodes in document order, laid out as
    ``"\\n".join(parts) + "\\n"``; ``starts[i]`` is the offset of part ``i`` and ``owners[i]`` the element
    whose ``.text`` holds it (for a tail, the tail's parent); ``span[el]`` is the ``(start, end)`` of an
    element's text. This view drops only ``skip_tags`` subtrees (a subset of ``SKIP_TAGS``) and inline-hidden
    elements below the root; widget subtrees, ``hidden``-attribute elements and media fallback text stay
    in it. ``scripts`` collects the text of the ``<script>`` elements it passes over.
    """

    __slots__ = ("owners", "parts", "pos", "scripts", "skip_tags", "span", "starts")

    def __init__(self, skip_tags: frozenset[str]) -> None:
        if not skip_tags <= SKIP_TAGS:
            raise ValueError("RawText skip_tags must be a subset of text.SKIP_TAGS")
        self.skip_tags = skip_tags
        self.parts: list[str] = []
        self.starts: list[int] = []
        self.owners: list[HtmlElement] = []
        self.span: dict[HtmlElement, tuple[int, int]] = {}
        self.scripts: list[str] = []
        self.pos = 0

    def text(self) -> str:
        return "\n".join(self.parts) + "\n" if self.parts else ""

    def child(self, el: HtmlElement) -> None:
        """Record a child of a recorded element (not its tail): skipped, or visited."""
        tag = el.tag
        if tag.__class__ is not str or tag in self.skip_tags:  # comments, scripts, styles, ...
            if tag == "script" and el.text:
                self.scripts.append(el.text)
            return
        style = el.get("style")
        if not (style and ("none" in style or "hidden" in style) and _HIDDEN_STYLE_RE.search(style)):
            self.visit(el)

    def visit(self, el: HtmlElement) -> None:
        """Record ``el``'s subtree (the subtrees the lines skip: widgets, ``hidden`` elements). An explicit
        stack, not recursion: the parser allows 2048 levels, more than Python's recursion limit."""
        parts, starts, owners, span, scripts = self.parts, self.starts, self.owners, self.span, self.scripts
        skip, hidden_re = self.skip_tags, _HIDDEN_STYLE_RE
        pos = self.pos
        text = el.text
        if text and not text.isspace():
            starts.append(pos)
            owners.append(el)
            parts.append(text)
            pos += len(text) + 1
        stack = [(el, iter(el), self.pos)]
        while stack:
            node, children, start = stack[-1]
            for child in children:
                tag = child.tag
                if tag.__class__ is not str or tag in skip:  # comments, scripts, styles, ...
                    if tag == "script" and child.text:
                        scripts.append(child.text)
                else:
                    style = child.get("style")
                    if not (style and ("none" in style or "hidden" in style) and hidden_re.search(style)):
                        stack.append((child, iter(child), pos))  # its tail comes when it is done
                        text = child.text
                        if text and not text.isspace():
                            starts.append(pos)
                            owners.append(child)
                            parts.append(text)
                            pos += len(text) + 1
                        break
                text = child.tail  # a tail belongs to the parent's text
                if text and not text.isspace():
                    starts.append(pos)
                    owners.append(node)
                    parts.append(text)
                    pos += len(text) + 1
            else:  # every child done
                stack.pop()
                span[node] = (start, pos)
                if stack:
                    text = node.tail
                    if text and not text.isspace():
                        starts.append(pos)
                        owners.append(stack[-1][0])
                        parts.append(text)
                        pos += len(text) + 1
        self.pos = pos


def walk(root: HtmlElement, attr_kind: Callable[[str | None, str | None], int] | None = None,
         widget_max_chars: int = 300, raw: RawText | None = None) -> Walk:
    """Render ``root`` into lines in one pass (lxml's iterwalk; no recursion limit on deep trees).

    Scripts, styles, form controls and hidden elements are always skipped. ``attr_kind(class, id)``
    (called once per distinct pair, for elements that have either) may answer ``MARK`` to have the
    element's index listed in ``Walk.marked``, or ``WIDGET`` to skip its subtree when it holds fewer
    than ``widget_max_chars`` visible characters (a bigger "widget" is a mislabelled wrapper).
    ``raw`` (a fresh :class:`RawText`), when given, also records the raw text view of ``root`` in the
    same pass, so a page needs only one walk.
    """
    lines: list[Line] = []
    elements: list[HtmlElement] = []
    parent: list[int] = []
    end: list[int] = []
    marked: list[int] = []
    if not isinstance(root.tag, str):
        return Walk(lines, elements, parent, end, marked)
    kinds: dict[tuple[str | None, str | None], int] = {}

    buf: list[str] = []
    link_chars = 0
    cells = 0
    min_depth = 0          # shallowest open-element depth seen since the line's first text
    path: list[int] = []   # indexes of the open elements
    in_link = 0
    vis_len = visible_len
    block_tags, cell_tags, skip_tags = BLOCK_TAGS, CELL_TAGS, SKIP_TAGS
    hidden_re = _HIDDEN_STYLE_RE

    # raw view: every element the lines keep is kept there too (its skip rules are a subset), so it is
    # recorded inline; what the lines skip is handed to RawText, which decides for itself
    record = raw is not None
    pos = raw.pos if raw is not None else 0
    raw_parts: list[str] = raw.parts if raw is not None else []
    raw_starts: list[int] = raw.starts if raw is not None else []
    raw_owners: list[HtmlElement] = raw.owners if raw is not None else []
    raw_span: dict[HtmlElement, tuple[int, int]] = raw.span if raw is not None else {}
    el_start: list[int] = []  # raw offset where each of ``elements`` starts
    raw_skip_tags = raw.skip_tags if raw is not None else frozenset()
    raw_scripts: list[str] = raw.scripts if raw is not None else []
    tags: list[str] = []  # tag of each of ``elements`` (el.tag builds a new string per call)

    def flush() -> None:
        nonlocal link_chars, cells
        text = collapse("".join(buf))
        if cells:  # a table row: its cells tab-separated
            text = _CELL_SEP_RE.sub("\t", text).strip("\t ")
        if text:
            chars = len(text) - text.count(" ") - (text.count("\t") if cells else 0)
            lines.append(Line(text, path[min_depth - 1] if min_depth else 0, chars, min(link_chars, chars),
                              cells))
        buf.clear()
        link_chars = 0
        cells = 0

    def raw_skipped(el: HtmlElement) -> None:
        nonlocal pos
        raw.pos = pos  # type: ignore[union-attr]
        if path:
            raw.child(el)  # type: ignore[union-attr]
        else:
            raw.visit(el)  # type: ignore[union-attr]  # the root is always recorded
        pos = raw.pos  # type: ignore[union-attr]

    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    skipped = None  # the element whose subtree is being skipped (its "end" comes next)
    for event, el in walker:
        if event == "start":
            tag = el.tag
            if tag in skip_tags:
                if record:
                    if tag not in raw_skip_tags:
                        raw_skipped(el)
                    elif tag == "script":
                        code = el.text
                        if code:
                            raw_scripts.append(code)
                walker.skip_subtree()
                skipped = el
                continue
            if tag == "br":
                if record:
                    raw_skipped(el)
                walker.skip_subtree()
                skipped = el
                if buf:
                    flush()
                continue
            style = el.get("style")
            kind = KEEP
            if attr_kind is not None:
                cls = el.get("class")
                el_id = el.get("id")
                if cls is not None or el_id is not None:
                    kind = kinds.get((cls, el_id), -1)
                    if kind < 0:
                        kind = kinds[(cls, el_id)] = attr_kind(cls, el_id)
            if ((style and ("none" in style or "hidden" in style) and hidden_re.search(style))
                    or el.get("hidden") is not None
                    or (kind == WIDGET and vis_len(etree.tostring(el, method="text", encoding="unicode",
                                                              with_tail=False)) < widget_max_chars)):
                if record:
                    raw_skipped(el)
                walker.skip_subtree()
                skipped = el
                if buf and tag in block_tags:
                    flush()
                continue
            if kind == MARK:
                marked.append(len(elements))
            if tag in block_tags:
                if buf:
                    flush()
            elif tag == "a":
                in_link += 1
            idx = len(elements)
            elements.append(el)
            tags.append(tag)
            parent.append(path[-1] if path else -1)
            end.append(idx)
            path.append(idx)
            if record:
                el_start.append(pos)
            text = el.text
            owner = el
        elif event == "end":
            if el is skipped:
                skipped = None
            else:
                idx = path[-1]
                if record:
                    raw_span[el] = (el_start[idx], pos)
                tag = tags[idx]
                if tag in block_tags:
                    if buf:
                        flush()  # the line ends inside this element
                elif tag in cell_tags:
                    if buf:
                        buf.append(CELL_END)
                        cells += 1
                elif tag == "a":
                    in_link -= 1
                end[idx] = len(elements) - 1
                path.pop()
                if buf and len(path) < min_depth:
                    min_depth = len(path)
                if not path:
                    break  # the root's tail is outside the walk
            text = el.tail
            owner = None  # a tail belongs to the parent's text (the root's own tail to neither view)
        else:  # comment or processing instruction: only its tail is text
            text = el.tail
            owner = None
        if text:
            if not text.isspace():
                if record and (owner is not None or path):
                    raw_starts.append(pos)
                    raw_owners.append(owner if owner is not None else elements[path[-1]])
                    raw_parts.append(text)
                    pos += len(text) + 1
                if not buf:
                    min_depth = len(path)
                buf.append(text)
                if in_link:
                    link_chars += vis_len(text)
            elif buf:
                buf.append(text)  # whitespace inside a line: no visible (link) characters
    if buf:
        flush()
    if raw is not None:
        raw.pos = pos
    return Walk(lines, elements, parent, end, marked)


def render_lines(root: HtmlElement) -> list[str]:
    """The visible text of ``root``, one paragraph per list item, no empty items."""
    return [line.text for line in walk(root).lines]


def render_text(root: HtmlElement) -> str:
    """The visible text of ``root``: one paragraph per line, no empty lines."""
    return "\n".join(render_lines(root))
