"""Where attachment files are kept: a folder (Scrapy's FSFilesStore) beside the SQLite file, or GridFS.

``GridFSFilesStore`` follows Scrapy's ``FilesStoreProtocol`` (``persist_file`` / ``stat_file``) on pymongo's
``gridfs`` in database ``MONGO_DATABASE``, bucket ``files`` (collections ``files.files`` / ``files.chunks``).
A file's GridFS ``_id`` and ``filename`` are its store path (``<sha1[:2]>/<sha1>.<ext>``), so a file already
stored under that path is never written twice. ``mongomock://`` URIs use the in-memory server of
``gongkai_spider.storage`` (tests; mongomock-ng's GridFS needs its integration patch, applied here).

``default_files_store(settings)``: the ``FILES_STORE`` to use when the setting is empty: ``MONGO_URI`` (GridFS)
when set, else ``files/`` beside ``GONGKAI_DB`` (``data/files``).
"""

from __future__ import annotations

import io
import os
import time
from datetime import UTC
from typing import Any

BUCKET = "files"


def default_files_store(settings: Any) -> str:
    explicit = settings.get("FILES_STORE") or ""
    if explicit:
        return str(explicit)
    uri = settings.get("MONGO_URI") or ""
    if uri:
        return str(uri)
    db = settings.get("GONGKAI_DB") or "data/gongkai.sqlite3"
    return os.path.join(os.path.dirname(os.path.abspath(db)), "files")


class GridFSFilesStore:
    """Scrapy files store on GridFS (legacy ``gridfs.GridFS`` API: a real server and mongomock-ng both run it).

    Its MongoDB calls are bounded like the document store's (``MONGO_*_TIMEOUT_MS``, set on the class by the
    attachments pipeline) and behind the same kind of circuit breaker: once a call failed because the server is
    away, the next ones raise ``StoreUnavailable`` at once for ``RETRY_SECONDS`` instead of each waiting again.
    """

    DATABASE = "gongkai"  # these class settings are set from the crawl's settings by the attachments pipeline
    SERVER_SELECTION_TIMEOUT_MS = 5000
    SOCKET_TIMEOUT_MS = 10000
    CONNECT_TIMEOUT_MS = 5000
    RETRY_SECONDS = 30.0

    def __init__(self, uri: str, database: str | None = None, client: Any = None) -> None:
        import gridfs

        if client is None:
            if uri.startswith("mongomock://"):
                from mongomock_ng.gridfs import enable_gridfs_integration

                from gongkai_spider.storage import _mongomock_factory

                enable_gridfs_integration()
                client = _mongomock_factory(uri)(uri)
            else:
                from pymongo import MongoClient

                bounds = {"socketTimeoutMS": self.SOCKET_TIMEOUT_MS, "connectTimeoutMS": self.CONNECT_TIMEOUT_MS}
                client = MongoClient(uri, serverSelectionTimeoutMS=self.SERVER_SELECTION_TIMEOUT_MS, tz_aware=False,
                                     connect=False, appname="gongkai-spider-files",
                                     **{k: v for k, v in bounds.items() if v and v > 0})
        self.client = client
        self.db = client[database or self.DATABASE]
        self.fs = gridfs.GridFS(self.db, collection=BUCKET)
        self.basedir = f"gridfs:{self.db.name}/{BUCKET}"
        self._down_until = 0.0

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        from gongkai_spider.storage.base import StoreUnavailable, is_outage

        if time.monotonic() < self._down_until:
            raise StoreUnavailable("GridFS unreachable; not retried yet")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_outage(exc) and not isinstance(exc, StoreUnavailable):
                self._down_until = time.monotonic() + self.RETRY_SECONDS
            raise

    def exists(self, path: str) -> bool:
        return self._call(self.db[f"{BUCKET}.files"].find_one, {"_id": path}, {"_id": 1}) is not None

    def persist_file(self, path: str, buf: io.BytesIO, info: Any = None, meta: dict | None = None,
                     headers: dict | None = None) -> None:
        if self.exists(path):
            return
        self._call(self.fs.put, buf.getvalue(), _id=path, filename=path, metadata=dict(meta or {}))

    def stat_file(self, path: str, info: Any = None) -> dict[str, Any]:
        doc = self._call(self.db[f"{BUCKET}.files"].find_one, {"_id": path})
        if doc is None:
            return {}
        uploaded = doc.get("uploadDate")
        if uploaded is not None and uploaded.tzinfo is None:  # MongoDB hands back naive UTC
            uploaded = uploaded.replace(tzinfo=UTC)
        last_modified = uploaded.timestamp() if uploaded is not None else time.time()
        return {"last_modified": last_modified, "checksum": (doc.get("metadata") or {}).get("sha1")}

    def read(self, path: str) -> bytes:
        return self._call(lambda: self.fs.get(path).read())
