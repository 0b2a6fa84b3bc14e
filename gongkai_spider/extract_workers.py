"""Article extraction in worker processes, so a crawl uses a second core and a pathological page cannot freeze it.

Scrapy runs a crawl on one thread; extraction (``extract.page.extract_page``: lxml parse and tree walks, about
1 ms of pure Python per page) is the largest single share of it. It is a pure function of the page's bytes, URL
and the site's config, so ``ExtractionPool`` runs it in ``GONGKAI_EXTRACT_WORKERS`` spawned processes (the
extraction code loaded and the site config sent once, at start) while the crawl's own process goes on
downloading, storing and scheduling.

Each worker is one socket pair, driven by the crawl's own asyncio event loop: pages go out as length-prefixed
pickles (``multiprocessing.Connection`` framing, which the worker reads and writes), results come back the same
way, in order. No thread is involved on the crawl's side, so a page costs the crawl only its pickling (a
``ProcessPoolExecutor`` costs about five times as much in thread hand-offs).

Given a ``pipelines.dedup.WorkerLookup`` (the SQLite store, near-duplicates on), each worker also holds the stored
articles' fingerprints and looks every article page it extracts up among them; ``ExtractionPool.call`` runs
``look_up_in_worker`` for a text it did not extract (the dedup stage asks for those).

Faults, each counted by the caller (the spider's ``_extract``):

- a page a worker has been on for longer than ``GONGKAI_EXTRACT_TIMEOUT`` seconds: the worker is killed,
  the page given up (``ExtractTimeout``) instead of blocking the crawl as inline extraction would, and the
  pages queued behind it go to a new worker;
- a worker that dies (killed by the OOM killer, a crash in a C library): a new one takes its pages; a page
  under which a worker died twice is given up (``ExtractCrashed``), never extracted in the crawl's own
  process, where it could kill the crawl; after ``MAX_RESTARTS`` deaths the workers are given up for the run
  and ``extract`` returns None (the caller extracts inline);
- an exception raised by the extraction itself is raised by ``extract``, exactly as inline.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gongkai_spider.priority import lower_process_priority

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3


class ExtractGaveUp(Exception):
    """The workers gave up on a page (``reason``: ``timeout`` or ``crashed``); it is not extracted inline."""

    reason = "gave_up"


class ExtractTimeout(ExtractGaveUp):
    """A worker spent longer than the pool's timeout on the page; it was killed."""

    reason = "timeout"


class ExtractCrashed(ExtractGaveUp):
    """A worker died twice while it had the page: it would likely kill the crawl's process too."""

    reason = "crashed"


def resolve_workers(value: Any, cpu_count: int | None) -> int:
    """``GONGKAI_EXTRACT_WORKERS``: a number >= 0, or ``auto`` (one worker when the machine has a second core,
    none otherwise). Raises ValueError for anything else."""
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return 1 if (cpu_count or 1) >= 2 else 0
    if not text.isdigit():
        raise ValueError(f"GONGKAI_EXTRACT_WORKERS must be a number >= 0 or auto, not {value!r}")
    return int(text)


# -- the worker process -----------------------------------------------------------------------------------

_site: Any = None  # in a worker: the site config it was started with
_lookups: Any = None  # in a worker: pipelines.dedup.WorkerLookups, when the pool was given a WorkerLookup


def _extract_in_worker(body: bytes, url: str, encoding: str | None, status: int,
                       listing: tuple[Any, dict | None] | None = None) -> dict:
    """``extract_page`` of an article page; with ``listing`` = (the column's site config, the listing request
    description), ``extract_listing`` of a listing page."""
    if listing is not None:
        from gongkai_spider.extract.listing import extract_listing

        site, request = listing
        return extract_listing(body, url, encoding=encoding, site=site, request=request)
    from gongkai_spider.extract.page import extract_page
    from pipelines.dedup import page_fingerprint

    result = extract_page(body, url, encoding=encoding, status=status, site=_site)
    if result.get("kind") == "article":
        # The fingerprint's 3-gram hashing (and with a WorkerLookup, the page's lookup among the stored
        # articles) here instead of on the crawl's thread; the dedup stage checks the fingerprint.
        if _lookups is not None:
            result["fingerprint"], result["stored_near"] = _lookups.page(result.get("title"), result.get("body"))
        else:
            result["fingerprint"] = page_fingerprint(result.get("title"), result.get("body"))
    return result


def look_up_in_worker(text: str, simhash: int, second: int) -> tuple | None:
    """``WorkerLookups.look_up`` of a text the worker did not extract itself (an article of several pages, one
    whose attachment text joined it): the crawl's dedup stage asks, through ``ExtractionPool.call``."""
    return _lookups.look_up(text, simhash, second) if _lookups is not None else None


class _Call(NamedTuple):
    """A request for another function than the pool's own (``ExtractionPool.call``)."""

    function: Callable[..., Any]
    args: tuple


def _serve(conn: Any, site: Any, function: Callable[..., Any], lookup: Any = None, nice: int = 0) -> None:
    """A worker's life: read a pickled argument tuple, answer ``(True, result)`` or ``(False, exception)``.
    ``lookup``: a ``pipelines.dedup.WorkerLookup``, opened here (its stored fingerprints load meanwhile).
    ``nice``: added to the worker's nice value first, before it starts a thread (gongkai_spider/priority.py)."""
    global _site, _lookups
    lower_process_priority(nice)
    _site = site
    # Ctrl-C reaches the whole process group: the crawl decides when to stop, not its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if function is _extract_in_worker:  # loaded before the first page arrives
        import numpy  # noqa: F401  (the simhashes' fast path; see pipelines.dedup.simhash_pair_unsigned)

        import pipelines.dedup  # noqa: F401
        if lookup is not None:  # first: the stored fingerprints load in a thread while the rest is imported
            try:
                _lookups = lookup.open()
            except Exception:  # pages go without stored lookups: the crawl's own dedup stage makes them
                logger.warning("near-duplicate lookups in the extraction worker: cannot start", exc_info=True)
        import gongkai_spider.extract.listing
        import gongkai_spider.extract.page  # noqa: F401
    while True:
        try:
            request = pickle.loads(conn.recv_bytes())
        except EOFError:
            return  # the crawl is gone or closed the pool
        try:
            if isinstance(request, _Call):
                answer: tuple[bool, Any] = (True, request.function(*request.args))
            else:
                answer = (True, function(*request))
        except Exception as exc:
            answer = (False, exc)
        try:
            payload = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception: say what it was
            payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        conn.send_bytes(payload)


# -- the crawl's side -------------------------------------------------------------------------------------


@dataclass
class _Page:
    payload: bytes
    future: asyncio.Future
    deaths: int = 0  # workers that died while it was their current page


def _frame(payload: bytes) -> bytes:
    """``multiprocessing.Connection.send_bytes``'s framing: big-endian length, or -1 and a 64-bit length."""
    n = len(payload)
    return (struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)) + payload


@dataclass(eq=False)
class _Worker(asyncio.Protocol):
    pool: ExtractionPool
    process: Any
    sent: deque[_Page] = field(default_factory=deque)  # in the worker's order: sent[0] is the current page
    transport: Any = None
    buffer: bytearray = field(default_factory=bytearray)
    timer: Any = None
    killed: bool = False  # stopped by the pool (timeout, close): not a death

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, page: _Page) -> None:
        self.sent.append(page)
        self.transport.write(_frame(page.payload))
        if len(self.sent) == 1:
            self._start_clock()

    def _start_clock(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.pool.timeout, self.pool._timed_out, self, self.sent[0])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 4:
            (n,) = struct.unpack_from("!i", self.buffer)
            start = 4
            if n == -1:
                if len(self.buffer) < 12:
                    return
                (n,) = struct.unpack_from("!Q", self.buffer, 4)
                start = 12
            if len(self.buffer) < start + n:
                return
            payload = bytes(self.buffer[start:start + n])
            del self.buffer[:start + n]
            self._answered(payload)

    def _answered(self, payload: bytes) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        page = self.sent.popleft()
        if self.sent:
            self._start_clock()  # the worker went straight on to the next page
        if page.future.done():
            self.pool._dispatch()
            return
        try:
            ok, value = pickle.loads(payload)
        except Exception as exc:
            ok, value = False, exc
        self.pool.answered += 1
        if ok:
            page.future.set_result(value)
        else:
            page.future.set_exception(value)
        self.pool._dispatch()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pool._lost(self)

    def stop(self) -> None:
        self.killed = True
        if self.process.is_alive():
            self.process.kill()
        if self.transport is not None:
            self.transport.close()


class ExtractionPool:
    """``workers`` processes running ``function(*args)`` (by default the page extraction) with a timeout."""

    def __init__(self, workers: int, timeout: float, site: Any = None,
                 function: Callable[..., Any] = _extract_in_worker, lookup: Any = None, nice: int = 0) -> None:
        self.workers, self.timeout, self.site, self.function = max(1, workers), timeout, site, function
        self.lookup = lookup  # pipelines.dedup.WorkerLookup for the workers, or None
        self.nice = nice  # added to each worker's nice value (GONGKAI_HELPER_NICE)
        self.restarts = 0
        self.started = 0  # worker processes started, restarts included
        self.answered = 0  # pages the workers extracted (results and the extraction's own errors)
        self.queued_max = 0  # the most pages ever waiting for a worker at once (a crawl downloading far ahead)
        self.disabled = False
        self._ready: list[_Worker] = []
        self._starting = 0
        self._queue: deque[_Page] = deque()  # pages no worker has yet
        # Listing pages no worker has yet, given out before ``_queue``: a listing page queued behind a thousand
        # article pages holds back its column's next requests, and the crawl's downloads run dry meanwhile.
        self._urgent: deque[_Page] = deque()
        self._context = multiprocessing.get_context("spawn")  # never fork: the crawl has threads and sockets
        self._closed = False
        self._starts: set[asyncio.Future] = set()

    @property
    def proven(self) -> bool:
        """A worker is up and the workers have extracted a page within the timeout: a page sent now neither
        waits for a start nor goes to workers that never finish one."""
        return self.answered > 0 and bool(self._ready)

    def start_soon(self) -> None:
        """Start the workers in the background (the first article pages then find them running)."""
        if self._claim_start():
            task = asyncio.ensure_future(self._start_worker())
            self._starts.add(task)  # a task nobody holds may be collected before it ran
            task.add_done_callback(self._starts.discard)

    async def call(self, function: Callable[..., Any], *args: Any, urgent: bool = False) -> Any:
        """``function(*args)`` (a module-level function: it is sent by name) in a worker, as ``extract`` runs the
        pool's own function: None when the workers are given up, the same exceptions, ``urgent`` the same."""
        return await self._submit(_Call(function, args), urgent=urgent)

    async def extract(self, *args: Any, urgent: bool = False) -> Any:
        """``function(*args)`` in a worker; None when the workers are given up for the run (the caller then
        extracts inline). Raises ExtractTimeout when the page took too long, ExtractCrashed when a worker died
        twice under it, and whatever the function itself raised. An ``urgent`` page goes to a worker before
        every page queued without it."""
        return await self._submit(args, urgent=urgent)

    async def _submit(self, request: tuple, urgent: bool = False) -> Any:
        if self.disabled or self._closed:
            return None
        page = _Page(pickle.dumps(request, pickle.HIGHEST_PROTOCOL), asyncio.get_running_loop().create_future())
        (self._urgent if urgent else self._queue).append(page)
        self._dispatch()
        self.queued_max = max(self.queued_max, len(self._queue) + len(self._urgent))
        if self._claim_start():
            await self._start_worker()
        return await page.future

    def _claim_start(self) -> bool:
        """Whether another worker is wanted; if so it counts as starting from now, not from when its start
        first runs: the listing pages of a crawl's first loop turn each ask before any start has run, and each
        would otherwise start a worker of its own."""
        if self.disabled or self._closed or len(self._ready) + self._starting >= self.workers:
            return False
        self._starting += 1
        return True

    async def _start_worker(self) -> None:
        """Start one worker claimed by ``_claim_start`` (uncounted here when it is up or failed)."""
        try:
            parent, child = self._context.Pipe(duplex=True)  # a socket pair
            process = self._context.Process(target=_serve,
                                            args=(child, self.site, self.function, self.lookup, self.nice),
                                            daemon=True,
                                            name="gongkai-extract")
            process.start()
            self.started += 1
            child.close()
            sock = socket.socket(fileno=os.dup(parent.fileno()))
            parent.close()
            worker = _Worker(self, process)
            await asyncio.get_running_loop().create_connection(lambda: worker, sock=sock)
        except Exception as exc:  # no process can be started (out of memory, process limit)
            logger.error("cannot start an extraction worker (%s); extracting in the crawl's process", exc)
            self.disabled = True
            self._release_queue()
            return
        finally:
            self._starting -= 1
        if self._closed or self.disabled:
            worker.stop()
            return
        self._ready.append(worker)
        self._dispatch()

    def _dispatch(self) -> None:
        """Give queued pages to the workers with the fewest in hand (each keeps a couple, so it never waits)."""
        while (self._urgent or self._queue) and self._ready:
            worker = min(self._ready, key=lambda w: len(w.sent))
            if len(worker.sent) >= 2:
                return
            page = (self._urgent or self._queue).popleft()
            if not page.future.done():
                worker.send(page)

    def _timed_out(self, worker: _Worker, page: _Page) -> None:
        if not worker.sent or worker.sent[0] is not page:
            return
        worker.sent.popleft()
        if not page.future.done():
            page.future.set_exception(ExtractTimeout(f"a worker spent more than {self.timeout:g} s on the page"))
        worker.stop()  # connection_lost hands its other pages to a new worker

    def _lost(self, worker: _Worker) -> None:
        """A worker's connection ended: it was stopped by the pool, or it died with its current page."""
        if worker in self._ready:
            self._ready.remove(worker)
        pages = list(worker.sent)
        worker.sent.clear()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(1)
        if not worker.killed and not self._closed:
            self.restarts += 1
            if pages:
                pages[0].deaths += 1
            if self.restarts >= MAX_RESTARTS:
                self.disabled = True
                logger.error("extraction workers died %d times (exit code %s); extracting in the crawl's process "
                             "from now on", self.restarts, worker.process.exitcode)
            else:
                logger.warning("an extraction worker died (exit code %s); starting another",
                               worker.process.exitcode)
        for page in reversed(pages):
            if page.future.done():
                continue
            if page.deaths >= 2:
                page.future.set_exception(ExtractCrashed("an extraction worker died twice on this page"))
            elif self.disabled or self._closed:
                page.future.set_result(None)
            else:
                self._queue.appendleft(page)
        if self.disabled or self._closed:
            self._release_queue()
            return
        if self._urgent or self._queue:
            self.start_soon()
        self._dispatch()

    def close(self) -> None:
        """Stop every worker (pages still waiting get None); called when the spider closes."""
        self._closed = True
        for worker in list(self._ready):
            worker.stop()
            worker.process.join(1)
        self._ready.clear()
        self._release_queue()

    def _release_queue(self) -> None:
        """Pages no worker will take: None (their callers extract them inline)."""
        for queue in (self._urgent, self._queue):
            while queue:
                page = queue.popleft()
                if not page.future.done():
                    page.future.set_result(None)
