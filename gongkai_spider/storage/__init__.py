"""Where documents are kept: MongoDB when ``MONGO_URI`` is set, else the embedded SQLite file ``GONGKAI_DB``.

``open_store(settings)`` picks the backend (see docs/SCHEMA.md for the documents, indexes and queries);
``store_for_crawler(crawler)`` opens one store per crawl, shared by the dedup and store pipelines and closed
once when the spider closes. Both backends follow the ``Store`` protocol of ``base.py`` with the same upsert
semantics; ``spool.py`` keeps batches safe while MongoDB is away, in one folder per store (``store_identity``).
A store that cannot be used as itself (corrupt SQLite file, failed MongoDB authentication) raises
``gongkai_spider.errors.StoreUnusable`` when opened or first used.

``MONGO_URI=mongomock://<name>`` selects an in-memory mongomock-ng server (tests only; installed by the
``test`` extra), shared by every store of the process opened with the same URI.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from gongkai_spider.errors import ConfigError, StoreUnusable
from gongkai_spider.storage.base import (
    COLLECTIONS,
    Store,
    StoreUnavailable,
    is_outage,
    is_unusable,
    mongo_identity,
    one_line,
    sqlite_identity,
)

__all__ = ["COLLECTIONS", "CommandError", "Store", "StoreUnavailable", "StoreUnusable", "is_outage", "is_unusable",
           "open_store", "open_store_for_command", "settings_from_env", "store_for_crawler", "store_identity"]

# Store settings the commands take from the environment even after gongkai_spider.settings was imported.
STORE_SETTINGS: tuple[str, ...] = ("MONGO_URI", "MONGO_DATABASE", "MONGO_SERVER_SELECTION_TIMEOUT_MS",
                                   "MONGO_TIMEOUT_MS", "MONGO_SOCKET_TIMEOUT_MS", "MONGO_CONNECT_TIMEOUT_MS",
                                   "GONGKAI_DB", "GONGKAI_SPOOL_DIR", "GONGKAI_SPOOL_RETRY_SECONDS",
                                   "GONGKAI_STORE_BATCH_SIZE", "GONGKAI_STORE_MAX_BUFFERED", "JOBDIR")

_MOCK_SERVERS: dict[str, Any] = {}


class SettingsLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def _setting(settings: SettingsLike, key: str, default: Any) -> Any:
    value = settings.get(key, None)
    if value is None:  # a plain dict without the key: fall back to the environment, like settings.py
        value = os.environ.get(key, default)
    return value


def _mongomock_factory(uri: str):
    import mongomock_ng
    from mongomock_ng.store import ServerStore

    server = _MOCK_SERVERS.setdefault(uri, ServerStore())

    def factory(_uri: str, **_options: Any):
        return mongomock_ng.MongoClient(_store=server)

    return factory


def _mongo_uri(settings: SettingsLike) -> str:
    """MONGO_URI (setting, else environment); empty: the SQLite store."""
    return str(_setting(settings, "MONGO_URI", "") or "")


def _sqlite_path(settings: SettingsLike) -> str:
    return str(_setting(settings, "GONGKAI_DB", "data/gongkai.sqlite3") or "data/gongkai.sqlite3")


def sqlite_file(settings: SettingsLike) -> str | None:
    """The SQLite file ``open_store`` opens for these settings, when another process can open it too: None
    when MONGO_URI selects MongoDB or GONGKAI_DB is ``:memory:``."""
    if _mongo_uri(settings):
        return None
    path = _sqlite_path(settings)
    return None if path == ":memory:" else path


def _database(settings: SettingsLike) -> str:
    return str(_setting(settings, "MONGO_DATABASE", "gongkai") or "gongkai")


def open_store(settings: SettingsLike, *, client_factory=None) -> Store:
    """MongoStore when MONGO_URI is set (setting, else environment), else SQLiteStore at GONGKAI_DB.

    Raises StoreUnusable for a store that cannot be used as itself (corrupt SQLite file, bad MongoDB URI).
    """
    uri = _mongo_uri(settings)
    if uri:
        from gongkai_spider.storage.mongo import MongoStore

        if client_factory is None and uri.startswith("mongomock://"):
            client_factory = _mongomock_factory(uri)

        def ms(key: str, default: int) -> int:
            return int(_setting(settings, key, default))

        return MongoStore(uri, _database(settings), client_factory=client_factory,
                          server_selection_timeout_ms=ms("MONGO_SERVER_SELECTION_TIMEOUT_MS", 5000),
                          timeout_ms=ms("MONGO_TIMEOUT_MS", 0),
                          socket_timeout_ms=ms("MONGO_SOCKET_TIMEOUT_MS", 10000),
                          connect_timeout_ms=ms("MONGO_CONNECT_TIMEOUT_MS", 5000),
                          retry_seconds=float(_setting(settings, "GONGKAI_SPOOL_RETRY_SECONDS", 30.0)))
    from gongkai_spider.storage.sqlite import SQLiteStore

    return SQLiteStore(_sqlite_path(settings))


def store_identity(settings: SettingsLike) -> dict[str, str]:
    """The identity of the store ``open_store(settings)`` opens, without opening it (the spool's folder key)."""
    uri = _mongo_uri(settings)
    return mongo_identity(uri, _database(settings)) if uri else sqlite_identity(_sqlite_path(settings))


def settings_from_env() -> dict[str, Any]:
    """The project settings as the spider sees them (gongkai_spider.settings, environment overrides)."""
    from gongkai_spider import settings as module

    values = {k: getattr(module, k) for k in dir(module) if k.isupper()}
    values.update({k: os.environ[k] for k in STORE_SETTINGS if k in os.environ})
    return values


class CommandError(ConfigError):
    """A store problem a command reports in one line (no traceback) before exiting 2."""


def open_store_for_command(db: str | None = None) -> tuple[Store, dict[str, Any]]:
    """(store, settings) for ``gongkai stats`` / ``export``: the spider's settings, ``--db PATH`` forcing SQLite.

    Unlike a crawl, a reading command must not create an empty SQLite file nor wait silently for MongoDB:
    a missing file or an unreachable server raises CommandError, an unusable store StoreUnusable (both exit 2
    with one line: ``gongkai_spider.cli``).
    """
    settings = settings_from_env()
    if db:
        settings.update(MONGO_URI="", GONGKAI_DB=db)
    if not settings.get("MONGO_URI"):
        path = settings.get("GONGKAI_DB") or "data/gongkai.sqlite3"
        if not os.path.exists(path):
            raise CommandError(f"no store at {path} (run a crawl first, or pass --db PATH / set MONGO_URI)")
    store = open_store(settings)
    try:
        store.ensure_ready()
    except Exception as exc:
        store.close()
        if is_unusable(exc):
            raise StoreUnusable(one_line(exc)) from exc
        if is_outage(exc):
            raise CommandError(f"cannot reach the store ({getattr(store, 'description', store)}): "
                               f"{one_line(exc)}") from exc
        raise
    return store, settings


class _StoreCloser:
    """Closes the crawler's store once, on spider_closed (after every pipeline's close_spider)."""

    def __init__(self, crawler: Any, store: Store) -> None:
        self.crawler, self.store = crawler, store

    def close(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self.crawler, "_gongkai_store", None) is self.store:
            del self.crawler._gongkai_store
        self.store.close()


def store_for_crawler(crawler: Any) -> Store:
    """The crawler's store, opened on first use from ``crawler.settings`` and cached on the crawler.

    Raises StoreUnusable (again, without reopening) when the store was found unusable."""
    store = getattr(crawler, "_gongkai_store", None)
    if store is None:
        from scrapy import signals

        failure = getattr(crawler, "_gongkai_store_unusable", None)
        if failure is not None:  # found unusable already: every user hears the same, none opens it again
            raise StoreUnusable(failure)
        try:
            store = open_store(crawler.settings)
        except StoreUnusable as exc:
            crawler._gongkai_store_unusable = str(exc)
            raise
        crawler._gongkai_store = store
        closer = _StoreCloser(crawler, store)
        crawler._gongkai_store_closer = closer  # signal handlers are weak references: keep it alive
        crawler.signals.connect(closer.close, signal=signals.spider_closed)
    return store
