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

Beside the collections: ``article_versions`` (earlier versions of changed documents, written before the
change itself so a failure in between loses nothing) and, in every document, the ``_search`` bigrams of the
text index (``gongkai_spider/search/mongo.py``), never returned to callers.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from gongkai_spider.search.mongo import SEARCH_VERSION, TEXT_INDEX, build_query, search_field
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
    to_utc_naive,
    utc_now,
)
from gongkai_spider.storage.query import DocFilter, version_record

logger = logging.getLogger(__name__)

_CHUNK = 1000  # ids per $in query

# (keys, options) of the indexes created on every collection; docs/SCHEMA.md shows the queries they serve.
INDEXES: tuple[tuple[list[tuple[str, int]], dict[str, Any]], ...] = (
    ([("url", 1)], {"unique": True, "name": "url_unique"}),
    ([("site", 1), ("publish_time", 1)], {"name": "site_publish_time"}),
    ([("content_hash", 1)], {"name": "content_hash"}),
    # the dedup stage's load, covered; also serves lookups by simhash (a deployment created before simhash2
    # keeps its index on simhash alone beside it, unused)
    ([("simhash", 1), ("simhash2", 1)], {"name": "simhash_simhash2"}),
    ([("near_duplicate_of", 1)], {"name": "near_duplicate_of"}),
    ([("updated_at", 1)], {"name": "updated_at"}),
)
VERSIONS = "article_versions"
VERSION_INDEXES: tuple[tuple[list[tuple[str, int]], dict[str, Any]], ...] = (
    ([("url", 1), ("version", 1)], {"name": "url_version"}),
    ([("article_id", 1), ("version", 1)], {"name": "article_id_version"}),
)


def to_mongo(doc: dict) -> dict:
    return map_datetimes(doc, to_utc_naive)


def from_mongo(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc.pop("_search", None)
    return schema_ordered(map_datetimes(doc, from_utc_naive))


def filter_query(filters: DocFilter) -> dict[str, Any]:
    """The ``find`` conditions of ``filters`` (served by the site_publish_time and updated_at indexes)."""
    query: dict[str, Any] = {}
    if filters.site is not None:
        query["site"] = filters.site
    published = {op: to_utc_naive(v) for op, v in (("$gte", filters.start), ("$lt", filters.end)) if v}
    if published:
        query["publish_time"] = published
    if filters.changed_from:
        query["updated_at"] = {"$gte": to_utc_naive(filters.changed_from)}
    return query


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
        self._text_index: dict[str, bool] = {}  # collection -> its search text index exists
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
            for keys, options in VERSION_INDEXES if collection == VERSIONS else INDEXES:
                col.create_index(keys, **options)
            if collection in COLLECTIONS:  # articles and quarantine are searched
                self._create_text_index(collection, col)
            self._ready.add(collection)
        return col

    def _create_text_index(self, collection: str, col) -> None:
        """The search index; a collection holds one text index only, so one made by hand (another name or
        fields) is left alone and searches fall back to ``$regex`` scans, with a warning."""
        from pymongo.errors import OperationFailure

        keys, options = TEXT_INDEX
        try:
            col.create_index(keys, **options)
            col.find_one({"$text": {"$search": "x"}}, {"_id": 1})  # mongomock-ng creates the index, has no $text
            self._text_index[collection] = True
        except (OperationFailure, NotImplementedError) as exc:
            if isinstance(exc, OperationFailure) and is_outage(exc):
                raise
            logger.warning("search: no text index on %s (%s); searches scan with $regex", collection, exc)
            self._text_index[collection] = False

    @_guarded
    def ensure_ready(self) -> None:
        """Contact the server and create the indexes; raises a pymongo error when it is unreachable."""
        for name in (*COLLECTIONS, VERSIONS):
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
        from pymongo import ReplaceOne, UpdateOne
        from pymongo.errors import BulkWriteError

        col = self._col(collection)
        prepared = [prepare_doc(d) for d in docs]
        now = as_shanghai(now) if now else utc_now()
        existing = self._fetch(col, list(dict.fromkeys(d["_id"] for d in prepared)))
        plan = plan_upserts(prepared, existing, now)
        ops, op_ids = [], []
        versions = [to_mongo(version_record(existing[_id], collection, now)) for _id, write in plan.writes.items()
                    if write.kind == "update" and _id in existing]
        if versions:  # first, so a failure before the update below loses no version; replays rewrite the same
            self._col(VERSIONS).bulk_write([ReplaceOne({"_id": v["_id"]}, v, upsert=True) for v in versions],
                                           ordered=False)
        for _id, write in plan.writes.items():
            doc = to_mongo(write.doc)
            if write.kind != "touch":
                doc["_search"] = search_field(write.doc)
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
    def iter_docs(self, collection: str, since: datetime | date | None = None, *, until: datetime | date | None = None,
                  site: str | None = None, updated_since: datetime | date | None = None,
                  fields: tuple[str, ...] | None = None) -> Iterator[dict]:
        """Documents ordered by _id (with ``updated_since``: by updated_at, then _id): ``site``'s, published in
        [``since``, ``until``] (a date ``until`` is its whole day), with content new or changed at or after
        ``updated_since``; reduced to ``fields``."""
        query = filter_query(DocFilter(site, since, until, updated_since))
        projection: Any = {"_search": 0} if fields is None else {**dict.fromkeys(fields, 1), "_id": int("_id" in fields)}
        order = [("updated_at", 1), ("_id", 1)] if updated_since is not None else [("_id", 1)]
        for doc in self._col(collection).find(query, projection).sort(order):
            out = from_mongo(doc)
            yield out if fields is None else {k: out[k] for k in fields if k in out}

    # -- search and versions (gongkai_spider/search/, docs/SCHEMA.md) -----------------------------------

    @_guarded
    def ensure_search_index(self, collection: str = "articles") -> int:
        """Write ``_search`` into the documents stored without it (or with an older format); how many."""
        from pymongo import UpdateOne

        col, done = self._col(collection), 0
        meta = self._db["search_meta"]  # {_id: collection, version}: every document has _search of that version
        if (meta.find_one({"_id": collection}) or {}).get("version") == SEARCH_VERSION:
            return 0  # the store writes _search with every document: once complete, it stays so
        stale = {"_search.v": {"$ne": SEARCH_VERSION}}
        while True:
            batch = list(col.find(stale, {"title": 1, "body": 1, "attachments": 1}).limit(1000))
            if not batch:
                break
            # the condition again: a crawl that rewrote the document meanwhile wrote its current _search
            col.bulk_write([UpdateOne({"_id": d["_id"], **stale}, {"$set": {"_search": search_field(d)}})
                            for d in batch], ordered=False)
            done += len(batch)
        meta.replace_one({"_id": collection}, {"_id": collection, "version": SEARCH_VERSION}, upsert=True)
        if done:
            logger.info("search index of %s: %d documents indexed", collection, done)
        return done

    @_guarded
    def search_ids(self, terms: list[str], collection: str = "articles", filters: DocFilter | None = None,
                   limit: int = 20) -> list[tuple[str, float]]:
        """``(_id, score)`` of the documents holding every term (``search.parse_query``), best first."""
        col = self._col(collection)
        base = filter_query(filters or DocFilter())
        query = build_query(terms, base, use_text=self._text_index.get(collection, False))
        if "$text" in query:
            cursor = col.find(query, {"_id": 1, "score": {"$meta": "textScore"}})
            return [(d["_id"], float(d.get("score") or 0.0))
                    for d in cursor.sort([("score", {"$meta": "textScore"})]).limit(limit)]
        cursor = col.find(query, {"_id": 1}).sort([("publish_time", -1), ("_id", 1)]).limit(limit)
        return [(d["_id"], 0.0) for d in cursor]

    @_guarded
    def get_many(self, collection: str, ids: list[str]) -> dict[str, dict]:
        return self._fetch(self._col(collection), ids)

    @_guarded
    def versions(self, url: str) -> list[dict]:
        """The earlier versions of the document at ``url`` (``article_versions``), oldest first."""
        return [from_mongo(d) for d in self._col(VERSIONS).find({"url": url}).sort("version", 1)]

    @_guarded
    def find_url(self, url: str) -> tuple[str, dict] | None:
        """(collection, document) stored at ``url``, else None."""
        for name in COLLECTIONS:
            doc = self._col(name).find_one({"url": url})
            if doc is not None:
                return name, from_mongo(doc)
        return None

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
    def iter_url_prefix(self, collection: str, prefix: str) -> Iterator[str]:
        """The urls starting with ``prefix``: a range on the url index, only the url field read."""
        for doc in self._col(collection).find({"url": {"$gte": prefix, "$lt": prefix + "\U0010ffff"}},
                                              {"url": 1, "_id": 0}):
            yield doc["url"]

    @_guarded
    def iter_simhash_pairs(self, collection: str = "articles") -> Iterator[tuple[int, int]]:
        """(simhash, simhash2) of every stored document with a simhash, simhash2 0 where it has none (covered
        by the (simhash, simhash2) index)."""
        for doc in self._col(collection).find({"simhash": {"$ne": None}}, {"simhash": 1, "simhash2": 1, "_id": 0}):
            if isinstance(doc.get("simhash"), int):
                second = doc.get("simhash2")
                yield doc["simhash"], second if isinstance(second, int) else 0

    @_guarded
    def dedup_texts(self, collection: str = "articles", *, ids: Iterable[str] = (),
                    simhashes: Iterable[int] = (), limit: int = 64) -> list[tuple[str, int, str, str, list | None]]:
        """(_id, simhash, title, body, attachments or None) of the documents with these ids or simhashes (at
        most ``limit``); of the attachments only their text is read."""
        ids, simhashes = list(dict.fromkeys(ids)), list(dict.fromkeys(simhashes))
        clauses = ([{"_id": {"$in": ids}}] if ids else []) + ([{"simhash": {"$in": simhashes}}] if simhashes else [])
        if not clauses:
            return []
        found = self._col(collection).find({"$or": clauses},
                                           {"simhash": 1, "title": 1, "body": 1, "attachments.text": 1}).limit(limit)
        return [(d["_id"], d.get("simhash"), d.get("title"), d.get("body"), d.get("attachments") or None)
                for d in found]

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
