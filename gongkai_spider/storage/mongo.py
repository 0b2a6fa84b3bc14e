"""The MongoDB store (pymongo): collections ``articles`` and ``quarantine`` of database ``MONGO_DATABASE``.

Only the pymongo API that both a real server and mongomock-ng support: ``bulk_write`` of unordered
``UpdateOne(..., upsert=True)`` with ``$set`` / ``$setOnInsert`` / ``$unset``, ``find``, ``aggregate``; no
sessions, no transactions, no ``UpdateOne(sort=...)``. The server is contacted lazily: the first operation
(or ``ensure_ready()``) creates the indexes, so opening the store never fails because the server is away.
Every operation is bounded: ``socketTimeoutMS`` and ``connectTimeoutMS`` (``MONGO_SOCKET_TIMEOUT_MS``,
``MONGO_CONNECT_TIMEOUT_MS``) cap each answer and connection, so a server that accepts and then never answers
raises ``NetworkTimeout`` (an outage: the caller spools) after about twice the socket timeout at most (a read is
retried once); ``timeoutMS`` (``MONGO_TIMEOUT_MS``, off by default) caps each call as a whole. Failed authentication or a bad URI raises ``errors.StoreUnusable`` (not an outage).
Datetimes go in as naive UTC (MongoDB keeps UTC milliseconds) and come back tz-aware Asia/Shanghai.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from gongkai_spider.storage.base import (
    COLLECTIONS,
    DUPLICATE_KEY,
    PENDING,
    StoreUnavailable,
    StoreUnusable,
    as_shanghai,
    from_utc_naive,
    is_outage,
    is_unusable,
    map_datetimes,
    mongo_identity,
    one_line,
    plan_upserts,
    prepare_doc,
    schema_ordered,
    since_datetime,
    to_utc_naive,
    utc_now,
)

logger = logging.getLogger(__name__)

_CHUNK = 1000  # ids per $in query

# (keys, options) of the indexes created on every collection; docs/SCHEMA.md shows the queries they serve.
INDEXES: tuple[tuple[list[tuple[str, int]], dict[str, Any]], ...] = (
    ([("url", 1)], {"unique": True, "name": "url_unique"}),
    ([("site", 1), ("publish_time", 1)], {"name": "site_publish_time"}),
    ([("content_hash", 1)], {"name": "content_hash"}),
    ([("simhash", 1)], {"name": "simhash"}),
    ([("near_duplicate_of", 1)], {"name": "near_duplicate_of"}),
)


def to_mongo(doc: dict) -> dict:
    return map_datetimes(doc, to_utc_naive)


def from_mongo(doc: dict | None) -> dict | None:
    return None if doc is None else schema_ordered(map_datetimes(doc, from_utc_naive))


def _guarded(method):
    """Circuit breaker: once an operation failed because the server is away, the next ones fail at once with
    StoreUnavailable for ``retry_seconds`` instead of each waiting ``server_selection_timeout_ms``; so the
    crawl's other store users (incremental lookups, dedup) do not stall it while MongoDB is down."""

    def check(self) -> None:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(f"MongoDB unreachable ({self._down_reason}); next try in "
                                   f"{self._down_until - time.monotonic():.0f}s")

    def trip(self, exc: BaseException) -> None:
        if self.retry_seconds > 0 and not isinstance(exc, StoreUnavailable) and is_outage(exc):
            self._down_until, self._down_reason = time.monotonic() + self.retry_seconds, type(exc).__name__
        if is_unusable(exc) and not isinstance(exc, StoreUnusable):  # failed authentication: say which store
            raise StoreUnusable(f"cannot use the store {self.description}: {one_line(exc)}") from exc

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            check(self)
            try:
                yield from method(self, *args, **kwargs)
            except Exception as exc:
                trip(self, exc)
                raise
        return generator

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        check(self)
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            trip(self, exc)
            raise
    return wrapper


def redact_uri(uri: str) -> str:
    """The URI without its password, for logs and ``gongkai stats``."""
    scheme, sep, rest = uri.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return uri
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hosts}"


class MongoStore:
    """Store protocol on MongoDB; see ``base.Store``.

    ``client_factory(uri, **options)`` builds the client: ``pymongo.MongoClient`` by default,
    ``mongomock_ng.MongoClient`` in tests. ``retry_seconds``: see ``_guarded`` (0 = no circuit breaker).
    """

    backend = "mongo"

    def __init__(self, uri: str, database: str = "gongkai", *, client_factory: Callable[..., Any] | None = None,
                 server_selection_timeout_ms: int = 5000, timeout_ms: int = 0, socket_timeout_ms: int = 0,
                 connect_timeout_ms: int = 5000, retry_seconds: float = 30.0) -> None:
        """Timeouts in milliseconds; 0 leaves that one unbounded (pymongo's default)."""
        if client_factory is None:
            from pymongo import MongoClient

            client_factory = MongoClient
        self.uri = uri
        self.database_name = database
        self._client = None
        bounds = {"timeoutMS": timeout_ms, "socketTimeoutMS": socket_timeout_ms, "connectTimeoutMS": connect_timeout_ms}
        try:
            # connect=False: no background connection at construction; the first operation connects.
            self._client = client_factory(uri, serverSelectionTimeoutMS=server_selection_timeout_ms,
                                          connect=False, appname="gongkai-spider",
                                          **{k: v for k, v in bounds.items() if v and v > 0})
        except Exception as exc:  # a URI or option pymongo refuses (ConfigurationError; ValueError for a bad port)
            if not (is_unusable(exc) or isinstance(exc, ValueError)):
                raise
            raise StoreUnusable(f"cannot use the store {self.description}: {one_line(exc)}") from exc
        self._db = self._client[database]
        self._ready: set[str] = set()
        self.retry_seconds = retry_seconds
        self._down_until, self._down_reason = 0.0, ""

    @property
    def description(self) -> str:
        return f"mongodb {redact_uri(self.uri)} database {self.database_name}"

    @property
    def identity(self) -> dict[str, str]:
        """What the spool files its batches under (base.mongo_identity: no credentials)."""
        return mongo_identity(self.uri, self.database_name)

    def _col(self, collection: str):
        col = self._db[collection]
        if collection not in self._ready:
            for keys, options in INDEXES:
                col.create_index(keys, **options)
            self._ready.add(collection)
        return col

    @_guarded
    def ensure_ready(self) -> None:
        """Contact the server and create the indexes; raises a pymongo error when it is unreachable."""
        for name in COLLECTIONS:
            self._col(name)

    # -- writes ---------------------------------------------------------------------------------------

    def _fetch(self, col, ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for i in range(0, len(ids), _CHUNK):
            for doc in col.find({"_id": {"$in": ids[i:i + _CHUNK]}}):
                found[doc["_id"]] = from_mongo(doc)
        return found

    @_guarded
    def upsert_many(self, docs: list[dict], collection: str = "articles", *, now: datetime | None = None,
                    outcomes: dict[str, str] | None = None) -> dict[str, int]:
        from pymongo import UpdateOne
        from pymongo.errors import BulkWriteError

        col = self._col(collection)
        prepared = [prepare_doc(d) for d in docs]
        now = as_shanghai(now) if now else utc_now()
        existing = self._fetch(col, list(dict.fromkeys(d["_id"] for d in prepared)))
        plan = plan_upserts(prepared, existing, now)
        ops, op_ids = [], []
        for _id, write in plan.writes.items():
            doc = to_mongo(write.doc)
            if write.kind == "touch":  # no upsert: a document deleted meanwhile must not come back as a stub
                ops.append(UpdateOne({"_id": _id}, {"$set": {"last_seen": doc["last_seen"]}}))
            elif write.kind == "insert":
                stamps = {k: doc.pop(k) for k in ("first_seen", "updated_at", "version")}
                doc.pop("_id")
                ops.append(UpdateOne({"_id": _id}, {"$set": doc, "$setOnInsert": stamps}, upsert=True))
            else:
                doc.pop("_id")
                update: dict[str, Any] = {"$set": doc}
                if write.unset:
                    update["$unset"] = dict.fromkeys(sorted(write.unset), "")
                ops.append(UpdateOne({"_id": _id}, update, upsert=True))
            op_ids.append(_id)
        rejected: set[str] = set()
        if ops:
            try:
                col.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                details = exc.details or {}
                errors = details.get("writeErrors", [])
                if details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise  # an outage (base.is_outage): the caller spools the batch
                for error in errors:  # url already stored under another _id
                    _id = op_ids[error["index"]]
                    logger.warning("store: %s rejected %s: %s", collection, _id, error.get("errmsg"))
                    rejected.add(_id)
        plan.fill(outcomes, rejected)
        return plan.counts(rejected)

    @_guarded
    def delete(self, collection: str, _id: str) -> bool:
        return self._col(collection).delete_one({"_id": _id}).deleted_count > 0

    @_guarded
    def move(self, _id: str, src: str, dst: str) -> bool:
        """Move a document as stored (stamps kept). Without transactions the copy is written before the
        original is deleted, so a failure in between leaves two copies, never none."""
        doc = self._col(src).find_one({"_id": _id})
        if doc is None:
            return False
        self._col(dst).replace_one({"_id": _id}, doc, upsert=True)
        self._col(src).delete_one({"_id": _id})
        return True

    # -- reads ----------------------------------------------------------------------------------------

    @_guarded
    def get(self, collection: str, _id: str) -> dict | None:
        return from_mongo(self._col(collection).find_one({"_id": _id}))

    @_guarded
    def iter_docs(self, collection: str, since: datetime | date | None = None) -> Iterator[dict]:
        """Documents ordered by _id; ``since`` keeps those published at or after it."""
        start = since_datetime(since)
        query = {} if start is None else {"publish_time": {"$gte": to_utc_naive(start)}}
        for doc in self._col(collection).find(query).sort("_id", 1):
            yield from_mongo(doc)

    @_guarded
    def count(self, collection: str) -> int:
        return self._col(collection).count_documents({})

    @_guarded
    def count_by_site(self, collection: str) -> dict[str, int]:
        rows = self._col(collection).aggregate([{"$group": {"_id": "$site", "n": {"$sum": 1}}}])
        return {row["_id"]: row["n"] for row in rows}

    @_guarded
    def site_summary(self, collection: str) -> dict[str, dict]:
        """site -> {count, newest_publish_time, last_seen} (datetimes tz-aware, None when unknown)."""
        rows = self._col(collection).aggregate([
            {"$group": {"_id": "$site", "count": {"$sum": 1}, "newest_publish_time": {"$max": "$publish_time"},
                        "last_seen": {"$max": "$last_seen"}}},
        ])
        out = {}
        for row in rows:
            site = row.pop("_id")
            out[site] = {k: (from_utc_naive(row.get(k)) if isinstance(row.get(k), datetime) else row.get(k))
                         for k in ("count", "newest_publish_time", "last_seen")}
        return dict(sorted(out.items(), key=lambda kv: (kv[0] is None, kv[0] or "")))

    @_guarded
    def existing_ids(self, ids: Iterable[str], collection: str = "articles") -> set[str]:
        col, wanted, found = self._col(collection), list(dict.fromkeys(ids)), set()
        for i in range(0, len(wanted), _CHUNK):
            found.update(d["_id"] for d in col.find({"_id": {"$in": wanted[i:i + _CHUNK]}}, {"_id": 1}))
        return found

    @_guarded
    def iter_fingerprints(self, collection: str = "articles") -> Iterator[tuple[str, int]]:
        for doc in self._col(collection).find({"simhash": {"$ne": None}}, {"simhash": 1}):
            if isinstance(doc.get("simhash"), int):
                yield doc["_id"], doc["simhash"]

    @_guarded
    def iter_simhashes(self, collection: str = "articles") -> Iterator[int]:
        """Every stored simhash (covered by the simhash index)."""
        for doc in self._col(collection).find({"simhash": {"$ne": None}}, {"simhash": 1, "_id": 0}):
            if isinstance(doc.get("simhash"), int):
                yield doc["simhash"]

    @_guarded
    def dedup_texts(self, collection: str = "articles", *, ids: Iterable[str] = (),
                    simhashes: Iterable[int] = (), limit: int = 64) -> list[tuple[str, int, str, str]]:
        """(_id, simhash, title, body) of the documents with these ids or simhashes (at most ``limit``)."""
        ids, simhashes = list(dict.fromkeys(ids)), list(dict.fromkeys(simhashes))
        clauses = ([{"_id": {"$in": ids}}] if ids else []) + ([{"simhash": {"$in": simhashes}}] if simhashes else [])
        if not clauses:
            return []
        found = self._col(collection).find({"$or": clauses}, {"simhash": 1, "title": 1, "body": 1}).limit(limit)
        return [(d["_id"], d.get("simhash"), d.get("title"), d.get("body")) for d in found]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- completeness ledger (collection "pending", extensions/ledger.py) -----------------------------

    @_guarded
    def pending_entries(self, site: str) -> list[dict]:
        return [from_mongo(doc) for doc in self._col(PENDING).find({"site": site}).sort("_id", 1)]

    @_guarded
    def pending_write(self, entries: list[dict]) -> None:
        from pymongo import ReplaceOne

        ops = [ReplaceOne({"_id": e["_id"]}, to_mongo(prepare_doc(e)), upsert=True) for e in entries]
        if ops:
            self._col(PENDING).bulk_write(ops, ordered=False)

    @_guarded
    def pending_clear(self, ids: Iterable[str]) -> int:
        wanted, removed = list(dict.fromkeys(ids)), 0
        for i in range(0, len(wanted), _CHUNK):
            removed += self._col(PENDING).delete_many({"_id": {"$in": wanted[i:i + _CHUNK]}}).deleted_count
        return removed
