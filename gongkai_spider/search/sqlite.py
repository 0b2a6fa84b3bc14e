"""The SQLite full-text index: one contentless FTS5 ``trigram`` table per collection, kept in sync by the store.

Tables, per collection ``{t}`` (``articles``, ``quarantine``):

- ``{t}_fts``: ``fts5(title, body, attachments, tokenize='trigram', content='')``. Contentless: the text is
  already in the document, the index alone costs about as much again. Each column is indexed with two line
  breaks appended, so every character of the text starts at least one trigram; a term of one or two
  characters is then the OR of the indexed trigrams that start with it (read from the index's vocabulary,
  ``fts5vocab``), which the plain trigram query cannot do (it needs three characters).
- ``{t}_fts_ids``: ``id INTEGER PRIMARY KEY`` (the FTS rowid), ``_id`` (the document), ``crc`` (CRC-32 of the
  indexed text). A document is indexed exactly when its ``_id`` is here. A contentless FTS5 table forgets a
  document only when given the very text it indexed; the CRC proves the stored document is still that text
  before its postings are deleted. When it is not (the file was edited outside the store), the index is
  marked for a rebuild instead of being corrupted.
- ``search_meta``: per collection the index format ``version`` and ``complete`` (every document indexed).

A store created before this feature gets the (empty) tables when it is opened, and from then on every write
keeps its documents indexed; the documents stored before are indexed on first use (``ensure_built``, called
by a search), in chunks of ``BUILD_CHUNK`` documents per transaction so a running crawl is never blocked long.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from gongkai_spider.search.text import field_texts

logger = logging.getLogger(__name__)

FTS_VERSION = 1  # bump when field_texts or the table layout changes: stores rebuild their index on first use
PAD = "\n\n"
BUILD_CHUNK = 2000
TITLE_WEIGHT = 10.0  # bm25 column weights: title, body, attachments
# A one-character term can expand to thousands of trigrams; past this many the query scans instead.
MAX_EXPANSION = 4000
# Queries with more hits than this rank only the title hits by bm25, then list the newest (see search()).
RANK_MAX = 20_000

_META = "CREATE TABLE IF NOT EXISTS search_meta (collection TEXT PRIMARY KEY, version INTEGER NOT NULL, " \
        "complete INTEGER NOT NULL)"
_TABLES = """
CREATE VIRTUAL TABLE IF NOT EXISTS {t}_fts USING fts5(title, body, attachments, tokenize='trigram', content='');
CREATE TABLE IF NOT EXISTS {t}_fts_ids (id INTEGER PRIMARY KEY, _id TEXT NOT NULL UNIQUE, crc INTEGER NOT NULL);
"""


def indexed_texts(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    """The three column values indexed for ``doc`` (each padded, see the module docstring)."""
    return tuple(text + PAD for text in field_texts(doc))  # type: ignore[return-value]


def text_crc(texts: tuple[str, str, str]) -> int:
    return zlib.crc32("\x1f".join(texts).encode("utf-8", "surrogatepass"))


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class SQLiteSearch:
    """The index operations of one SQLite connection; the store calls them inside its own transactions."""

    def __init__(self, conn: sqlite3.Connection, rank_max: int = RANK_MAX) -> None:
        self.conn = conn
        self.rank_max = rank_max
        self._vocab: set[str] = set()
        self.conn.execute(_META)

    # -- lifecycle ------------------------------------------------------------------------------------

    def prepare(self, table: str) -> None:
        """Create the index tables of ``table`` when missing (or of an older format): complete at once when
        the collection is empty, else left for ``ensure_built``. Called by the store when it opens."""
        row = self.conn.execute("SELECT version FROM search_meta WHERE collection=?", (table,)).fetchone()
        if row is not None and row[0] == FTS_VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT version FROM search_meta WHERE collection=?", (table,)).fetchone()
            if row is None or row[0] != FTS_VERSION:  # another process may have done it meanwhile
                self._create(table)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _create(self, table: str) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {table}_fts")
        self.conn.execute(f"DROP TABLE IF EXISTS {table}_fts_ids")
        for statement in _TABLES.format(t=table).strip().split(";\n"):
            self.conn.execute(statement)
        self.conn.execute(f"INSERT INTO {table}_fts({table}_fts, rank) VALUES ('rank', 'bm25({TITLE_WEIGHT}, 1, 1)')")
        empty = self.conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        self.conn.execute("INSERT OR REPLACE INTO search_meta (collection, version, complete) VALUES (?, ?, ?)",
                          (table, FTS_VERSION, int(bool(empty))))

    def _mark_stale(self, table: str, _id: str) -> None:
        logger.warning("search index of %s: the stored text of %s is not what was indexed (edited outside the "
                       "store?); the index is rebuilt on the next search", table, _id)
        self.conn.execute("UPDATE search_meta SET version=0, complete=0 WHERE collection=?", (table,))

    def is_complete(self, table: str) -> bool:
        row = self.conn.execute("SELECT version, complete FROM search_meta WHERE collection=?", (table,)).fetchone()
        return row is not None and row[0] == FTS_VERSION and bool(row[1])

    def ensure_built(self, table: str) -> int:
        """Index every document of ``table`` that is not yet (rebuilding a stale or older index first).
        Returns how many were indexed. Safe while another process writes: each chunk is one transaction."""
        if self.is_complete(table):
            return 0
        row = self.conn.execute("SELECT version FROM search_meta WHERE collection=?", (table,)).fetchone()
        if row is None or row[0] != FTS_VERSION:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._create(table)
                self.conn.execute("UPDATE search_meta SET complete=0 WHERE collection=?", (table,))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        done, after = 0, -1
        while True:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                rows = self.conn.execute(
                    f"SELECT rowid, _id, doc FROM {table} a WHERE rowid > ? AND NOT EXISTS "
                    f"(SELECT 1 FROM {table}_fts_ids i WHERE i._id = a._id) ORDER BY rowid LIMIT ?",
                    (after, BUILD_CHUNK)).fetchall()
                for rowid, _id, text in rows:
                    self._add(table, _id, json.loads(text))
                    after = rowid
                if not rows:
                    self.conn.execute("UPDATE search_meta SET complete=1 WHERE collection=? AND version=?",
                                      (table, FTS_VERSION))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            done += len(rows)
            if not rows:
                break
        if done:
            logger.info("search index of %s: %d documents indexed", table, done)
        return done

    # -- sync (inside the store's transaction) --------------------------------------------------------

    def _add(self, table: str, _id: str, doc: Mapping[str, Any]) -> None:
        texts = indexed_texts(doc)
        rowid = self.conn.execute(f"INSERT INTO {table}_fts_ids (_id, crc) VALUES (?, ?)",
                                  (_id, text_crc(texts))).lastrowid
        self.conn.execute(f"INSERT INTO {table}_fts (rowid, title, body, attachments) VALUES (?, ?, ?, ?)",
                          (rowid, *texts))

    def remove(self, table: str, _id: str, old: Mapping[str, Any] | None) -> None:
        """Forget ``_id`` (whose stored document is ``old``)."""
        row = self.conn.execute(f"SELECT id, crc FROM {table}_fts_ids WHERE _id=?", (_id,)).fetchone()
        if row is None:
            return
        rowid, crc = row
        texts = indexed_texts(old) if old is not None else None
        if texts is None or text_crc(texts) != crc:
            self._mark_stale(table, _id)
        else:
            self.conn.execute(f"INSERT INTO {table}_fts ({table}_fts, rowid, title, body, attachments) "
                              "VALUES ('delete', ?, ?, ?, ?)", (rowid, *texts))
        self.conn.execute(f"DELETE FROM {table}_fts_ids WHERE id=?", (rowid,))

    def add(self, table: str, _id: str, doc: Mapping[str, Any]) -> None:
        """Index ``doc`` (stored under ``_id``), replacing any earlier entry of ``_id``."""
        if self.conn.execute(f"SELECT 1 FROM {table}_fts_ids WHERE _id=?", (_id,)).fetchone():
            self._mark_stale(table, _id)
            self.conn.execute(f"DELETE FROM {table}_fts_ids WHERE _id=?", (_id,))
        self._add(table, _id, doc)

    def sync(self, table: str, writes: Iterable[tuple[str, str, dict]], existing: Mapping[str, dict]) -> None:
        """Apply the store's writes ``(_id, kind, final document)`` of one batch; ``existing`` holds the
        documents as stored before it. A ``touch`` (same content) changes nothing searched."""
        for _id, kind, doc in writes:
            if kind == "touch":
                continue
            old = existing.get(_id)
            if old is not None:
                if indexed_texts(old) == indexed_texts(doc) and self.conn.execute(
                        f"SELECT 1 FROM {table}_fts_ids WHERE _id=?", (_id,)).fetchone():
                    continue  # changed elsewhere (spam verdict, metadata): the searched text is the same
                self.remove(table, _id, old)
            self.add(table, _id, doc)

    # -- queries --------------------------------------------------------------------------------------

    def _expand(self, table: str, term: str) -> list[str] | None:
        """The indexed trigrams starting with a one- or two-character ``term`` (None: too many)."""
        vocab = f"{table}_fts_vocab"
        if vocab not in self._vocab:
            self.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocab} USING fts5vocab(main, {table}_fts, row)")
            self._vocab.add(vocab)
        rows = self.conn.execute(f"SELECT term FROM temp.{vocab} WHERE term >= ? AND term < ? LIMIT ?",
                                 (term, term + "\U0010ffff", MAX_EXPANSION + 1)).fetchall()
        return None if len(rows) > MAX_EXPANSION else [r[0] for r in rows]

    def match_expression(self, table: str, terms: list[str]) -> str | None:
        """The FTS5 MATCH text for ``terms`` (all must occur), None when nothing can match, "" when a term
        expands too far for the index (the caller scans)."""
        parts = []
        for term in terms:
            if len(term) >= 3:
                parts.append(_quote(term))
                continue
            expanded = self._expand(table, term)
            if expanded is None:
                return ""
            if not expanded:
                return None
            parts.append("(" + " OR ".join(_quote(t) for t in expanded) + ")")
        return " AND ".join(parts)

    def search(self, table: str, terms: list[str], where: list[str], params: list[Any],
               limit: int) -> list[tuple[str, float]]:
        """``(_id, score)`` of the documents holding every term, best first; ``where``/``params``: extra
        conditions on the collection's columns (alias ``a``)."""
        expression = self.match_expression(table, terms)
        if expression is None:
            return []
        if expression == "":
            return self._scan(table, terms, where, params, limit)
        join = f" JOIN {table} a ON a._id = i._id" if where else ""
        base = (f"FROM {table}_fts f JOIN {table}_fts_ids i ON i.id = f.rowid{join} WHERE {table}_fts MATCH ?"
                + "".join(f" AND {w}" for w in where))

        def ranked(match: str) -> list[tuple[str, float]]:
            return [(_id, -rank) for _id, rank in self.conn.execute(
                f"SELECT i._id, f.rank {base} ORDER BY f.rank LIMIT ?", [match, *params, limit])]

        def count(match: str) -> int:
            return self.conn.execute(f"SELECT COUNT(*) FROM {table}_fts WHERE {table}_fts MATCH ?",
                                     (match,)).fetchone()[0]

        if count(expression) <= self.rank_max:
            return ranked(expression)
        # Too many hits to score them all (bm25 costs about 2 us per hit): the title hits ranked, when they are
        # few enough, then the most recently indexed documents.
        in_title = f"{{title}} : ({expression})"
        hits = ranked(in_title) if count(in_title) <= self.rank_max else []
        seen = {_id for _id, _ in hits}
        for (_id,) in self.conn.execute(f"SELECT i._id {base} ORDER BY f.rowid DESC LIMIT ?",
                                        [expression, *params, limit + len(seen)]):
            if len(hits) >= limit:
                break
            if _id not in seen:
                hits.append((_id, 0.0))
        return hits

    def _scan(self, table: str, terms: list[str], where: list[str], params: list[Any],
              limit: int) -> list[tuple[str, float]]:
        """A term too common for the index (a single frequent character): a scan of the documents."""
        from gongkai_spider.search.text import matches

        sql = f"SELECT a._id, a.doc FROM {table} a" + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY a.publish_time DESC"
        out = []
        for _id, text in self.conn.execute(sql, params):
            if matches(json.loads(text), terms):
                out.append((_id, 0.0))
                if len(out) >= limit:
                    break
        return out
