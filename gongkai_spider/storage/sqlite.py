"""The embedded store: one SQLite file (stdlib ``sqlite3``), the same documents and semantics as MongoDB.

One table per collection. Indexed columns serve the queries of docs/SCHEMA.md; the document itself is the
``doc`` column, JSON with datetimes as ISO 8601 ``+08:00`` strings. ``datetime_paths`` lists where the
datetimes are, so they come back as tz-aware datetimes (a string that merely looks like a date stays a
string). ``publish_time`` and ``last_seen`` columns hold ISO UTC text, so text order is time order.
WAL journal (readers never block the crawl), one transaction per batch.

Beside the collections: ``article_versions`` (the earlier versions of changed documents, ``gongkai history``)
and the full-text index of each collection (``gongkai_spider/search/sqlite.py``), both written in the
transaction of the batch that causes them.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gongkai_spider.errors import StoreUnusable
from gongkai_spider.search.sqlite import SQLiteSearch, forget_planner_stats
from gongkai_spider.sqlite_rows import insert_rows, select_rows
from gongkai_spider.storage.base import (
    COLLECTIONS,
    PENDING,
    SCALARS,
    as_shanghai,
    fingerprint_index_file,
    is_unusable,
    one_line,
    plan_upserts,
    prepare_doc,
    sqlite_identity,
    utc_now,
)
from gongkai_spider.storage.query import DocFilter, project, version_record
from gongkai_spider.storage.simhash_snapshot import prepare as prepare_snapshot
from gongkai_spider.storage.simhash_snapshot import read_pairs

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 500  # ids per IN (...) query, far below SQLite's variable limit
CACHE_KIB = 65536  # SQLite page cache per connection (see SQLiteStore.__init__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    _id TEXT PRIMARY KEY,
    url TEXT UNIQUE,
    site TEXT,
    publish_time TEXT,          -- ISO 8601 UTC, e.g. 2024-05-24T01:14:00.000+00:00
    content_hash TEXT,
    simhash INTEGER,
    simhash2 INTEGER,           -- second near-duplicate fingerprint; NULL in rows written before it existed
    near_duplicate_of TEXT,
    last_seen TEXT,             -- ISO 8601 UTC
    doc TEXT NOT NULL,          -- the document, JSON
    datetime_paths TEXT         -- JSON list of key paths in doc holding datetimes, or NULL
);
"""
# Indexes, created after _migrate has added the columns a store written by an older release lacks.
_INDEXES = """
CREATE INDEX IF NOT EXISTS {t}_site_publish_time ON {t} (site, publish_time);
CREATE INDEX IF NOT EXISTS {t}_content_hash ON {t} (content_hash);
CREATE INDEX IF NOT EXISTS {t}_simhash_pair ON {t} (simhash, simhash2);
DROP INDEX IF EXISTS {t}_simhash;
CREATE INDEX IF NOT EXISTS {t}_near_duplicate_of ON {t} (near_duplicate_of);
CREATE INDEX IF NOT EXISTS {t}_updated_at ON {t} (json_extract(doc, '$.updated_at'));
"""
# updated_at (incremental pulls) is indexed as it is in the JSON: every stored datetime is ISO 8601 +08:00 with
# milliseconds, so text order is time order; an index on the expression needs no column, and a store written
# before it gets the index when opened, without rewriting its rows.
# (simhash, simhash2): the dedup stage loads both from this index alone; it replaces the index on simhash alone
# (lookups by simhash use its first column), which a store written before simhash2 loses when opened.
_ADDED_COLUMNS = (("simhash2", "INTEGER"),)
UPDATED_AT = "json_extract({a}doc, '$.updated_at')"
_COLUMNS = ("_id, url, site, publish_time, content_hash, simhash, simhash2, near_duplicate_of, last_seen, doc, "
            "datetime_paths")
_MARKS = ",".join("?" * len(_COLUMNS.split(",")))
# A stored _id's row is updated in place (same rowid, as UPDATE does): every column but _id from the new row.
_UPSERT = " ON CONFLICT(_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in (c.strip() for c in _COLUMNS.split(",")) if c != "_id")
_VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS article_versions (
    _id TEXT PRIMARY KEY,       -- <article _id>:<version>
    article_id TEXT NOT NULL,
    url TEXT,
    collection TEXT,
    version INTEGER,
    valid_from TEXT,            -- ISO 8601 UTC: when this content was first stored
    valid_to TEXT,              -- ISO 8601 UTC: when the next version replaced it
    doc TEXT NOT NULL,
    datetime_paths TEXT
);
CREATE INDEX IF NOT EXISTS article_versions_url ON article_versions (url, version);
CREATE INDEX IF NOT EXISTS article_versions_article_id ON article_versions (article_id, version);
"""


def _shanghai_text(value: Any) -> str | None:
    """A datetime as encode_doc writes it into the JSON (ISO 8601 +08:00, milliseconds)."""
    return as_shanghai(value).isoformat(timespec="milliseconds") if isinstance(value, datetime) else None


def _utc_text(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return as_shanghai(value).astimezone(UTC).isoformat(timespec="milliseconds")


def encode_doc(doc: dict) -> tuple[str, str | None]:
    """(JSON text, JSON list of datetime paths or None)."""
    paths: list[list] = []

    def walk(value: Any, path: list) -> Any:
        if isinstance(value, dict):  # scalar leaves are kept without a call (most of a document)
            return {k: v if type(v) in SCALARS else walk(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [v if type(v) in SCALARS else walk(v, [*path, i]) for i, v in enumerate(value)]
        if isinstance(value, datetime):
            paths.append(path)
            return value.isoformat(timespec="milliseconds")
        return value

    text = json.dumps(walk(doc, []), ensure_ascii=False, separators=(",", ":"))
    return text, (json.dumps(paths, ensure_ascii=False) if paths else None)


def decode_doc(text: str, paths_text: str | None) -> dict:
    doc = json.loads(text)
    for path in json.loads(paths_text) if paths_text else ():
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = as_shanghai(datetime.fromisoformat(parent[path[-1]]))
    return doc


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _row(doc: dict) -> tuple:
    text, paths = encode_doc(doc)
    return (doc["_id"], doc.get("url"), doc.get("site"), _utc_text(doc.get("publish_time")),
            doc.get("content_hash"), _int_or_none(doc.get("simhash")), _int_or_none(doc.get("simhash2")),
            doc.get("near_duplicate_of"), _utc_text(doc.get("last_seen")), text, paths)


def _conditions(filters: DocFilter, alias: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (on the indexed columns, table alias ``alias``) and parameters for ``filters``."""
    where: list[str] = []
    params: list[Any] = []
    for condition, value in ((f"{alias}site = ?", filters.site),
                             (f"{alias}publish_time >= ?", _utc_text(filters.start)),
                             (f"{alias}publish_time < ?", _utc_text(filters.end)),
                             (f"{UPDATED_AT.format(a=alias)} >= ?", _shanghai_text(filters.changed_from))):
        if value is not None:
            where.append(condition)
            params.append(value)
    return where, params


class SQLiteStore:
    """Store protocol on a local SQLite file; see ``base.Store``."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._conn = None  # type: ignore[assignment]
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists():
                    with closing(sqlite3.connect(str(path), timeout=timeout, isolation_level=None)) as conn:
                        forget_planner_stats(conn)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
            self._conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")  # the first read of the file: "not a database" here
            self._conn.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process in WAL mode
            # Page cache of 64 MiB instead of 2 MiB: a new document lands at a random place in four indexes
            # (_id, url, content_hash, simhash are hashes or random-looking); with the default cache a large
            # store reads most of those index pages back from the file for every batch. Memory, on demand.
            self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._tables: set[str] = set()
            self._search = SQLiteSearch(self._conn)
            self._conn.executescript(_VERSIONS_SCHEMA)
            for name in COLLECTIONS:
                self._table(name)
        except (OSError, sqlite3.DatabaseError) as exc:
            if self._conn is not None:
                self._conn.close()
            if isinstance(exc, sqlite3.DatabaseError) and not is_unusable(exc):
                raise  # locked, disk full: an outage, the caller spools
            code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
            raise StoreUnusable(f"cannot use the SQLite store {self.path}: {one_line(exc)} ({code})") from exc

    @property
    def identity(self) -> dict[str, str]:
        """What the spool files its batches under (base.sqlite_identity)."""
        return sqlite_identity(self.path)

    def _rollback(self) -> None:
        """ROLLBACK if a transaction is still open: SQLite ends it by itself on some errors (disk full, I/O),
        and a failing ROLLBACK must not replace the error that caused it."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                logger.warning("store: rollback after an error failed too: %s", exc)

    @property
    def description(self) -> str:
        return f"sqlite {self.path}"

    def fingerprint_index_path(self) -> Path | None:
        """``base.fingerprint_index_file`` of this store; None in memory."""
        return None if str(self.path) == ":memory:" else fingerprint_index_file(self.path)

    def reopener(self) -> Callable[[], SQLiteStore] | None:
        """A function opening another connection to this file (for a thread of its own: a connection belongs to
        the thread that opened it); None for an in-memory store, which a second connection would not see."""
        if str(self.path) == ":memory:":
            return None
        timeout = self._timeout
        return lambda: SQLiteStore(self.path, timeout=timeout)

    def _table(self, collection: str) -> str:
        if collection not in self._tables:
            if not _NAME_RE.match(collection):
                raise ValueError(f"bad collection name: {collection!r}")
            self._conn.executescript(_SCHEMA.format(t=collection))
            self._migrate(collection)
            self._conn.executescript(_INDEXES.format(t=collection))
            if collection in COLLECTIONS:  # articles and quarantine are searched and deduplicated; the ledger is not
                prepare_snapshot(self._conn, collection)
                self._search.prepare(collection)
            self._tables.add(collection)
        return collection

    def _migrate(self, table: str) -> None:
        """Add the columns a store written by an older release lacks (NULL in its rows: nothing rewritten)."""
        have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                logger.info("store: adding column %s to %s (and its index: a one-time pass over the table)",
                            name, table)
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def ensure_ready(self) -> None:
        self._conn.execute("SELECT 1")

    # -- writes ---------------------------------------------------------------------------------------

    def _fetch(self, table: str, ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for _id, text, paths in select_rows(self._conn, "_id, doc, datetime_paths",
                                                f"FROM {table} WHERE _id IN ({marks})", chunk):
                found[_id] = decode_doc(text, paths)
        return found

    def upsert_many(self, docs: list[dict], collection: str = "articles", *, now: datetime | None = None,
                    outcomes: dict[str, str] | None = None) -> dict[str, int]:
        table = self._table(collection)
        prepared = [prepare_doc(d) for d in docs]
        now = as_shanghai(now) if now else utc_now()
        rejected: set[str] = set()
        self._conn.execute("BEGIN IMMEDIATE")  # reads and writes of the batch see one state
        try:
            existing = self._fetch(table, list(dict.fromkeys(d["_id"] for d in prepared)))
            plan = plan_upserts(prepared, existing, now)
            rows = {_id: _row(write.doc) for _id, write in plan.writes.items()}
            if not self._write_all(table, list(rows.values())):
                # a url already stored under another _id: each row alone, the same upsert, to know which
                upsert = f"INSERT INTO {table} ({_COLUMNS}) VALUES ({_MARKS}){_UPSERT}"
                for _id, write in plan.writes.items():
                    try:
                        self._conn.execute(upsert, rows[_id])
                    except sqlite3.IntegrityError as exc:
                        logger.warning("store: %s rejected %s (%s): %s", collection, _id, write.doc.get("url"), exc)
                        rejected.add(_id)
            done = [(_id, w.kind, w.doc) for _id, w in plan.writes.items() if _id not in rejected]
            self._save_versions(collection, done, existing, now)
            if table in COLLECTIONS:
                self._search.sync(table, done, existing)
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        plan.fill(outcomes, rejected)
        return plan.counts(rejected)

    def _write_all(self, table: str, rows: list[tuple]) -> bool:
        """Write the batch's rows, new and stored alike, in a few statements (gongkai_spider/sqlite_rows.py: the
        writer thread then waits for the GIL a few times per batch, not once per row); False, with none
        written, when one of them breaks a constraint."""
        if not rows:
            return True
        self._conn.execute("SAVEPOINT batch_rows")
        try:
            insert_rows(self._conn, f"INSERT INTO {table} ({_COLUMNS}) VALUES", rows, _UPSERT)
        except sqlite3.IntegrityError:
            self._conn.execute("ROLLBACK TO batch_rows")
            return False
        finally:
            self._conn.execute("RELEASE batch_rows")
        return True

    def _save_versions(self, collection: str, writes: list[tuple[str, str, dict]], existing: dict[str, dict],
                       now: datetime) -> None:
        rows = []
        for _id, kind, _doc in writes:
            if kind == "update" and _id in existing:
                record = version_record(existing[_id], collection, now)
                text, paths = encode_doc(record)
                rows.append((record["_id"], _id, record.get("url"), collection, record.get("version"),
                             _utc_text(record.get("valid_from")), _utc_text(record.get("valid_to")), text, paths))
        if rows:  # INSERT OR REPLACE: a replayed batch writes the same record again
            insert_rows(self._conn, "INSERT OR REPLACE INTO article_versions (_id, article_id, url, collection, "
                        "version, valid_from, valid_to, doc, datetime_paths) VALUES", rows)

    def delete(self, collection: str, _id: str) -> bool:
        table = self._table(collection)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            old = self._fetch(table, [_id]).get(_id)
            self._search.remove(table, _id, old)
            cursor = self._conn.execute(f"DELETE FROM {table} WHERE _id=?", (_id,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return cursor.rowcount > 0

    def move(self, _id: str, src: str, dst: str) -> bool:
        """Move a document as stored (stamps kept) from ``src`` to ``dst``, replacing any copy in ``dst``."""
        src_t, dst_t = self._table(src), self._table(dst)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM {src_t} WHERE _id=?", (_id,)).fetchone()
            if row is not None:
                moved = json.loads(row[-2])
                self._search.remove(dst_t, _id, self._fetch(dst_t, [_id]).get(_id))
                self._conn.execute(f"INSERT OR REPLACE INTO {dst_t} ({_COLUMNS}) VALUES ({_MARKS})", row)
                self._search.add(dst_t, _id, moved)
                self._search.remove(src_t, _id, moved)
                self._conn.execute(f"DELETE FROM {src_t} WHERE _id=?", (_id,))
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return row is not None

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, collection: str, _id: str) -> dict | None:
        row = self._conn.execute(f"SELECT doc, datetime_paths FROM {self._table(collection)} WHERE _id=?",
                                 (_id,)).fetchone()
        return decode_doc(*row) if row else None

    def _stored_rows(self, collection: str, filters: DocFilter, doc_sql: str = "doc") -> sqlite3.Cursor:
        """(doc JSON as ``doc_sql`` selects it, datetime paths JSON) of the documents ``filters`` selects, in
        ``iter_docs`` order."""
        table = self._table(collection)
        where, params = _conditions(filters, "")
        # an incremental pull reads the updated_at index in its order (a sort by _id would scan the table)
        order = f"{UPDATED_AT.format(a='')}, _id" if filters.updated_since is not None else "_id"
        cursor = self._conn.execute(f"SELECT {doc_sql}, datetime_paths FROM {table}"
                                    + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order}",
                                    params)
        cursor.arraysize = 1000  # for fetchmany: exporters write a thousand documents at a time
        return cursor

    def iter_docs(self, collection: str, since: datetime | date | None = None, *, until: datetime | date | None = None,
                  site: str | None = None, updated_since: datetime | date | None = None,
                  fields: tuple[str, ...] | None = None) -> Iterator[dict]:
        """Documents ordered by _id (with ``updated_since``: by updated_at, then _id): ``site``'s, published in
        [``since``, ``until``] (a date ``until`` is its whole day), with content new or changed at or after
        ``updated_since``; reduced to ``fields``."""
        for text, paths in self._stored_rows(collection, DocFilter(site, since, until, updated_since)):
            yield project(decode_doc(text, paths), fields)

    # -- search and versions (gongkai_spider/search/, docs/SCHEMA.md) -----------------------------------

    def ensure_search_index(self, collection: str = "articles") -> int:
        """Index the documents stored before the index existed (or after it went stale); how many."""
        return self._search.ensure_built(self._table(collection))

    def search_ids(self, terms: list[str], collection: str = "articles", filters: DocFilter | None = None,
                   limit: int = 20) -> list[tuple[str, float]]:
        """``(_id, score)`` of the documents holding every term (``search.parse_query``), best first."""
        table = self._table(collection)
        self._search.ensure_built(table)
        where, params = _conditions(filters or DocFilter(), "a.")
        return self._search.search(table, terms, where, params, limit)

    def get_many(self, collection: str, ids: list[str]) -> dict[str, dict]:
        return self._fetch(self._table(collection), ids)

    def versions(self, url: str) -> list[dict]:
        """The earlier versions of the document at ``url`` (``article_versions``), oldest first."""
        rows = self._conn.execute("SELECT doc, datetime_paths FROM article_versions WHERE url=? ORDER BY version",
                                  (url,))
        return [decode_doc(text, paths) for text, paths in rows]

    def find_url(self, url: str) -> tuple[str, dict] | None:
        """(collection, document) stored at ``url``, else None."""
        for name in COLLECTIONS:
            row = self._conn.execute(f"SELECT doc, datetime_paths FROM {self._table(name)} WHERE url=?",
                                     (url,)).fetchone()
            if row:
                return name, decode_doc(*row)
        return None

    def iter_json(self, collection: str, since: datetime | date | None = None, *, until: datetime | date | None = None,
                  site: str | None = None, updated_since: datetime | date | None = None) -> sqlite3.Cursor:
        """(doc JSON as UTF-8 bytes, datetime paths JSON or None) as stored, the documents and order of
        ``iter_docs`` (filters as there): for exporters that write the stored JSON without building Python
        datetimes (bytes: no text object is made of it). A cursor: ``fetchmany()`` hands out ``arraysize`` rows
        at a time."""
        return self._stored_rows(collection, DocFilter(site, since, until, updated_since), "CAST(doc AS BLOB)")

    def iter_url_prefix(self, collection: str, prefix: str) -> Iterator[str]:
        """The urls starting with ``prefix``: a range on the url index, no document read."""
        for (url,) in self._conn.execute(f"SELECT url FROM {self._table(collection)} WHERE url >= ? AND url < ?",
                                         (prefix, prefix + "\U0010ffff")):
            yield url

    def count(self, collection: str) -> int:
        return self._conn.execute(f"SELECT COUNT(*) FROM {self._table(collection)}").fetchone()[0]

    def count_by_site(self, collection: str) -> dict[str, int]:
        rows = self._conn.execute(f"SELECT site, COUNT(*) FROM {self._table(collection)} GROUP BY site")
        return {site: n for site, n in rows}

    def site_summary(self, collection: str) -> dict[str, dict]:
        """site -> {count, newest_publish_time, last_seen} (datetimes tz-aware, None when unknown)."""
        rows = self._conn.execute(f"SELECT site, COUNT(*), MAX(publish_time), MAX(last_seen) "
                                  f"FROM {self._table(collection)} GROUP BY site ORDER BY site")
        return {site: {"count": n,
                       "newest_publish_time": as_shanghai(datetime.fromisoformat(p)) if p else None,
                       "last_seen": as_shanghai(datetime.fromisoformat(s)) if s else None}
                for site, n, p, s in rows}

    def existing_ids(self, ids: Iterable[str], collection: str = "articles") -> set[str]:
        table, wanted, found = self._table(collection), list(dict.fromkeys(ids)), set()
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in select_rows(self._conn, "_id", f"FROM {table} WHERE _id IN ({marks})", chunk))
        return found

    def iter_fingerprints(self, collection: str = "articles") -> Iterator[tuple[str, int]]:
        yield from self._conn.execute(
            f"SELECT _id, simhash FROM {self._table(collection)} WHERE simhash IS NOT NULL")

    def iter_simhash_pairs(self, collection: str = "articles") -> Iterator[tuple[int, int]]:
        """(simhash, simhash2) of every stored document with a simhash, simhash2 0 where it has none; read from
        the (simhash, simhash2) index alone (no document is touched)."""
        return self._conn.execute(
            f"SELECT simhash, coalesce(simhash2, 0) FROM {self._table(collection)} WHERE simhash IS NOT NULL")

    def scan_simhash_blocks(self, collection: str = "articles") -> Iterator[Any]:
        """``iter_simhash_pairs`` in blocks: flat int64 numpy arrays ``simhash, simhash2, simhash, ...``, on a
        connection opened for this scan alone (``reopener``), its page cache first cut to SQLite's default 2 MB
        (a scan reads each page once; with the store's 64 MiB the index would stay in memory, 26 MB at 1M).

        Read from the binary snapshot of the pairs when it still holds, plus the rows written after it; else
        from the whole (simhash, simhash2) index, after which the snapshot is written for the next run
        (gongkai_spider/storage/simhash_snapshot.py). 1M pairs: about 0.05 s from the snapshot, 0.25-0.35 s
        from the index alone and more beside a busy crawl thread (docs/PERFORMANCE.md)."""
        self._conn.execute("PRAGMA cache_size=-2000")
        return read_pairs(self._conn, self._table(collection))

    def dedup_texts(self, collection: str = "articles", *, ids: Iterable[str] = (), simhashes: Iterable[int] = (),
                    limit: int = 64) -> list[tuple[str, int, str, str, list | None]]:
        """(_id, simhash, title, body, attachments or None) of the documents with these ids or simhashes (at
        most ``limit``); the attachments only when the document has some."""
        table, out = self._table(collection), []
        for column, values in (("_id", list(dict.fromkeys(ids))), ("simhash", list(dict.fromkeys(simhashes)))):
            for i in range(0, len(values), _CHUNK):
                chunk = values[i:i + _CHUNK]
                out += self._conn.execute(
                    f"SELECT _id, simhash, json_extract(doc, '$.title'), json_extract(doc, '$.body'),"
                    f" CASE WHEN json_array_length(doc, '$.attachments') > 0 THEN json_extract(doc, '$.attachments')"
                    f" END FROM {table} WHERE {column} IN ({','.join('?' * len(chunk))}) LIMIT ?",
                    [*chunk, limit]).fetchall()
        return [(*row[:4], json.loads(row[4]) if row[4] else None) for row in out[:limit]]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    # -- completeness ledger (table "pending", extensions/ledger.py) ----------------------------------
    # Same table layout as the articles (site and last_seen columns, the entry as JSON in doc), so export and
    # iter_docs read it like any collection; entries are replaced whole, no change detection.

    def pending_entries(self, site: str) -> list[dict]:
        table = self._table(PENDING)
        cursor = self._conn.execute(f"SELECT doc, datetime_paths FROM {table} WHERE site=? ORDER BY _id", (site,))
        return [decode_doc(text, paths) for text, paths in cursor]

    def pending_write(self, entries: list[dict]) -> None:
        table = self._table(PENDING)
        rows = [_row(prepare_doc(e)) for e in entries]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(f"INSERT OR REPLACE INTO {table} ({_COLUMNS}) VALUES ({_MARKS})", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def pending_clear(self, ids: Iterable[str]) -> int:
        table, wanted, removed = self._table(PENDING), list(dict.fromkeys(ids)), 0
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            cursor = self._conn.execute(f"DELETE FROM {table} WHERE _id IN ({','.join('?' * len(chunk))})", chunk)
            removed += cursor.rowcount
        return removed
