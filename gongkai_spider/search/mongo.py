"""The MongoDB side of search: character bigrams under a text index, confirmed by ``$regex``.

MongoDB's text index splits on white space and punctuation and has no Chinese analyzer: a Chinese sentence
would be one "word". So each document carries ``_search`` = ``{"v": SEARCH_VERSION, "title": ..., "text": ...}``:
the distinct bigrams (two consecutive letters or digits, folded) of the title, and of the body plus
attachment texts, space-separated. One text index (``TEXT_INDEX``, ``default_language: "none"``: no stop words,
no stemming) covers both, the title weighted 10. A term's bigrams are searched as quoted phrases (all must be
present), which narrows the candidates to documents holding every bigram; a case-insensitive ``$regex`` per
term on ``title`` / ``body`` / ``attachments.text`` then keeps exactly the documents holding the term. A term
with no bigram (one character) is searched by the ``$regex`` alone: a collection scan narrowed only by the
other filters. Measured against word segmentation (jieba) in docs/SCHEMA.md: bigrams find every document
(recall 1.0), segmentation misses those where the term is not a whole word of the segmenter.

``_search`` is written with the document by the store and never shown (``storage/mongo.from_mongo`` drops it).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import Any

from gongkai_spider.search.text import field_texts, fold

SEARCH_VERSION = 1  # bump when grams() changes: ensure_search_index rewrites older documents
TITLE_WEIGHT = 10
TEXT_INDEX: tuple[list[tuple[str, str]], dict[str, Any]] = (
    [("_search.title", "text"), ("_search.text", "text")],
    {"name": "search_text", "default_language": "none", "weights": {"_search.title": TITLE_WEIGHT, "_search.text": 1},
     # the default override field is "language": a document with such a field would pick a stemmer
     "language_override": "_search_language"},
)


_RUNS = re.compile(r"[^\W_]{2,}")  # two or more letters/digits in a row (\w without the underscore)


def grams(text: str) -> list[str]:
    """The distinct bigrams of ``text`` made of two letters/digits, folded, in order of first appearance."""
    runs = _RUNS.findall(fold(text))
    return list(dict.fromkeys([g for run in runs for g in map(operator.add, run, run[1:])]))


def search_field(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``_search`` value stored with ``doc``."""
    title, body, attached = field_texts(doc)
    return {"v": SEARCH_VERSION, "title": " ".join(grams(title)),
            "text": " ".join(grams(body + "\n" + attached if attached else body))}


def text_clause(terms: list[str]) -> dict[str, Any] | None:
    """``$text`` for ``terms``: every bigram of every term as a quoted phrase; None when no term has one."""
    wanted = list(dict.fromkeys(g for term in terms for g in grams(term)))
    if not wanted:
        return None
    return {"$search": " ".join(f'"{g}"' for g in wanted)}


def term_clauses(terms: list[str]) -> list[dict[str, Any]]:
    """One condition per term: in the title, the body or an attachment's text, ignoring case."""
    clauses = []
    for term in terms:
        rx = {"$regex": re.escape(term), "$options": "i"}
        clauses.append({"$or": [{"title": rx}, {"body": rx}, {"attachments.text": rx}]})
    return clauses


def build_query(terms: list[str], filters: dict[str, Any], *, use_text: bool = True) -> dict[str, Any]:
    """The ``find`` filter of a search: the documents holding every term and passing ``filters``."""
    query: dict[str, Any] = dict(filters)
    text = text_clause(terms) if use_text else None
    if text is not None:
        query["$text"] = text
    query["$and"] = term_clauses(terms)
    return query
