"""The Store protocol and the logic both backends share (documented in docs/SCHEMA.md).

Both backends (``sqlite.py``, ``mongo.py``) call the same pure functions here, so they cannot drift apart:

- ``prepare_doc``: MongoDB-safe keys (``$`` and ``.`` replaced by full-width ``＄`` and ``．`` at every depth),
  datetimes made tz-aware Asia/Shanghai and cut to milliseconds (MongoDB's precision), tuples made lists.
- ``plan_upserts``: the change detection. For each incoming document, given what is stored, decide
  new / updated / unchanged and compute the final stored document with its store stamps
  (``first_seen``, ``last_seen``, ``updated_at``, ``version``).
- ``is_outage``: whether an exception means "the server is away, spool and retry" rather than "bad data";
  ``is_unusable``: whether it means "this is not a store we can use" (corrupt or unreadable SQLite file, failed
  MongoDB authentication), which is never an outage: the crawl stops and commands exit 2 (``errors.StoreUnusable``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from gongkai_spider.errors import StoreUnusable
from gongkai_spider.items import DOCUMENT_FIELDS, STORE_FIELDS
from gongkai_spider.normalize import SHANGHAI

COLLECTIONS: tuple[str, ...] = ("articles", "quarantine")
# The completeness ledger (extensions/ledger.py): article URLs seen in a listing and not stored yet.
PENDING = "pending"
OUTCOMES: tuple[str, ...] = ("new", "updated", "unchanged")

# Key characters MongoDB refuses or misreads (operators, dotted paths) and their stand-ins. Applied one-way,
# identically in both backends: what you read back is what MongoDB would hold.
_KEY_ESCAPES = str.maketrans({"$": "＄", ".": "．", "\x00": ""})


@runtime_checkable
class Store(Protocol):
    """What the pipelines and commands use; MongoStore and SQLiteStore implement it identically."""

    def upsert_many(self, docs: list[dict], collection: str = "articles", *, now: datetime | None = None,
                    outcomes: dict[str, str] | None = None) -> dict[str, int]: ...
    def get(self, collection: str, _id: str) -> dict | None: ...
    def delete(self, collection: str, _id: str) -> bool: ...
    def move(self, _id: str, src: str, dst: str) -> bool: ...
    def iter_docs(self, collection: str, since: datetime | date | None = None) -> Iterator[dict]: ...
    def count(self, collection: str) -> int: ...
    def count_by_site(self, collection: str) -> dict[str, int]: ...
    def site_summary(self, collection: str) -> dict[str, dict]: ...
    def existing_ids(self, ids: Iterable[str], collection: str = "articles") -> set[str]: ...
    def iter_fingerprints(self, collection: str = "articles") -> Iterator[tuple[str, int]]: ...
    def iter_simhash_pairs(self, collection: str = "articles") -> Iterator[tuple[int, int]]: ...
    def iter_url_prefix(self, collection: str, prefix: str) -> Iterator[str]: ...
    def dedup_texts(self, collection: str = "articles", *, ids: Iterable[str] = (),
                    simhashes: Iterable[int] = (), limit: int = 64) -> list[tuple[str, int, str, str, list | None]]: ...
    def ensure_ready(self) -> None: ...
    def close(self) -> None: ...
    # the completeness ledger (collection PENDING): whole entries written and read per site
    def pending_entries(self, site: str) -> list[dict]: ...
    def pending_write(self, entries: list[dict]) -> None: ...
    def pending_clear(self, ids: Iterable[str]) -> int: ...


class StoreUnavailable(RuntimeError):
    """The store cannot be reached now; the batch belongs in the spool."""


# ---------------------------------------------------------------------------------------------------------
# Values: keys, datetimes
# ---------------------------------------------------------------------------------------------------------


def escape_key(key: Any) -> str:
    return str(key).translate(_KEY_ESCAPES)


def as_shanghai(value: datetime) -> datetime:
    """Tz-aware Asia/Shanghai, cut to milliseconds. Naive input is taken as Shanghai time (like normalize)."""
    value = value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def from_utc_naive(value: datetime) -> datetime:
    """A naive UTC datetime (how MongoDB hands dates back) as tz-aware Shanghai time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def to_utc_naive(value: datetime) -> datetime:
    return as_shanghai(value).astimezone(UTC).replace(tzinfo=None)


def since_datetime(since: datetime | date | None) -> datetime | None:
    """``since`` as an aware datetime; a date means its midnight in Shanghai."""
    if since is None:
        return None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    return as_shanghai(since)


def utc_now() -> datetime:
    """The store clock: now, in Shanghai time, at MongoDB's millisecond precision."""
    return as_shanghai(datetime.now(UTC))


# Leaf types that _clean_value returns as they are. Checked by exact type before any call: a document is mostly
# such leaves (about 30 per article), and a call per leaf was most of prepare_doc's cost.
SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _clean_value(value: Any) -> Any:
    if type(value) in SCALARS:
        return value
    if isinstance(value, Mapping):
        # An identifier has no `$`, `.` or NUL: nothing to escape (every schema and doc_meta key).
        return {k if type(k) is str and k.isidentifier() else escape_key(k): v if type(v) in SCALARS
                else _clean_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in SCALARS else _clean_value(v) for v in value]
    if isinstance(value, datetime):
        return as_shanghai(value)
    return value


def prepare_doc(doc: Mapping[str, Any]) -> dict:
    """A document ready for either backend: schema order, safe keys, Shanghai datetimes. Idempotent."""
    if not doc.get("_id"):
        raise ValueError(f"document without _id: url={doc.get('url')!r}")
    ordered = {k: doc[k] for k in DOCUMENT_FIELDS if k in doc}
    ordered.update((k, v) for k, v in doc.items() if k not in ordered and not str(k).startswith("_page"))
    return _clean_value(ordered)


def map_datetimes(value: Any, fn) -> Any:
    """``value`` with ``fn`` applied to every datetime at any depth (a new structure; input untouched)."""
    if isinstance(value, dict):
        return {k: map_datetimes(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_datetimes(v, fn) for v in value]
    if isinstance(value, datetime):
        return fn(value)
    return value


# ---------------------------------------------------------------------------------------------------------
# Change detection: the upsert plan
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Write:
    """What to do to one stored document. ``doc`` is the complete final document."""

    kind: Literal["insert", "update", "touch"]
    doc: dict
    unset: set[str] = field(default_factory=set)  # keys the stored document has and the new one lacks


@dataclass
class UpsertPlan:
    writes: dict[str, Write]  # _id -> write, at most one per _id
    outcomes: list[tuple[str, str]]  # (_id, new|updated|unchanged) per input document, in input order

    def counts(self, rejected: set[str] = frozenset()) -> dict[str, int]:
        """new/updated/unchanged per input document; ``rejected`` only when some were (url clashes)."""
        tally = Counter(o if i not in rejected else "rejected" for i, o in self.outcomes)
        counts = {o: tally.get(o, 0) for o in OUTCOMES}
        if tally.get("rejected"):
            counts["rejected"] = tally["rejected"]
        return counts

    def fill(self, outcomes: dict[str, str] | None, rejected: set[str] = frozenset()) -> None:
        if outcomes is not None:
            for _id, outcome in self.outcomes:
                outcomes[_id] = "rejected" if _id in rejected else outcome


def _content(doc: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in doc.items() if k not in STORE_FIELDS},
                      sort_keys=True, ensure_ascii=False, default=str)


def _is_spam(doc: Mapping[str, Any]) -> bool:
    spam = doc.get("spam")
    return bool(spam.get("is_spam")) if isinstance(spam, Mapping) else False


def same_content(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Content is compared by ``content_hash`` (set by the dedup pipeline); without one, field by field.

    A flipped spam verdict counts as a change: a page that moves between ``articles`` and ``quarantine``
    (pipelines/store.py) must get its new verdict stored, not keep the old one as "unchanged".
    """
    if _is_spam(new) != _is_spam(old):
        return False
    if new.get("content_hash") is not None or old.get("content_hash") is not None:
        return new.get("content_hash") == old.get("content_hash")
    return _content(new) == _content(old)


def schema_ordered(doc: Mapping[str, Any]) -> dict:
    """``doc`` with its keys in schema order (extra keys after, in their order)."""
    out = {k: doc[k] for k in DOCUMENT_FIELDS if k in doc}
    out.update((k, v) for k, v in doc.items() if k not in out)
    return out


def plan_upserts(docs: list[dict], existing: Mapping[str, dict], now: datetime) -> UpsertPlan:
    """Decide each document's outcome against the stored ones (``existing``: _id -> stored document).

    - new: first_seen = last_seen = updated_at = now, version 1;
    - same content: only last_seen moves (the stored fields are kept as they are);
    - changed content: the fields are replaced (keys the new document lacks are removed), updated_at = now,
      version + 1, first_seen kept.
    A document seen twice in one batch is planned against its own first occurrence. A document stored with
    a later ``last_seen`` than ``now`` (a spool replayed after newer data arrived) is left alone.
    """
    state: dict[str, dict] = dict(existing)
    writes: dict[str, Write] = {}
    outcomes: list[tuple[str, str]] = []
    for doc in docs:
        _id = doc["_id"]
        current = state.get(_id)
        unset: set[str] = set()
        if current is None:
            kind, outcome = "insert", "new"
            final = schema_ordered({**{k: v for k, v in doc.items() if k not in STORE_FIELDS},
                              "first_seen": now, "last_seen": now, "updated_at": now, "version": 1})
        elif isinstance(current.get("last_seen"), datetime) and current["last_seen"] > now:
            outcomes.append((_id, "unchanged"))  # stale replay: newer data is already stored
            continue
        elif same_content(doc, current):
            kind, outcome = "touch", "unchanged"
            final = {**current, "last_seen": now}
        else:
            kind, outcome = "update", "updated"
            final = schema_ordered({**{k: v for k, v in doc.items() if k not in STORE_FIELDS},
                              "first_seen": current.get("first_seen", now), "last_seen": now,
                              "updated_at": now, "version": int(current.get("version") or 0) + 1})
            unset = set(current) - set(final)
        previous = writes.get(_id)
        if previous is not None:  # merge with the earlier write of this batch for the same _id
            if previous.kind == "insert" or (previous.kind == "update" and kind == "touch"):
                kind = previous.kind
            unset = (previous.unset | unset) - set(final)
        writes[_id] = Write(kind, final, unset)
        state[_id] = final
        outcomes.append((_id, outcome))
    return UpsertPlan(writes, outcomes)


# ---------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------

# MongoDB server error codes that mean "not now" (elections, shutdowns, overload), not "bad data".
_RETRYABLE_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 64, 63})
DUPLICATE_KEY = 11000
# MongoDB codes that mean "these credentials will not do": AuthenticationFailed, Unauthorized, Atlas's 8000.
_AUTH_CODES = frozenset({13, 18, 8000})
# SQLite primary result codes that mean "this file is not a store we can use" (sqlite3 error.sqlite_errorcode):
# PERM, READONLY, CORRUPT, CANTOPEN, AUTH, NOTADB. BUSY/LOCKED (another process) and FULL/IOERR (the disk) are
# outages: the spool takes the batches.
_SQLITE_UNUSABLE = frozenset({3, 8, 11, 14, 23, 26})


def is_unusable(exc: BaseException) -> bool:
    """True when ``exc`` means the store cannot be used as itself: an error to fix, not an outage to wait out."""
    if isinstance(exc, StoreUnusable):
        return True
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNUSABLE
    try:
        from pymongo import errors
    except ImportError:  # pragma: no cover - pymongo is a dependency
        return False
    if isinstance(exc, errors.ConfigurationError):  # bad URI or options
        return True
    return isinstance(exc, errors.OperationFailure) and exc.code in _AUTH_CODES


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The message of ``exc`` on one line, cut to ``limit`` characters (pymongo's messages run to pages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the store is away (spool the batch and retry later)."""
    if isinstance(exc, StoreUnavailable):
        return True
    if is_unusable(exc):
        return False
    if isinstance(exc, sqlite3.OperationalError):  # locked by another process, disk I/O, disk full
        return True
    try:
        from pymongo import errors
    except ImportError:  # pragma: no cover - pymongo is a dependency
        return False
    if isinstance(exc, (errors.ConnectionFailure, errors.WTimeoutError)):  # AutoReconnect, timeouts
        return True
    if isinstance(exc, errors.BulkWriteError):
        details = exc.details or {}
        return bool(details.get("writeConcernErrors")) or any(
            e.get("code") != DUPLICATE_KEY for e in details.get("writeErrors", ()))
    if isinstance(exc, errors.OperationFailure):
        return exc.code in _RETRYABLE_CODES or exc.has_error_label("RetryableWriteError") or exc.timeout
    return isinstance(exc, errors.PyMongoError) and (exc.has_error_label("RetryableWriteError") or exc.timeout)


# ---------------------------------------------------------------------------------------------------------
# Identity: which store a spooled batch belongs to
# ---------------------------------------------------------------------------------------------------------


def mongo_identity(uri: str, database: str) -> dict[str, str]:
    """The MongoDB store as scheme://hosts (no credentials, no options) plus the database name."""
    scheme, _sep, rest = uri.partition("://")
    hosts = rest.rpartition("@")[2].split("/", 1)[0].split("?", 1)[0]
    return {"backend": "mongo", "hosts": f"{scheme.lower()}://{','.join(sorted(hosts.lower().split(',')))}",
            "database": database}


def sqlite_identity(path: str | Path) -> dict[str, str]:
    """The SQLite store as the absolute path of its file."""
    text = str(path)
    return {"backend": "sqlite", "path": text if text == ":memory:" else str(Path(text).resolve())}


def fingerprint_index_file(db: Path) -> Path:
    """The file beside an SQLite store where the dedup stage keeps its sorted index of the stored articles'
    fingerprints between runs (``SimhashIndex.save``; derived data, checked against the stored pairs at every
    load: deleting it only makes the next load sort them again)."""
    return db.with_name(db.name + ".fingerprints")
