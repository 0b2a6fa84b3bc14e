"""Store pipeline (900): buffer items, bulk upsert them, spam to ``quarantine``, the rest to ``articles``.

The store is the crawler's shared one (``gongkai_spider.storage.store_for_crawler``): MongoDB when
``MONGO_URI`` is set, else SQLite at ``GONGKAI_DB``. A flush happens every ``GONGKAI_STORE_BATCH_SIZE`` items
and at close. A store outage never stops the crawl: the batch goes to the spool (``GONGKAI_SPOOL_DIR``, one folder
per store identity), which is replayed at the next flush once the store answers again and when the next run opens.

Faults that are not outages stop the crawl instead (close reason, ``gongkai/alert/<reason>``):

- ``store_unusable``: the store cannot be used as itself (corrupt or unreadable SQLite file, failed MongoDB
  authentication; ``errors.StoreUnusable``). Found at open, the crawl closes before fetching anything; found
  mid-run, the batch in hand is spooled and the crawl stops. ``scrapy crawl`` exits 2.
- ``store_failing``: neither the store nor the spool takes documents (disk full): they are kept in memory up to
  ``GONGKAI_STORE_MAX_BUFFERED``, then the crawl stops; documents beyond that are counted ``gongkai/store/lost``.
  Each distinct error is logged once, with its real cause; repeats are only counted (``gongkai/store/errors``,
  ``gongkai/store/spool_errors``).

A page is never in both collections. Before each batch is written (and again when a spooled batch is
replayed) the pipeline looks its ``_id``s up in the other collection, one ``existing_ids`` call per collection
and batch (``get`` only for the few hits):

- spam whose page is in ``articles`` with ``review.released`` true (``gongkai quarantine release``): a person
  said it is not spam, so it stays in ``articles`` with its ``review`` and the new verdict in ``spam``
  (``gongkai/store/kept_released``);
- spam whose page is in ``articles`` otherwise (a clean page that turned spam, e.g. hijacked since): the
  article is moved to ``quarantine`` (stamps kept), then updated there (``gongkai/store/moved_to_quarantine``);
- a clean page that is in ``quarantine`` (cleaned up since, or scored differently now): the quarantined copy
  is moved to ``articles``, then updated there (``gongkai/store/moved_to_articles``); when ``articles`` holds
  the page already (a released page), the stale quarantined copy is deleted (``gongkai/store/stale_copy_removed``).

Writes in a thread of their own (``GONGKAI_STORE_THREAD``, on by default) when the store can open a second
connection to itself (SQLite: ``reopener``): full batches are handed to one writer thread, which routes,
writes and spools them in order on its own connection while the crawl goes on (SQLite works without the GIL).
Everything after ``open_spider`` (buffer, spool, back-off) then belongs to that thread; its stats and stop
requests are applied on the reactor's thread. At most ``MAX_IN_FLIGHT`` batches wait for it: beyond that
``process_item`` waits too, so a slow store slows the crawl instead of filling memory. ``close_spider`` waits
for every batch. MongoDB writes stay on the reactor's thread.

Stats: ``gongkai/store/{new,updated,unchanged,rejected}`` (documents written), ``gongkai/store/quarantined``
(routed to quarantine), the routing counts above, ``gongkai/store/spooled`` / ``gongkai/store/replayed``
(into / out of the spool), ``gongkai/store/writer_waits`` / ``writer_wait_ms`` (times and milliseconds the crawl
waited for the writer thread), ``gongkai/store/errors`` (failed store calls), ``gongkai/store/spool_errors`` (failed
spool writes), ``gongkai/store/buffered_max`` (most documents held in memory), and per site
``gongkai/site/<site>/store/<outcome>``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from scrapy.exceptions import CloseSpider

from gongkai_spider.errors import StoreUnusable
from gongkai_spider.items import storable
from gongkai_spider.priority import helper_thread_factory, resolve_helper_nice
from gongkai_spider.readonly import refuse_when_read_only
from gongkai_spider.stats import CounterStats, Stats
from gongkai_spider.storage.base import Store, is_outage, is_unusable, one_line, utc_now
from gongkai_spider.storage.spool import Spool, upsert_or_reject

logger = logging.getLogger(__name__)


STORE_FAILING = "store_failing"
MAX_IN_FLIGHT = 2  # batches handed to the writer thread and not yet written, before process_item waits


class _ReactorStats:
    """The crawl's stats as the writer thread sees them: changes are applied on the reactor's thread (Scrapy's
    collector is a plain dict that the reactor's thread reads and iterates), reads are direct."""

    def __init__(self, stats: Stats, call_from_thread: Callable[..., Any]) -> None:
        self._stats, self._call = stats, call_from_thread

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self._call(self._stats.inc_value, key, count, start)

    def set_value(self, key: str, value: Any) -> None:
        self._call(self._stats.set_value, key, value)

    def get_value(self, key: str, default: Any = None) -> Any:
        return self._stats.get_value(key, default)


def _stopper(crawler: Any) -> Callable[[str], None]:
    """Close the crawl with a reason, from inside a pipeline (as Scrapy's CloseSpider extension does)."""
    pending: list[Any] = []

    def stop(reason: str) -> None:
        from scrapy.utils.defer import deferred_from_coro

        engine = getattr(crawler, "engine", None)
        if engine is not None and getattr(engine, "spider", None) is not None:
            pending.append(deferred_from_coro(engine.close_spider_async(reason=reason)))
    return stop


class StorePipeline:
    def __init__(self, stats: Stats | None = None, store: Store | Callable[[], Store] | None = None, *,
                 batch_size: int = 200, spool_dir: str = "data/spool", retry_seconds: float = 30.0,
                 max_buffered: int = 5000, identity: dict[str, str] | None = None,
                 stop: Callable[[str], None] | None = None, thread: bool = False, thread_nice: int = 0) -> None:
        """``store``: a Store, or a callable opening one at ``open_spider`` (tests pass a Store directly).
        ``identity``: the store's (spool folder key), by default ``store.identity``. ``stop(reason)`` closes the
        crawl (``store_failing``, ``store_unusable`` mid-run); without it the pipeline only stops storing.
        ``thread``: write from a thread of its own when the store allows it (see the module docstring);
        ``thread_nice``: added to that thread's nice value (gongkai_spider/priority.py)."""
        self.stats = stats if stats is not None else CounterStats()
        self._opener = store if callable(store) and not isinstance(store, Store) else None
        self.store: Store | None = None if self._opener else store
        self.batch_size = max(1, batch_size)
        if identity is None and self.store is not None:
            identity = getattr(self.store, "identity", None)
        self.spool = Spool(spool_dir, identity)
        self.retry_seconds = retry_seconds
        self.max_buffered = max(self.batch_size, max_buffered)
        self._stop = stop or (lambda reason: None)
        self._buffer: dict[str, list[dict]] = {"articles": [], "quarantine": []}
        self._buffered = 0  # documents in the buffer (new ones, and those neither store nor spool took)
        self._since_flush = 0  # documents added since the last flush: a flush per batch, not per item
        self._down_until = 0.0  # monotonic time before which the store is not tried again
        self._spool_pending = False
        self.stopping: str | None = None  # the close reason asked for (store_unusable, store_failing)
        self._reported: set[str] = set()  # errors logged already (each distinct one once)
        self._buffered_max = 0
        self.thread = thread
        self.thread_nice = thread_nice
        self._pool: Any = None  # the writer thread (a twisted ThreadPool of one: batches written in order)
        self._reactor: Any = None
        self._reactor_stats: Stats = self.stats  # the crawl's own stats, for the reactor's thread (thread mode)
        self._outbox: list[dict] = []  # documents the writer thread has not been handed yet
        self._in_flight: deque[Any] = deque()  # Deferreds of the batches handed over and not yet written

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        from gongkai_spider.storage import store_for_crawler, store_identity

        settings = crawler.settings
        refuse_when_read_only(settings, "nothing is stored")
        return cls(crawler.stats, lambda: store_for_crawler(crawler),
                   batch_size=settings.getint("GONGKAI_STORE_BATCH_SIZE", 200),
                   spool_dir=settings.get("GONGKAI_SPOOL_DIR", "data/spool"),
                   retry_seconds=settings.getfloat("GONGKAI_SPOOL_RETRY_SECONDS", 30.0),
                   max_buffered=settings.getint("GONGKAI_STORE_MAX_BUFFERED", 5000),
                   identity=store_identity(settings), stop=_stopper(crawler),
                   thread=settings.getbool("GONGKAI_STORE_THREAD", True),
                   thread_nice=resolve_helper_nice(settings.get("GONGKAI_HELPER_NICE")))

    # -- Scrapy hooks ---------------------------------------------------------------------------------

    def open_spider(self) -> None:
        """Open the store; an unusable one closes the crawl before anything is fetched (CloseSpider)."""
        for path in self.spool.legacy_files()[:1]:
            logger.warning("store: spool files directly in %s (e.g. %s) predate per-store spool folders and are "
                           "not replayed; move them into the folder of their store (%s for this one)",
                           self.spool.root, path.name, self.spool.directory)
        if self._opener is not None:
            try:
                self.store = self._opener()
            except Exception as exc:  # not an unusable store (that stops here): keep crawling into the spool
                if is_unusable(exc):
                    self._unusable(exc, at_open=True)
                logger.exception("store: could not open the store; items go to the spool in %s",
                                 self.spool.directory)
                self._mark_down()
                return
        try:
            self.store.ensure_ready()  # MongoDB: contact the server and create the indexes now
        except Exception as exc:
            if is_unusable(exc):
                self._unusable(exc, at_open=True)
            self._failed("opening the store", exc)
        self._spool_pending = True  # left by an earlier run, perhaps
        self._replay()
        reopener = getattr(self.store, "reopener", None)
        writer_opener = reopener() if self.thread and callable(reopener) else None
        if writer_opener is not None:
            self._start_writer(writer_opener)

    def _start_writer(self, opener: Callable[[], Store]) -> None:
        """From here on the writer thread owns the pipeline's state; it opens its own connection to the store
        on first use (SQLite connections belong to the thread that opens them)."""
        from twisted.internet import reactor
        from twisted.python.threadpool import ThreadPool

        self.store, self._opener = None, opener
        self._reactor = reactor
        self._reactor_stats = self.stats
        self.stats = _ReactorStats(self.stats, reactor.callFromThread)
        stop = self._stop
        self._stop = lambda reason: reactor.callFromThread(stop, reason)
        self._pool = ThreadPool(1, 1, name="gongkai-store-writer")
        # A daemon thread, stopped (after the batch in hand) when the reactor stops: a crawl that ends without
        # close_spider (a failing open elsewhere) must not hang at exit waiting for it. Below the reactor's
        # priority: its batches have slack, the reactor's thread bounds the crawl.
        self._pool.threadFactory = helper_thread_factory(self.thread_nice)
        self._pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", self._stop_pool)

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    def process_item(self, item: Any) -> Any:
        doc = storable(dict(item))
        if self._pool is None:
            self._take(doc)
            return item
        self._outbox.append(doc)
        if len(self._outbox) < self.batch_size:
            return item
        docs, self._outbox = self._outbox, []
        self._hand_over(self._take_all, docs)
        if len(self._in_flight) <= MAX_IN_FLIGHT:
            return item
        return self._after_oldest(item)  # the writer is behind: wait for it instead of piling up batches

    async def _after_oldest(self, item: Any) -> Any:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet.defer import Deferred

        landed: Deferred[None] = Deferred()
        self._in_flight[0].addBoth(lambda result: (landed.callback(None), result)[1])
        started = time.monotonic()
        await maybe_deferred_to_future(landed)
        # How long the crawl waited for the store: a store slower than the crawl shows here, not as lost items.
        self._reactor_stats.inc_value("gongkai/store/writer_waits")
        self._reactor_stats.inc_value("gongkai/store/writer_wait_ms", round(1000 * (time.monotonic() - started)))
        return item

    def _hand_over(self, work: Callable[[list[dict]], None], docs: list[dict]) -> None:
        from twisted.internet.threads import deferToThreadPool

        done = deferToThreadPool(self._reactor, self._pool, work, docs)
        done.addErrback(self._writer_failed, len(docs))
        self._in_flight.append(done)
        done.addBoth(self._landed, done)

    def _landed(self, result: Any, done: Any) -> Any:
        self._in_flight.remove(done)
        return result

    def _writer_failed(self, failure: Any, n: int) -> None:
        """A bug in the writer thread: logged with its traceback and counted, never a crash of the crawl."""
        self.stats.inc_value("gongkai/store/errors")
        logger.error("store: the writer thread failed on a batch of %d documents: %s", n, failure.getTraceback())

    def _take_all(self, docs: list[dict]) -> None:
        for doc in docs:
            self._take(doc)

    def _take(self, doc: dict) -> None:
        spam = doc.get("spam") or {}
        collection = "quarantine" if isinstance(spam, dict) and spam.get("is_spam") else "articles"
        if self._buffered >= self.max_buffered:  # nothing takes documents and the crawl is stopping: no growth
            self._lose(1)
            return
        self._buffer[collection].append(doc)
        self._buffered += 1
        self._since_flush += 1
        if self._since_flush >= self.batch_size:
            self.flush()

    def close_spider(self) -> Any:
        if self._pool is None:
            self._close()
            return None
        return self._close_writer()

    async def _close_writer(self) -> None:
        """The last documents and the close on the writer thread, after every batch handed over before."""
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet.defer import DeferredList

        docs, self._outbox = self._outbox, []
        self._hand_over(self._take_all_and_close, docs)
        await maybe_deferred_to_future(DeferredList(list(self._in_flight)))
        self._stop_pool()

    def _take_all_and_close(self, docs: list[dict]) -> None:
        try:
            self._take_all(docs)
            self._close()
        finally:
            if self.store is not None:  # the writer's own connection (the crawl's store is closed by its owner)
                self.store.close()
                self.store = None

    def _close(self) -> None:
        if self.stopping != "store_unusable":
            self._down_until = 0.0  # one last try whatever the back-off says
        self.flush()
        if self._buffered:  # neither the store nor the spool took them
            self._lose(self._buffered)
            self._buffer, self._buffered = {"articles": [], "quarantine": []}, 0
        self.spool.close()
        if self._spool_pending:
            waiting = self.spool.pending()
            if waiting:
                logger.warning("store: %d documents wait in the spool %s; they are stored at the next run",
                               waiting, self.spool.directory)

    # -- work -----------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered items (spooling them when the store is away)."""
        now = utc_now()
        batches, self._buffer = self._buffer, {"articles": [], "quarantine": []}
        self._buffered = self._since_flush = 0
        if self._spool_pending:
            self._replay()
        if any(batches.values()) and self._available():
            try:
                batches = self._routed(batches)
            except Exception as exc:  # an outage: the batch is spooled as it is and routed at replay
                self._failed(f"routing of {sum(map(len, batches.values()))} documents", exc)
        if batches["quarantine"]:
            self.stats.inc_value("gongkai/store/quarantined", len(batches["quarantine"]))
        for collection, docs in batches.items():
            if docs:
                self._write(collection, docs, now)
        if self._buffered > self._buffered_max:
            self._buffered_max = self._buffered
            self.stats.set_value("gongkai/store/buffered_max", self._buffered_max)
        if self._buffered >= self.max_buffered and self.stopping is None:
            self._request_stop(STORE_FAILING, f"neither the store nor the spool takes documents; {self._buffered} "
                               f"held in memory (GONGKAI_STORE_MAX_BUFFERED={self.max_buffered}): stopping the crawl")

    def _routed(self, batches: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """``_route`` that falls back to each document's own verdict on a non-outage error (never stuck)."""
        full = {"articles": [], "quarantine": [], **batches}
        try:
            return self._route(full)
        except Exception as exc:
            if is_outage(exc) or is_unusable(exc):
                raise
            logger.exception("store: routing of %d documents failed; storing them by their own verdict",
                             sum(map(len, full.values())))
            self.stats.inc_value("gongkai/store/errors")
            return full

    def _route(self, batches: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """The final collection of each document, so that no page is in both (see the module docstring).

        Moves happen before the batch is written: a failure in between leaves the page in one collection
        (with its previous content), never in both and never in neither.
        """
        store = self.store
        articles, quarantine = list(batches["articles"]), []
        spam = batches["quarantine"]
        in_articles = store.existing_ids([d["_id"] for d in spam if d.get("_id")], "articles") if spam else set()
        reviews: dict[str, dict | None] = {}  # _id -> review of a released article, None: not released
        for doc in spam:
            _id = doc.get("_id")
            if _id not in in_articles:
                quarantine.append(doc)
                continue
            if _id not in reviews:
                stored = store.get("articles", _id) or {}
                review = stored.get("review")
                released = isinstance(review, dict) and review.get("released") is True
                reviews[_id] = review if released else None
                if not released and stored:
                    store.move(_id, "articles", "quarantine")  # stamps kept; the upsert below updates it
                    self.stats.inc_value("gongkai/store/moved_to_quarantine")
            if reviews[_id] is not None:
                articles.append({**doc, "review": reviews[_id]})  # the person's decision outlives re-crawls
                self.stats.inc_value("gongkai/store/kept_released")
            else:
                quarantine.append(doc)
        ids = list(dict.fromkeys(d["_id"] for d in articles if d.get("_id")))
        in_quarantine = store.existing_ids(ids, "quarantine") if ids else set()
        if in_quarantine:
            also_articles = store.existing_ids(in_quarantine, "articles")
            for _id in in_quarantine:
                if _id in also_articles:
                    store.delete("quarantine", _id)
                    self.stats.inc_value("gongkai/store/stale_copy_removed")
                else:
                    store.move(_id, "quarantine", "articles")
                    self.stats.inc_value("gongkai/store/moved_to_articles")
        return {"articles": articles, "quarantine": quarantine}

    def _available(self) -> bool:
        if self.store is None and self._opener is not None and time.monotonic() >= self._down_until:
            try:
                self.store = self._opener()
            except Exception as exc:
                if is_unusable(exc):
                    self._unusable(exc)
                else:
                    self._report("open", exc, "could not open the store")
                self._mark_down()
        return self.store is not None and time.monotonic() >= self._down_until

    def _mark_down(self) -> None:
        self._down_until = time.monotonic() + self.retry_seconds

    def _replay(self) -> None:
        if not self._available():
            return
        outcomes: dict[str, str] = {}
        sites: dict[str, Any] = {}
        try:
            counts = self.spool.replay(self.store, self.batch_size, outcomes, sites,
                                       route=lambda collection, docs: self._routed({collection: docs}))
        except Exception as exc:
            self._failed("replay of the spool", exc)
            return
        self._spool_pending = False
        if counts.get("replayed"):
            logger.info("store: replayed %d spooled documents: %s", counts["replayed"], counts)
            self.stats.inc_value("gongkai/store/replayed", counts["replayed"])
            self._count(counts, outcomes, sites)

    def _write(self, collection: str, docs: list[dict], now: datetime) -> None:
        if self._available():
            outcomes: dict[str, str] = {}
            try:
                counts = upsert_or_reject(self.store, docs, collection, now,
                                          lambda d, e: self.spool.reject(collection, d, e), outcomes)
            except Exception as exc:
                self._failed(f"bulk upsert of {len(docs)} documents into {collection}", exc)
            else:
                self._count(counts, outcomes, {d["_id"]: d.get("site") for d in docs if d.get("_id")})
                return
        self._to_spool(collection, docs, now)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.inc_value("gongkai/store/errors")
        if is_unusable(exc):
            self._unusable(exc)
        elif is_outage(exc):
            self._report(what.split(" ", 1)[0], exc,
                         f"{what} failed, store unavailable; spooling for {self.retry_seconds:.0f}s")
        else:
            self._report(what.split(" ", 1)[0], exc, f"{what} failed; spooling", traceback=True)
        self._mark_down()

    def _unusable(self, exc: BaseException, *, at_open: bool = False) -> None:
        """The store is not itself (errors.StoreUnusable): stop. At open, before anything is fetched."""
        message = one_line(exc)
        self.stats.set_value("gongkai/store/unusable", 1)
        self._down_until = math.inf  # never tried again this run; batches in hand go to the spool
        if at_open:
            logger.error("store: %s; the crawl stops before fetching anything", message)
            self.stopping = StoreUnusable.reason
            raise CloseSpider(StoreUnusable.reason)
        self._request_stop(StoreUnusable.reason, f"{message}; the documents in hand go to the spool "
                           f"{self.spool.directory}")

    def _request_stop(self, reason: str, message: str) -> None:
        if self.stopping is not None:
            return
        self.stopping = reason
        self.stats.inc_value(f"gongkai/alert/{reason}")
        logger.error("ALERT %s: %s", reason, message)
        self._stop(reason)

    def _report(self, kind: str, exc: BaseException, what: str, *, traceback: bool = False) -> None:
        """Log each distinct error (what failed, its type and message) once, with its real cause; repeats go to
        DEBUG (they are counted in the stats): a full disk is one line, not one traceback per item."""
        key = f"{kind}:{type(exc).__name__}:{re.sub(r'[0-9]+', '#', str(exc))[:80]}"  # "next try in 59s" repeats
        first = key not in self._reported
        self._reported.add(key)
        logger.log(logging.WARNING if first else logging.DEBUG, "store: %s: %s", what, one_line(exc),
                   exc_info=exc if first and traceback else None)

    def _lose(self, n: int) -> None:
        if "lost" not in self._reported:
            self._reported.add("lost")
            logger.error("store: documents can be neither stored nor spooled and are lost (counted in "
                         "gongkai/store/lost)")
        self.stats.inc_value("gongkai/store/lost", n)

    def _to_spool(self, collection: str, docs: list[dict], now: datetime) -> None:
        try:
            self.spool.append(collection, docs, now)
        except Exception as exc:  # the disk refuses too: keep them in memory (bounded) for the next flush
            self.stats.inc_value("gongkai/store/spool_errors")
            self._report("spool", exc, f"writing the spool in {self.spool.directory} failed; documents are held "
                         f"in memory (at most {self.max_buffered})")
            room = max(0, self.max_buffered - self._buffered)
            self._buffer[collection].extend(docs[:room])
            self._buffered += min(room, len(docs))
            if len(docs) > room:
                self._lose(len(docs) - room)
            return
        self._spool_pending = True
        self.stats.inc_value("gongkai/store/spooled", len(docs))

    def _count(self, counts: dict[str, int], outcomes: dict[str, str], sites: dict[str, Any]) -> None:
        for outcome, n in counts.items():
            if outcome != "replayed" and n:
                self.stats.inc_value(f"gongkai/store/{outcome}", n)
        # One change per site and outcome, not per document: from the writer thread each change is a call
        # handed to the reactor's thread.
        per_site = Counter((sites.get(_id), outcome) for _id, outcome in outcomes.items())
        for (site, outcome), n in per_site.items():
            if site:
                self.stats.inc_value(f"gongkai/site/{site}/store/{outcome}", n)
