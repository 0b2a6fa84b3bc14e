"""Full-text search over the stored documents: the query language and the text both stores index.

A query is one or more terms separated by spaces; a document matches when every term occurs, as a substring
and ignoring letter case, in its title, its body or the text of one of its attachments (``attachments[].text``,
when present). Chinese has no spaces between words, so matching is by substring, never by word: ``安全`` finds
``安全生产``. Both backends give exactly the documents ``matches`` accepts (tests check it against a scan):

- SQLite (``sqlite.py``): an FTS5 table with the ``trigram`` tokenizer per collection, kept in sync by the
  store on every write; terms of one or two characters are looked up through the index's own vocabulary.
- MongoDB (``mongo.py``): the distinct character bigrams of each field in ``_search`` under one text index
  (``default_language: "none"``) narrow the candidates; a case-insensitive ``$regex`` confirms them.

Results are ranked by the backend (SQLite ``bm25``, MongoDB ``textScore``; title hits weigh most) and shown
with a snippet cut from the text around the first hit (``snippet``). docs/SCHEMA.md has the measurements.
"""

from gongkai_spider.search.text import (
    QueryError,
    field_texts,
    matches,
    parse_query,
    snippet,
)

__all__ = ["QueryError", "field_texts", "matches", "parse_query", "run_search", "snippet"]


def run_search(store, query: str, *, collection: str = "articles", filters=None, limit: int = 20) -> list[dict]:
    """Search ``store`` (either backend): hits best first, each ``{_id, url, site, title, publish_time, score,
    snippet, collection}``. Raises QueryError for a query that cannot be searched."""
    terms = parse_query(query)
    if limit <= 0:
        return []
    ranked = store.search_ids(terms, collection, filters, limit)
    docs = store.get_many(collection, [_id for _id, _ in ranked])
    hits = []
    for _id, score in ranked:
        doc = docs.get(_id)
        if doc is None or not matches(doc, terms):  # deleted since; never show a document without the terms
            continue
        hits.append({"_id": _id, "url": doc.get("url"), "site": doc.get("site"), "title": doc.get("title"),
                     "publish_time": doc.get("publish_time"), "score": round(score, 4),
                     "snippet": snippet(doc, terms), "collection": collection})
    return hits
