"""Attachments pipeline (350): download each article's attachment files, keep them, and read their text.

A Scrapy ``FilesPipeline`` (its settings: ``FILES_STORE``, ``FILES_EXPIRES``, ``FILES_URLS_FIELD``,
``FILES_RESULT_FIELD``, ``MEDIA_ALLOW_REDIRECTS``), placed after the spam verdict and before dedup and the store:

- quarantined items (``spam.is_spam``) download nothing: their attachments get ``status: skipped``, unless
  ``GONGKAI_ATTACHMENTS_FOR_SPAM`` is on;
- files are stored under their content's sha1 (``<sha1[:2]>/<sha1>.<ext>``, the extension from the sniffed
  format, never from the page or the URL); the same content linked from two pages is stored once. Store: a
  folder (default ``files/`` beside ``GONGKAI_DB``), GridFS when ``MONGO_URI`` is set, or any of Scrapy's own
  (``s3://``, ``gs://``, ``ftp://``) named by ``FILES_STORE``;
- the text is read by ``gongkai_spider.filetext`` in a separate worker process with a time and a memory limit
  (``GONGKAI_ATTACHMENT_PARSE_TIMEOUT``, ``GONGKAI_ATTACHMENT_PARSE_MEMORY_MB``), one file at a time on its own
  thread, so a hostile file costs its own status, never the crawl;
- incremental: an attachment URL the stored article already has a file for, downloaded less than
  ``FILES_EXPIRES`` days ago, is not downloaded again (its stored record is kept). After that it is fetched
  again; the same sha1 keeps the record, a new sha1 changes the article's ``content_hash`` (dedup adds the
  attachments' sha1s), so the store makes a new version. A failed re-download keeps the stored file's record;
- after the text is read the spam verdict is computed again with the attachment text in view (a hijacked page
  hiding its text in a file is still quarantined).

Each attachment becomes ``{name, url, path, sha1, size, content_type, format, status, downloaded_at, text,
text_truncated, pages, needs_ocr}`` (docs/SCHEMA.md). ``status``: ``downloaded`` (file stored, text read),
``no_text:<format>`` (stored, no reader for that format: images, PPT, DOC without antiword/catdoc),
``too_large`` (over ``GONGKAI_ATTACHMENT_MAX_BYTES``), ``failed:<reason>`` (download: ``http_404``, ``timeout``,
``connection_refused``, ``dns``, ``empty`` ...; file: ``encrypted``, ``truncated``, ``broken``, ``zip_bomb``,
``parse_timeout``, ``memory`` ... — a file that was stored keeps its ``path`` and ``sha1``; ``store_unavailable``: the
files store could not take it), ``skipped``.

Stats: ``gongkai/attachments/<status>`` per attachment (the part before ``:`` of failed/no_text reasons,
e.g. ``gongkai/attachments/failed/encrypted``), ``gongkai/attachments/reused`` (not downloaded again),
``gongkai/attachments/kept_previous`` (re-download failed, stored file kept), ``gongkai/attachments/bytes``,
``gongkai/attachments/parse_cpu_ms`` (CPU of the text worker), ``gongkai/attachments/spam_in_text``.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline, FSFilesStore
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads
from twisted.internet.defer import maybeDeferred
from twisted.python.threadpool import ThreadPool

from gongkai_spider.filetext import FileTextRunner, Limits, default_tools
from gongkai_spider.readonly import refuse_when_read_only
from gongkai_spider.storage.base import as_shanghai, utc_now
from gongkai_spider.storage.files import GridFSFilesStore, default_files_store
from pipelines.common import as_dict, fields

logger = logging.getLogger(__name__)

# Keys of an attachment record, in the order analysts see them (docs/SCHEMA.md).
RECORD_KEYS: tuple[str, ...] = ("name", "url", "path", "sha1", "size", "content_type", "format", "status",
                                "downloaded_at", "text", "text_truncated", "pages", "needs_ocr")
# Downloaded results kept for attachment URLs shared by several pages of one run; older ones are dropped so a
# long crawl does not keep every file's text in memory (Scrapy's media cache would keep them all).
CACHE_SIZE = 256
_EXTENSIONS = {"image": "", "unknown": "", "ole": "", "ooxml_encrypted": ""}


def download_failure(exc: BaseException) -> str:
    """The status of a download that raised ``exc``."""
    if isinstance(exc, DownloadCancelledError) and "max size" in str(exc):
        return "too_large"
    for kind, reason in ((DownloadTimeoutError, "timeout"), (DownloadConnectionRefusedError, "connection_refused"),
                         (CannotResolveHostError, "dns"), (ResponseDataLossError, "data_loss"),
                         (IgnoreRequest, "ignored"), (DownloadCancelledError, "cancelled")):
        if isinstance(exc, kind):
            return f"failed:{reason}"
    name = type(exc).__name__
    if "Timeout" in name:
        return "failed:timeout"
    return f"failed:{name}"


def stat_key(status: str) -> str:
    """``failed:broken:BadZipFile`` -> ``failed/broken`` (stats keys keep the kind and the first reason)."""
    return "/".join(status.split(":")[:2])


def _age_days(record: dict) -> float | None:
    when = record.get("downloaded_at")
    if when is None:
        return None
    try:
        return (utc_now() - as_shanghai(when)) / timedelta(days=1)
    except (TypeError, AttributeError):
        return None


class AttachmentsPipeline(FilesPipeline):
    MEDIA_NAME = "attachment"
    DEFAULT_FILES_URLS_FIELD = "attachments"
    DEFAULT_FILES_RESULT_FIELD = "attachments"
    STORE_SCHEMES: ClassVar[dict[str, Any]] = {**FilesPipeline.STORE_SCHEMES, "mongodb": GridFSFilesStore,
                                               "mongodb+srv": GridFSFilesStore, "mongomock": GridFSFilesStore}

    def __init__(self, store_uri: str, *, crawler: Any, runner: FileTextRunner | None = None,
                 max_bytes: int = 50 * 1024 * 1024, timeout: float = 120.0, for_spam: bool = False,
                 previous: Callable[[str], dict | None] | None = None,
                 rescore: Callable[[dict], dict] | None = None) -> None:
        """``previous(_id)``: the stored article (for its attachment records); ``rescore(doc)``: a spam verdict."""
        super().__init__(store_uri, crawler=crawler)
        self.stats = crawler.stats
        self.runner = runner or FileTextRunner()
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.for_spam = for_spam
        self.previous = previous
        self.rescore = rescore
        self._pool: ThreadPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> AttachmentsPipeline:
        settings = crawler.settings
        if not settings.getbool("GONGKAI_ATTACHMENTS_ENABLED", True):
            raise NotConfigured("GONGKAI_ATTACHMENTS_ENABLED is off")
        refuse_when_read_only(settings, "no file is downloaded or stored")
        cls._update_stores(settings)
        GridFSFilesStore.DATABASE = settings.get("MONGO_DATABASE") or "gongkai"
        GridFSFilesStore.SERVER_SELECTION_TIMEOUT_MS = settings.getint("MONGO_SERVER_SELECTION_TIMEOUT_MS", 5000)
        GridFSFilesStore.SOCKET_TIMEOUT_MS = settings.getint("MONGO_SOCKET_TIMEOUT_MS", 10000)
        GridFSFilesStore.CONNECT_TIMEOUT_MS = settings.getint("MONGO_CONNECT_TIMEOUT_MS", 5000)
        GridFSFilesStore.RETRY_SECONDS = settings.getfloat("GONGKAI_SPOOL_RETRY_SECONDS", 30.0)
        limits = Limits(max_chars=settings.getint("GONGKAI_ATTACHMENT_MAX_CHARS", 200_000),
                        max_pages=settings.getint("GONGKAI_ATTACHMENT_MAX_PAGES", 500),
                        max_unpacked=settings.getint("GONGKAI_ATTACHMENT_MAX_UNPACKED", 100 * 1024 * 1024),
                        tools=default_tools())
        runner = FileTextRunner(limits, timeout=settings.getfloat("GONGKAI_ATTACHMENT_PARSE_TIMEOUT", 30.0),
                                memory_mb=settings.getint("GONGKAI_ATTACHMENT_PARSE_MEMORY_MB", 1024))
        return cls(default_files_store(settings), crawler=crawler, runner=runner,
                   max_bytes=settings.getint("GONGKAI_ATTACHMENT_MAX_BYTES", 50 * 1024 * 1024),
                   timeout=settings.getfloat("GONGKAI_ATTACHMENT_TIMEOUT", 120.0),
                   for_spam=settings.getbool("GONGKAI_ATTACHMENTS_FOR_SPAM", False),
                   previous=_stored_article(crawler), rescore=_spam_scorer(settings))

    def _get_store(self, uri: str) -> Any:
        scheme = urlparse(uri).scheme
        store_cls = FSFilesStore if Path(uri).is_absolute() else self.STORE_SCHEMES.get(scheme, FSFilesStore)
        if issubclass(store_cls, FSFilesStore):
            # FSFilesStore makes its folder when it does not exist yet, and fails when another crawl (a second
            # worker or scrapyd job on the same files store) makes it in between: made here first, as it would.
            Path(uri.split("://", 1)[1] if "://" in uri else uri).mkdir(parents=True, exist_ok=True)
        return store_cls(uri)

    # -- Scrapy hooks ---------------------------------------------------------------------------------

    def open_spider(self) -> None:
        super().open_spider()
        self._pool = ThreadPool(1, 1, name="gongkai-filetext")
        self._pool.start()
        logger.info("attachments: files in %s", getattr(self.store, "basedir", self.store))

    def close_spider(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        self.runner.close()

    async def process_item(self, item: Any) -> Any:
        adapter = fields(item)
        attachments = adapter.get(self.files_urls_field)
        if not attachments or not isinstance(attachments, list):
            return item
        spam = adapter.get("spam")
        if isinstance(spam, dict) and spam.get("is_spam") and not self.for_spam:
            adapter[self.files_result_field] = [self._record(a, {"status": "skipped"}) for a in attachments]
            self.stats.inc_value("gongkai/attachments/skipped", len(attachments))
            return item
        await super().process_item(item)
        if self.rescore is not None and not (isinstance(spam, dict) and spam.get("is_spam")):
            records = adapter.get(self.files_result_field) or []
            if any(isinstance(r, dict) and r.get("text") for r in records):
                verdict = self.rescore(as_dict(item))
                if verdict.get("is_spam"):
                    adapter["spam"] = verdict
                    self.stats.inc_value("gongkai/attachments/spam_in_text")
        return item

    # -- FilesPipeline interface ----------------------------------------------------------------------

    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        adapter = fields(item)
        stored: dict[str, dict] = {}
        if self.previous is not None and adapter.get("_id"):
            try:
                doc = self.previous(adapter["_id"]) or {}
            except Exception:  # the store is away: download, as for a new article
                logger.debug("attachments: stored article %s unreadable", adapter["_id"], exc_info=True)
                doc = {}
            stored = {a["url"]: a for a in doc.get("attachments") or () if isinstance(a, dict) and a.get("url")}
        # the site config's headers, cookies, download slot (delay, concurrency) and robots.txt choice
        options = getattr(self.crawler.spider, "site_request_options", None)
        site = options() if callable(options) else {}
        site_headers = dict(site.get("headers") or {})
        cookies = dict(site.get("cookies") or {}) or None
        requests = []
        for attachment in adapter.get(self.files_urls_field) or ():
            url = attachment.get("url") if isinstance(attachment, dict) else attachment
            if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
                continue
            headers = {**site_headers, **({"Referer": adapter["url"]} if adapter.get("url") else {})}
            requests.append(Request(url, callback=NO_CALLBACK, headers=headers or None, cookies=cookies, meta={
                **(site.get("meta") or {}), "download_maxsize": self.max_bytes, "download_warnsize": 0, "download_timeout": self.timeout,
                "gongkai_previous": stored.get(url), "gongkai_name": (attachment.get("name") or "")
                if isinstance(attachment, dict) else ""}))
        return requests

    async def media_to_download(self, request: Request, info: Any, *, item: Any = None) -> dict | None:
        """The stored record, when this URL's file is stored and younger than FILES_EXPIRES days; the file the
        spider already fetched, when it was served at the detail URL; else None (download it)."""
        previous = request.meta.get("gongkai_previous")
        if previous and previous.get("sha1") and previous.get("path"):
            age = _age_days(previous)
            if age is not None and age <= self.expires and await self._stored(previous["path"], info):
                self.stats.inc_value("gongkai/attachments/reused")
                return dict(previous)
        page_file = fields(item).get("_page_file") if item is not None else None
        if isinstance(page_file, dict) and page_file.get("url") == request.url and page_file.get("body"):
            headers = {"Content-Type": page_file["content_type"]} if page_file.get("content_type") else {}
            response = Response(request.url, status=200, headers=headers, body=page_file["body"], request=request)
            return await self.media_downloaded(response, request, info, item=item)
        return None

    async def _check_media_to_download(self, request: Request, info: Any, item: Any) -> dict:
        # Scrapy's version logs every failed download with a traceback and loses the reason; here a failure is a
        # record with its status, like any other outcome.
        try:
            self._modify_media_request(request)
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:
            return self._failed(request, download_failure(exc))
        try:
            return await self.media_downloaded(response, request, info, item=item)
        except Exception as exc:  # a bug here must not lose the item
            logger.exception("attachments: %s could not be processed", request.url)
            return self._failed(request, f"failed:error:{type(exc).__name__}")

    async def media_downloaded(self, response: Any, request: Request, info: Any, *, item: Any = None) -> dict:
        if response.status != 200:
            return self._failed(request, f"failed:http_{response.status}")
        body = response.body
        if not body:
            return self._failed(request, "failed:empty")
        if len(body) > self.max_bytes:  # a handler that ignored download_maxsize
            return self._failed(request, "too_large")
        sha1 = hashlib.sha1(body).hexdigest()
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip() or None
        name = request.meta.get("gongkai_name") or ""
        parsed = await self._text(body, f"{name} {urlparse(request.url).path}", content_type or "")
        fmt = parsed.get("format") or "unknown"
        path = f"{sha1[:2]}/{sha1}" + (f".{_EXTENSIONS.get(fmt, fmt)}" if _EXTENSIONS.get(fmt, fmt) else "")
        try:
            if not self._exists(path):
                await maybe_deferred_to_future(maybeDeferred(
                    self.store.persist_file, path, BytesIO(body), info, meta={"sha1": sha1, "url": request.url},
                    headers={"Content-Type": content_type or ""}))
        except Exception as exc:  # the files store is away (or full): the file is not kept, the crawl goes on
            from gongkai_spider.storage.base import one_line

            logger.warning("attachments: files store %s failed for %s: %s", getattr(self.store, "basedir", "?"),
                           request.url, one_line(exc))
            return self._failed(request, "failed:store_unavailable")
        status = parsed.get("status") or "failed:parse"
        if status == "ok":
            status = "downloaded"
        self.stats.inc_value("gongkai/attachments/bytes", len(body))
        self.stats.inc_value("gongkai/attachments/parse_cpu_ms", int(parsed.get("cpu_ms") or 0))
        return {"url": request.url, "path": path, "sha1": sha1, "size": len(body),
                "content_type": content_type or mimetypes.guess_type(f"x.{fmt}")[0], "format": fmt,
                "status": status, "downloaded_at": utc_now(), "text": parsed.get("text"),
                "text_truncated": bool(parsed.get("text_truncated")), "pages": parsed.get("pages"),
                "needs_ocr": parsed.get("needs_ocr")}

    def item_completed(self, results: list, item: Any, info: Any) -> Any:
        by_url = {r["url"]: r for ok, r in results if ok and isinstance(r, dict) and r.get("url")}
        adapter = fields(item)
        records = []
        for attachment in adapter.get(self.files_urls_field) or ():
            if not isinstance(attachment, dict):
                attachment = {"name": None, "url": attachment}
            found = by_url.get(attachment.get("url"))
            if found is None:
                found = {"status": "skipped"}
            elif found.get("status", "").startswith(("failed:", "too_large")) and not found.get("sha1"):
                previous = (found.get("_previous") or {})
                if previous.get("sha1"):  # the download failed, the stored file is still good
                    self.stats.inc_value("gongkai/attachments/kept_previous")
                    found = previous
            record = self._record(attachment, found)
            self.stats.inc_value(f"gongkai/attachments/{stat_key(record['status'])}")
            records.append(record)
        adapter[self.files_result_field] = records
        downloaded = info.downloaded
        while len(downloaded) > CACHE_SIZE:
            downloaded.pop(next(iter(downloaded)))
        return item

    def file_path(self, request: Request, response: Any = None, info: Any = None, *, item: Any = None) -> str:
        """Files are named by their content's sha1 in media_downloaded; nothing is named from the request."""
        raise NotImplementedError("attachment paths come from the content sha1")

    # -- helpers --------------------------------------------------------------------------------------

    def _failed(self, request: Request, status: str) -> dict:
        logger.info("attachments: %s %s (in %s)", status, request.url, request.headers.get("Referer", b"").decode())
        return {"url": request.url, "status": status, "_previous": request.meta.get("gongkai_previous")}

    @staticmethod
    def _record(attachment: dict, result: dict) -> dict:
        merged = {"name": attachment.get("name"), "url": attachment.get("url")}
        for key in RECORD_KEYS[2:]:
            merged[key] = result.get(key)
        merged["status"] = result.get("status") or "skipped"
        merged["text_truncated"] = bool(merged["text_truncated"])
        return merged

    def _exists(self, path: str) -> bool:
        """Whether the folder or GridFS store holds ``path`` (cheap: no read). Other stores: unknown (False)."""
        store = self.store
        if isinstance(store, FSFilesStore):
            return Path(store.basedir, *path.split("/")).is_file()
        if isinstance(store, GridFSFilesStore):
            return store.exists(path)
        return False

    async def _stored(self, path: str, info: Any) -> bool:
        """Whether the store holds ``path``; S3/GCS/FTP are asked through their ``stat_file``."""
        try:
            if isinstance(self.store, (FSFilesStore, GridFSFilesStore)):
                return self._exists(path)
            stat = await maybe_deferred_to_future(maybeDeferred(self.store.stat_file, path, info))
        except Exception:  # cannot tell: download it again
            return False
        return bool(stat)

    async def _text(self, body: bytes, name: str, content_type: str) -> dict:
        if self._pool is None:  # used outside a crawl (tests)
            return self.runner.extract(body, name, content_type)
        from twisted.internet import reactor

        return await maybe_deferred_to_future(
            threads.deferToThreadPool(reactor, self._pool, self.runner.extract, body, name, content_type))


def _stored_article(crawler: Any) -> Callable[[str], dict | None]:
    def lookup(_id: str) -> dict | None:
        from gongkai_spider.storage import store_for_crawler

        return store_for_crawler(crawler).get("articles", _id)

    return lookup


def _spam_scorer(settings: Any) -> Callable[[dict], dict]:
    from pipelines.spam import SpamLists, score_spam

    directory = settings.get("GONGKAI_SPAM_LISTS_DIR") or None
    lists = SpamLists.load(directory)
    threshold = settings.getfloat("GONGKAI_SPAM_THRESHOLD", 1.0)
    return lambda doc: score_spam(doc, lists, threshold)
