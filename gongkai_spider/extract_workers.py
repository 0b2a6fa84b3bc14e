"""Article extraction in worker processes, so a crawl uses a second core and a pathological page cannot freeze it.

Scrapy runs a crawl on one thread; extraction (``extract.page.extract_page``: lxml parse and tree walks, about
1 ms of pure Python per page) is the largest single share of it. It is a pure function of the page's bytes, URL
and the site's config, so ``ExtractionPool`` runs it in ``GONGKAI_EXTRACT_WORKERS`` processes of a
``ProcessPoolExecutor`` (spawned, with the extraction code loaded and the site config sent once, at start)
while the crawl's own process goes on downloading, storing and scheduling.

Faults, each counted by the caller (the spider's ``_extract``):

- a page that takes longer than ``GONGKAI_EXTRACT_TIMEOUT`` seconds: its worker is killed (``ExtractTimeout``),
  the pool restarted, and the page left pending instead of blocking the crawl, as inline extraction would;
- a worker that dies (killed by the OOM killer, a crash in a C library): the workers are restarted and the
  pages they had sent again; a page under which a worker died twice is given up (``ExtractCrashed``), never
  extracted in the crawl's own process, where it could kill the crawl; after ``MAX_RESTARTS`` deaths the
  workers are given up for the run and every page is extracted inline (``extract`` returns None);
- an exception raised by the extraction itself is re-raised by ``extract``, exactly as inline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import signal
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3

_site: Any = None  # in a worker: the site config the pool was started with


class ExtractGaveUp(Exception):
    """The workers gave up on a page (``reason``: ``timeout`` or ``crashed``); it is not extracted inline."""

    reason = "gave_up"


class ExtractTimeout(ExtractGaveUp):
    """The page took longer than the pool's timeout; its worker was killed."""

    reason = "timeout"


class ExtractCrashed(ExtractGaveUp):
    """A worker died twice while it had the page: it would likely kill the crawl's process too."""

    reason = "crashed"


def _start_worker(site: Any) -> None:
    global _site
    _site = site
    import gongkai_spider.extract.page  # noqa: F401 - loaded once, before the first page arrives
    # Ctrl-C reaches the whole process group: the crawl decides when to stop, not its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _extract_in_worker(body: bytes, url: str, encoding: str | None, status: int) -> dict:
    from gongkai_spider.extract.page import extract_page

    return extract_page(body, url, encoding=encoding, status=status, site=_site)


def resolve_workers(value: Any, cpu_count: int | None) -> int:
    """``GONGKAI_EXTRACT_WORKERS``: a number >= 0, or ``auto`` (one worker when the machine has a second core,
    none otherwise). Raises ValueError for anything else."""
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return 1 if (cpu_count or 1) >= 2 else 0
    if not text.isdigit():
        raise ValueError(f"GONGKAI_EXTRACT_WORKERS must be a number >= 0 or auto, not {value!r}")
    return int(text)


def _context() -> multiprocessing.context.BaseContext:
    # spawn, never fork: the crawl's process has threads, sockets and an SQLite connection. Not forkserver
    # either: spawned workers are the crawl's own children, so their CPU time counts in the crawl's rusage.
    return multiprocessing.get_context("spawn")


class ExtractionPool:
    """``workers`` processes running ``function(*args)`` (by default the page extraction) with a timeout."""

    def __init__(self, workers: int, timeout: float, site: Any = None,
                 function: Callable[..., dict] = _extract_in_worker) -> None:
        self.workers, self.timeout, self.site, self.function = workers, timeout, site, function
        self.restarts = 0
        self.disabled = False
        self._executor: ProcessPoolExecutor | None = None
        self._killed: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()  # executors _restart stopped
        self._seq = itertools.count()
        self._in_flight: dict[int, ProcessPoolExecutor] = {}  # pages awaited, oldest first

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_start_worker,
                                                 initargs=(self.site,))
        return self._executor

    async def extract(self, *args: Any) -> dict | None:
        """``function(*args)`` in a worker; None when the workers are given up for the run (the caller then
        extracts inline). Raises ExtractTimeout when the page took too long, ExtractCrashed when a worker died
        twice under it, and whatever the function itself raised."""
        deaths = 0
        while not self.disabled:
            executor = self._pool()
            try:
                future = executor.submit(self.function, *args)
            except (BrokenProcessPool, RuntimeError) as exc:  # broken, or shut down by another page meanwhile
                self._restart(executor, exc)
                continue
            try:
                return await self._wait(executor, future)
            except BrokenProcessPool as exc:
                if executor not in self._killed:  # a worker died: this page may be why
                    deaths += 1
                    self._restart(executor, exc)
                if deaths >= 2:
                    raise ExtractCrashed("an extraction worker died twice on this page") from None
        return None

    async def _wait(self, executor: ProcessPoolExecutor, future: Future) -> dict:
        """The result of ``future``. The clock runs from submission, but only the oldest page in flight on
        ``executor`` is blamed for a timeout (with one worker, the one it is running): a page queued behind a
        slow one waits on; once the slow one is killed it is sent again (``extract``)."""
        seq = next(self._seq)
        self._in_flight[seq] = executor
        waiting = asyncio.wrap_future(future)
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(waiting), self.timeout)
                except asyncio.CancelledError:
                    if future.cancelled() and executor in self._killed:  # dropped by _terminate: send it again
                        raise BrokenProcessPool("workers restarted") from None
                    raise
                except TimeoutError:
                    oldest = next(s for s, e in self._in_flight.items() if e is executor)
                    if oldest == seq:
                        waiting.add_done_callback(_consume)  # it ends as BrokenProcessPool: nobody reads it
                        self._restart(executor, None)
                        raise ExtractTimeout(f"extraction took more than {self.timeout:g} s") from None
        finally:
            del self._in_flight[seq]

    def _restart(self, executor: ProcessPoolExecutor, cause: BaseException | None) -> None:
        """Kill ``executor``'s workers and start afresh on next use (once per executor). ``cause``: why it
        broke; None for a page that timed out (the page's fault, not the pool's). Pages it was running for
        others are sent again to the new workers."""
        if executor in self._killed:
            return
        self._killed.add(executor)
        if executor is self._executor:
            self._executor = None
        _terminate(executor)
        if cause is None:
            return
        self.restarts += 1
        if self.restarts >= MAX_RESTARTS:
            self.disabled = True
            logger.error("extraction workers failed %d times (%s); extracting in the crawl's process from now on",
                         self.restarts, cause)
        else:
            logger.warning("an extraction worker died (%s); restarting the workers", cause)

    def close(self) -> None:
        if self._executor is not None:
            _terminate(self._executor)
            self._executor = None


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop ``executor`` now: its workers are killed rather than waited for (one may be stuck on a page)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    executor.shutdown(wait=True)  # the pages it still had end as BrokenProcessPool: extract sends them again
