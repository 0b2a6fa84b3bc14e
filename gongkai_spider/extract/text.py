"""Render an lxml element as plain text, one paragraph per line.

Used by the body extractor (``extract/body.py``) and by any field helper that needs the visible text of an
element. One walk over the subtree gives every line together with the innermost element that holds the
whole line and how many of its characters sit inside links, which is what the text-density scoring needs.

Rules: block elements (``p``, ``div``, ``li``, ``tr``, headings, ...) and ``<br>`` end a line; table cells
are separated by a space; scripts, styles, form controls, comments and hidden elements
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

_WS_RE = re.compile(r"[\s\xa0\u3000\u2002\u2003\u2009\u200b\u200c\u200d\u2060\ufeff]+")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def collapse(text: str) -> str:
    """One ASCII space per whitespace run (NBSP, U+3000 and zero-width characters included), trimmed."""
    return _WS_RE.sub(" ", text).strip()


def visible_len(text: str) -> int:
    """Number of non-whitespace characters."""
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


def walk(root: HtmlElement, attr_kind: Callable[[str | None, str | None], int] | None = None,
         widget_max_chars: int = 300) -> Walk:
    """Render ``root`` into lines in one pass (lxml's iterwalk; no recursion limit on deep trees).

    Scripts, styles, form controls and hidden elements are always skipped. ``attr_kind(class, id)``
    (called once per distinct pair, for elements that have either) may answer ``MARK`` to have the
    element's index listed in ``Walk.marked``, or ``WIDGET`` to skip its subtree when it holds fewer
    than ``widget_max_chars`` visible characters (a bigger "widget" is a mislabelled wrapper).
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
    ws_sub = _WS_RE.sub
    block_tags, cell_tags, skip_tags = BLOCK_TAGS, CELL_TAGS, SKIP_TAGS
    hidden_re = _HIDDEN_STYLE_RE

    def flush() -> None:
        nonlocal link_chars, cells
        text = ws_sub(" ", "".join(buf)).strip()
        if text:
            chars = len(text) - text.count(" ")
            lines.append(Line(text, path[min_depth - 1] if min_depth else 0, chars, min(link_chars, chars),
                              cells))
        buf.clear()
        link_chars = 0
        cells = 0

    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    skipped = None  # the element whose subtree is being skipped (its "end" comes next)
    for event, el in walker:
        if event == "start":
            tag = el.tag
            if tag in skip_tags:
                walker.skip_subtree()
                skipped = el
                continue
            if tag == "br":
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
                    or (kind == WIDGET and len(ws_sub("", etree.tostring(el, method="text", encoding="unicode",
                                                                 with_tail=False))) < widget_max_chars)):
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
            parent.append(path[-1] if path else -1)
            end.append(idx)
            path.append(idx)
            text = el.text
        elif event == "end":
            if el is skipped:
                skipped = None
            else:
                idx = path.pop()
                tag = el.tag
                if tag in block_tags:
                    if buf:
                        path.append(idx)  # the line ends inside this element
                        flush()
                        path.pop()
                elif tag in cell_tags:
                    if buf:
                        buf.append(" ")
                        cells += 1
                elif tag == "a":
                    in_link -= 1
                end[idx] = len(elements) - 1
                if buf and len(path) < min_depth:
                    min_depth = len(path)
                if not path:
                    break  # the root's tail is outside the walk
            text = el.tail
        else:  # comment or processing instruction: only its tail is text
            text = el.tail
        if text and (buf or not text.isspace()):
            if not buf:
                min_depth = len(path)
            buf.append(text)
            if in_link:
                link_chars += len(ws_sub("", text))
    if buf:
        flush()
    return Walk(lines, elements, parent, end, marked)


def render_lines(root: HtmlElement) -> list[str]:
    """The visible text of ``root``, one paragraph per list item, no empty items."""
    return [line.text for line in walk(root).lines]


def render_text(root: HtmlElement) -> str:
    """The visible text of ``root``: one paragraph per line, no empty lines."""
    return "\n".join(render_lines(root))
