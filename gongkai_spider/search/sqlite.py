"""The SQLite full-text index: two contentless FTS5 ``trigram`` tables per collection, kept in sync by the store.

Tables, per collection ``{t}`` (``articles``, ``quarantine``):

- ``{t}_fts``: ``fts5(text, tokenize='trigram', content='', detail=none)``: title, body and attachment texts in
  one column. ``detail=none`` keeps only which documents hold a trigram (no positions): about a sixth of the
  size and half the CPU of a full index, but no phrase queries. So a term of four or more characters is looked
  up as the AND of its trigrams, a superset of the documents holding it, and each candidate is checked against
  its stored text (``search.matches``) before it is returned; three characters are one trigram (exact).
  Each field is indexed with two line breaks appended, so every character of the text starts at least one
  trigram; a term of one or two characters is then the OR of the indexed trigrams that start with it (read
  from the index's vocabulary, ``fts5vocab``), exact too.
- ``{t}_fts_title``: ``fts5(title, tokenize='trigram', content='')`` with positions: the title hits, ranked by
  ``bm25``, come first in the results (titles are short: the positions cost little).
- ``{t}_fts_ids``: ``id INTEGER PRIMARY KEY`` (the FTS rowid), ``_id`` (the document), ``crc`` (CRC-32 of the
  indexed text). A document is indexed exactly when its ``_id`` is here. A contentless FTS5 table forgets a
  document only when given the very text it indexed; the CRC proves the stored document is still that text
  before its postings are deleted. When it is not (the file was edited outside the store), the index is
  marked for a rebuild instead of being corrupted.
- ``search_meta``: per collection the index format ``version`` and ``complete`` (every document indexed).

A store created before this feature (or with an index of an older format) gets the new (empty) tables when it
is opened, and from then on every write keeps its documents indexed; the documents stored before are indexed
on first use (``ensure_built``, called by a search), in chunks of ``BUILD_CHUNK`` documents per transaction so
a running crawl is never blocked long.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from gongkai_spider.search.text import field_texts, matches
from gongkai_spider.sqlite_rows import insert_rows, select_rows

logger = logging.getLogger(__name__)

FTS_VERSION = 2  # bump when field_texts or the table layout changes: stores rebuild their index on first use
PAD = "\n\n"
# Documents per transaction when an index is built for existing documents: the crawl's batch size, so the built
# index has the segments a crawled one has. Built 2,000 at a time, a 1M index cost the crawls that followed 9-20
# ms of merging per new document in one batch of eight (2-4 s per batch; 258 µs per document on average, no
# batch over 585, when built 200 at a time: docs/PERFORMANCE.md), and the build itself no less CPU.
BUILD_CHUNK = 200
_CHUNK = 500  # ids per IN (...) lookup
# A one-character term can expand to thousands of trigrams; past this many the query scans instead.
MAX_EXPANSION = 4000
# Queries with more title hits than this list every hit newest first instead of ranking the title hits.
RANK_MAX = 20_000
# FTS5 merges 16 segments of a level at a time instead of 4: each posting is rewritten half as often as the
# index grows (docs/SCHEMA.md has the measurements), a query reads a few more segments.
AUTOMERGE = 16
# FTS5 writes its in-memory postings out as a new segment whenever they pass this size (default 1 MiB, which a
# batch of 200 pages of about 1,000 characters passes several times): one segment per batch, less to merge.
HASHSIZE = 8 * 2**20
# A level holding this many segments is merged at once, in the write that reaches it, and so is every level
# above it that fills in turn. At FTS5's default (16, our AUTOMERGE) every merge is one: at 1M documents a write
# now and then rewrote the whole index, 20 s or more holding the write lock. Above AUTOMERGE the merges are done
# in slices as the segments are written (FTS5's automerge), and this is only a backstop.
CRISISMERGE = 4 * AUTOMERGE
# The merge options of every text index, set when it is created and on existing ones when the store opens.
OPTIONS = {"automerge": AUTOMERGE, "crisismerge": CRISISMERGE, "hashsize": HASHSIZE}

_META = "CREATE TABLE IF NOT EXISTS search_meta (collection TEXT PRIMARY KEY, version INTEGER NOT NULL, " \
        "complete INTEGER NOT NULL)"
_TABLES = """
CREATE VIRTUAL TABLE IF NOT EXISTS {t}_fts USING fts5(text, tokenize='trigram', content='', detail=none);
CREATE VIRTUAL TABLE IF NOT EXISTS {t}_fts_title USING fts5(title, tokenize='trigram', content='');
CREATE TABLE IF NOT EXISTS {t}_fts_ids (id INTEGER PRIMARY KEY, _id TEXT NOT NULL UNIQUE, crc INTEGER NOT NULL);
"""


def indexed_texts(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(the text column, the title column) indexed for ``doc`` (each field padded, see the module docstring)."""
    title, body, attached = field_texts(doc)
    return title + PAD + body + PAD + attached + PAD, title + PAD


def text_crc(texts: tuple[str, str]) -> int:
    """CRC-32 of the texts joined by ``\x1f`` (UTF-8), chained instead of joined: no copy of the text, and the
    encoding reuses the UTF-8 that binding the text to a statement left on the string."""
    crc = 0
    for i, text in enumerate(texts):
        crc = zlib.crc32(text.encode("utf-8", "surrogatepass"), zlib.crc32(b"\x1f", crc) if i else crc)
    return crc


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _trigrams(term: str) -> list[str]:
    return list(dict.fromkeys(term[i:i + 3] for i in range(len(term) - 2)))


def _literal(term: str) -> bool:
    """Whether ``term`` appears as is in the stored JSON of every document holding it: no letter case and
    nothing JSON escapes (so ``term in raw_json`` is a cheap necessary condition)."""
    return term.upper() == term and all(c >= " " and c not in '"\\' for c in term)


def forget_planner_stats(conn: sqlite3.Connection) -> None:
    """Drop ANALYZE's statistics of the index tables (``*_fts*``). Taken while an index
    was small (ANALYZE or ``PRAGMA optimize`` on a young store), they make SQLite plan FTS5's own range deletes on
    ``{t}_fts_data`` as full scans: every merge then read the whole index once per segment it merged, 2-8 s per
    merge at 1M documents (docs/PERFORMANCE.md). FTS5's statements find their rows by key with no statistics.
    A connection keeps the statistics it has read: call this on one of its own, before the others open."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='sqlite_stat1'").fetchone() is None:
        return
    try:
        conn.execute("DELETE FROM sqlite_stat1 WHERE tbl GLOB '*_fts*'")
    except sqlite3.OperationalError as exc:  # a read-only file, a lock held too long: the store works without it
        logger.warning("search index: could not drop the planner statistics of its tables (%s); merges may be "
                       "slow", exc)


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
        if row is not None and row[0] == FTS_VERSION and not self._options_to_set(table):
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT version FROM search_meta WHERE collection=?", (table,)).fetchone()
            if row is None or row[0] != FTS_VERSION:  # another process may have done it meanwhile
                self._create(table)
            else:  # an index created with other merge options: they apply to its next merges, nothing rebuilt
                self._set_options(table)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _create(self, table: str) -> None:
        for suffix in ("_fts", "_fts_title", "_fts_ids"):
            self.conn.execute(f"DROP TABLE IF EXISTS {table}{suffix}")
        for statement in _TABLES.format(t=table).strip().split(";\n"):
            self.conn.execute(statement)
        self._set_options(table)
        empty = self.conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        self.conn.execute("INSERT OR REPLACE INTO search_meta (collection, version, complete) VALUES (?, ?, ?)",
                          (table, FTS_VERSION, int(bool(empty))))

    def _options_to_set(self, table: str) -> dict[str, int]:
        have = dict(self.conn.execute(f"SELECT k, v FROM {table}_fts_config"))
        return {k: v for k, v in OPTIONS.items() if have.get(k) != v}

    def _set_options(self, table: str) -> None:
        for option, value in self._options_to_set(table).items():
            self.conn.execute(f"INSERT INTO {table}_fts({table}_fts, rank) VALUES ('{option}', {value})")

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
                self._add_many(table, [(_id, json.loads(text)) for _, _id, text in rows])
                after = rows[-1][0] if rows else after
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

    def _add_many(self, table: str, docs: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Index ``docs`` (``(_id, document)`` pairs, none of them in the index): one statement per table for
        them all, the rowids counted on from the largest (what SQLite would pick row by row)."""
        if not docs:
            return
        texts = [indexed_texts(doc) for _, doc in docs]
        top = self.conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}_fts_ids").fetchone()[0]
        rowids = range(top + 1, top + 1 + len(docs))
        # a few statements per table, not one step per row (gongkai_spider/sqlite_rows.py)
        insert_rows(self.conn, f"INSERT INTO {table}_fts (rowid, text) VALUES",
                    [(r, t[0]) for r, t in zip(rowids, texts, strict=True)])
        insert_rows(self.conn, f"INSERT INTO {table}_fts_title (rowid, title) VALUES",
                    [(r, t[1]) for r, t in zip(rowids, texts, strict=True)])
        # after the texts were bound: their UTF-8 is cached on the strings for text_crc
        insert_rows(self.conn, f"INSERT INTO {table}_fts_ids (id, _id, crc) VALUES",
                    [(r, _id, text_crc(t)) for r, (_id, _), t in zip(rowids, docs, texts, strict=True)])

    def _indexed(self, table: str, ids: list[str]) -> dict[str, tuple[int, int]]:
        """The index's ``(rowid, crc)`` of those of ``ids`` it holds (one step per chunk: sqlite_rows)."""
        found: dict[str, tuple[int, int]] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            found.update((_id, (rowid, crc)) for _id, rowid, crc in select_rows(
                self.conn, "_id, id, crc", f"FROM {table}_fts_ids WHERE _id IN ({','.join('?' * len(chunk))})",
                chunk))
        return found

    def _remove_many(self, table: str, docs: list[tuple[str, Mapping[str, Any] | None]],
                     indexed: Mapping[str, tuple[int, int]]) -> None:
        """Forget documents (``_id``, stored document or None) in a few statements; ``indexed``: their
        ``_indexed`` entries (those not in it are not in the index). A stored text that is not what was
        indexed (or no stored document) cannot be taken out of FTS5: the index is marked for a rebuild."""
        texts, ids = [], []
        for _id, old in docs:
            if _id not in indexed:
                continue
            rowid, crc = indexed[_id]
            old_texts = indexed_texts(old) if old is not None else None
            if old_texts is None or text_crc(old_texts) != crc:
                self._mark_stale(table, _id)
            else:
                texts.append((rowid, old_texts))
            ids.append(rowid)
        insert_rows(self.conn, f"INSERT INTO {table}_fts ({table}_fts, rowid, text) VALUES",
                    [("delete", rowid, t[0]) for rowid, t in texts])
        insert_rows(self.conn, f"INSERT INTO {table}_fts_title ({table}_fts_title, rowid, title) VALUES",
                    [("delete", rowid, t[1]) for rowid, t in texts])
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            self.conn.execute(f"DELETE FROM {table}_fts_ids WHERE id IN ({','.join('?' * len(chunk))})", chunk)

    def _forget_unknown(self, table: str, _id: str) -> None:
        """An entry of ``_id`` whose text is unknown (cannot be removed from FTS5): dropped from the ids, and
        the index marked for a rebuild."""
        self._mark_stale(table, _id)
        self.conn.execute(f"DELETE FROM {table}_fts_ids WHERE _id=?", (_id,))

    def remove(self, table: str, _id: str, old: Mapping[str, Any] | None) -> None:
        """Forget ``_id`` (whose stored document is ``old``)."""
        self._remove_many(table, [(_id, old)], self._indexed(table, [_id]))

    def add(self, table: str, _id: str, doc: Mapping[str, Any]) -> None:
        """Index ``doc`` (stored under ``_id``), replacing any earlier entry of ``_id``."""
        if self._indexed(table, [_id]):
            self._forget_unknown(table, _id)
        self._add_many(table, [(_id, doc)])

    def sync(self, table: str, writes: Iterable[tuple[str, str, dict]], existing: Mapping[str, dict]) -> None:
        """Apply the store's writes ``(_id, kind, final document)`` of one batch (one write per ``_id``);
        ``existing`` holds the documents as stored before it. A ``touch`` (same content) changes nothing
        searched."""
        changed = [(_id, doc) for _id, kind, doc in writes if kind != "touch"]
        indexed = self._indexed(table, [_id for _id, _ in changed])
        fresh, outdated = [], []
        for _id, doc in changed:
            old = existing.get(_id)
            if _id in indexed:
                if old is None:
                    self._forget_unknown(table, _id)
                elif indexed_texts(old) == indexed_texts(doc):
                    continue  # changed elsewhere (spam verdict, metadata): the searched text is the same
                else:
                    outdated.append((_id, old))
            fresh.append((_id, doc))
        self._remove_many(table, outdated, indexed)
        self._add_many(table, fresh)

    # -- queries --------------------------------------------------------------------------------------

    def _expand(self, fts: str, term: str) -> list[str] | None:
        """The trigrams indexed in the FTS table ``fts`` that start with a one- or two-character ``term``
        (None: too many)."""
        vocab = f"{fts}_vocab"
        if vocab not in self._vocab:
            self.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{vocab} USING fts5vocab(main, {fts}, row)")
            self._vocab.add(vocab)
        rows = self.conn.execute(f"SELECT term FROM temp.{vocab} WHERE term >= ? AND term < ? LIMIT ?",
                                 (term, term + "\U0010ffff", MAX_EXPANSION + 1)).fetchall()
        return None if len(rows) > MAX_EXPANSION else [r[0] for r in rows]

    def match_expression(self, fts: str, terms: list[str], *, phrases: bool) -> str | None:
        """The FTS5 MATCH text for ``terms`` (all must occur) on the FTS table ``fts``: None when nothing can
        match, "" when a term expands too far (the caller scans). Without ``phrases`` (``detail=none``) a term
        of four or more characters becomes the AND of its trigrams: a superset, to be checked."""
        parts = []
        for term in terms:
            if len(term) >= 3:
                grams = [term] if phrases else _trigrams(term)
                parts.append("(" + " AND ".join(_quote(t) for t in grams) + ")")
                continue
            expanded = self._expand(fts, term)
            if expanded is None:
                return ""
            if not expanded:
                return None
            parts.append("(" + " OR ".join(_quote(t) for t in expanded) + ")")
        return " AND ".join(parts)

    def search(self, table: str, terms: list[str], where: list[str], params: list[Any],
               limit: int) -> list[tuple[str, float]]:
        """``(_id, score)`` of the documents holding every term, best first: the documents whose title holds
        every term ranked by ``bm25`` of the title (when there are at most ``rank_max`` of them), then the
        others, most recently indexed first, score 0. ``where``/``params``: extra conditions on the
        collection's columns (alias ``a``)."""
        expression = self.match_expression(f"{table}_fts", terms, phrases=False)
        if expression is None:
            return []
        if expression == "":
            return self._scan(table, terms, where, params, limit)
        join = f" JOIN {table} a ON a._id = i._id"
        filters = "".join(f" AND {w}" for w in where)
        hits: list[tuple[str, float]] = []
        titles = self.match_expression(f"{table}_fts_title", terms, phrases=True)
        if titles and self.conn.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {table}_fts_title WHERE {table}_fts_title MATCH ? LIMIT ?)",
                (titles, self.rank_max + 1)).fetchone()[0] <= self.rank_max:
            hits = [(_id, -rank) for _id, rank in self.conn.execute(
                f"SELECT i._id, t.rank FROM {table}_fts_title t JOIN {table}_fts_ids i ON i.id = t.rowid"
                f"{join if where else ''} WHERE {table}_fts_title MATCH ?{filters} ORDER BY t.rank LIMIT ?",
                [titles, *params, limit])]
        if len(hits) >= limit:
            return hits
        seen = {_id for _id, _ in hits}
        # Terms of four or more characters matched a superset: read each candidate's stored text, lazily, so
        # that `limit` true hits come back however many candidates fail.
        check = [t for t in terms if len(t) >= 4]
        cursor = self.conn.execute(
            f"SELECT i._id, {'a.doc' if check else 'NULL'} FROM {table}_fts f JOIN {table}_fts_ids i ON "
            f"i.id = f.rowid{join if where or check else ''} WHERE {table}_fts MATCH ?{filters} "
            "ORDER BY f.rowid DESC", [expression, *params])
        try:
            for _id, raw in cursor:
                if _id in seen or (check and not self._holds(raw, terms, check)):
                    continue
                hits.append((_id, 0.0))
                if len(hits) >= limit:
                    break
        finally:
            cursor.close()
        return hits

    @staticmethod
    def _holds(raw: str, terms: list[str], check: list[str]) -> bool:
        """Whether the stored document ``raw`` (its JSON) holds every term, the cheap test first."""
        if any(t not in raw for t in check if _literal(t)):
            return False
        return matches(json.loads(raw), terms)

    def _scan(self, table: str, terms: list[str], where: list[str], params: list[Any],
              limit: int) -> list[tuple[str, float]]:
        """A term too common for the index (a single frequent character): a scan of the documents."""
        sql = f"SELECT a._id, a.doc FROM {table} a" + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY a.publish_time DESC"
        out = []
        for _id, text in self.conn.execute(sql, params):
            if matches(json.loads(text), terms):
                out.append((_id, 0.0))
                if len(out) >= limit:
                    break
        return out
