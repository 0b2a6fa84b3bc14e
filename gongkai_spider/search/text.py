"""The search query and the indexed text, shared by both backends (see ``gongkai_spider.search``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TERMS = 16
MAX_TERM_CHARS = 200
SNIPPET_CHARS = 80


class QueryError(ValueError):
    """A query that cannot be searched (empty, too many or too long terms); the message says why."""


def fold(text: str) -> str:
    """Lower case, one character for one (``str.lower`` of a few letters, e.g. ``İ``, is longer: kept as is),
    so offsets in the folded text are offsets in the original. FTS5's trigram tokenizer folds the same way."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def parse_query(query: str) -> list[str]:
    """The terms of ``query``: split on white space, folded, duplicates dropped, order kept."""
    terms = list(dict.fromkeys(fold(t) for t in query.replace("\x00", " ").split()))
    if not terms:
        raise QueryError("empty query")
    if len(terms) > MAX_TERMS:
        raise QueryError(f"too many terms ({len(terms)}; at most {MAX_TERMS})")
    long = [t for t in terms if len(t) > MAX_TERM_CHARS]
    if long:
        raise QueryError(f"term longer than {MAX_TERM_CHARS} characters: {long[0][:20]}…")
    return terms


def _attachment_texts(attachments: Any) -> list[str]:
    if not isinstance(attachments, Sequence) or isinstance(attachments, str):
        return []
    return [a["text"] for a in attachments if isinstance(a, Mapping) and isinstance(a.get("text"), str) and a["text"]]


def field_texts(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    """(title, body, attachment texts joined by blank lines): what is searched, in ranking-weight order.

    No term holds white space, so a blank line between two attachments keeps a hit from spanning both."""
    title, body = doc.get("title"), doc.get("body")
    return (title if isinstance(title, str) else "", body if isinstance(body, str) else "",
            "\n\n".join(_attachment_texts(doc.get("attachments"))))


def matches(doc: Mapping[str, Any], terms: Sequence[str]) -> bool:
    """The definition both backends implement: every term is in the title, body or an attachment's text."""
    texts = [fold(t) for t in field_texts(doc) if t]
    return all(any(term in text for text in texts) for term in terms)


def snippet(doc: Mapping[str, Any], terms: Sequence[str], *, width: int = SNIPPET_CHARS,
            marks: tuple[str, str] = ("[", "]")) -> str:
    """About ``width`` characters of the body (else attachment text, else title) around the first hit, every
    hit inside wrapped in ``marks``; line breaks shown as spaces, ``…`` where text was cut."""
    title, body, attached = field_texts(doc)
    for text in (body, attached, title):
        folded = fold(text)
        hits = [i for i in (folded.find(t) for t in terms) if i >= 0]
        if hits:
            break
    else:
        text, folded, hits = body or title, fold(body or title), [0]
    first = min(hits)
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    start = max(0, min(start, end - width))
    window, low = text[start:end], folded[start:end]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    out, pos = [], 0
    for m in pattern.finditer(low):
        out += [window[pos:m.start()], marks[0], window[m.start():m.end()], marks[1]]
        pos = m.end()
    out.append(window[pos:])
    shown = re.sub(r"\s+", " ", "".join(out)).strip()
    return ("…" if start > 0 else "") + shown + ("…" if end < len(text) else "")
