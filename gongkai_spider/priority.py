"""The crawl's helpers run below the crawl's own thread: ``GONGKAI_HELPER_NICE``.

A crawl's pace is bounded by its reactor thread (downloads, the spider, the pipelines). Beside it run the
extraction workers (processes, extract_workers.py) and the store's writer thread (pipelines/store.py). On a
machine with as many cores as busy threads, all three take turns on the cores, and each turn the reactor
thread waits for is time the whole crawl waits. The helpers have slack (pages queue for a worker, batches for
the writer), so they are given a higher nice value: when they compete for a core with the reactor thread, it
wins, and they run in the time it leaves. Measured on two cores (docs/PERFORMANCE.md), the reactor thread's
time waiting for a core fell from 1.2-1.7 s to 0.7-0.8 s per crawl of 5,209 pages into a 1M store.

Linux keeps a nice value per thread, so a thread can lower its own priority alone; elsewhere a thread's
nice value is its process's, and only the worker processes are lowered.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_HELPER_NICE = 5
MAX_NICE = 19


def resolve_helper_nice(value: Any) -> int:
    """``GONGKAI_HELPER_NICE``: how much higher the helpers' nice value is than the crawl's, 0 (off) to 19.
    Raises ValueError for anything else."""
    text = str(DEFAULT_HELPER_NICE if value is None else value).strip()
    if not text.isdigit() or int(text) > MAX_NICE:
        raise ValueError(f"GONGKAI_HELPER_NICE must be a whole number from 0 to {MAX_NICE}, not {value!r}")
    return int(text)


def lower_process_priority(nice: int) -> None:
    """Add ``nice`` to this process's nice value (an extraction worker, before it starts any thread: its
    threads inherit it). Never raises: a helper at the crawl's priority still works."""
    if nice <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(nice)
    except OSError as exc:
        logger.debug("could not lower the priority of process %d: %s", os.getpid(), exc)


def lower_thread_priority(nice: int) -> None:
    """Add ``nice`` to the calling thread's nice value, on Linux (where it is the thread's own); elsewhere
    nothing, as it would lower the whole process. Never raises."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(MAX_NICE, os.getpriority(os.PRIO_PROCESS, thread) + nice))
    except OSError as exc:
        logger.debug("could not lower the priority of thread %d: %s", thread, exc)


def helper_thread_factory(nice: int) -> Callable[..., threading.Thread]:
    """A ``threading.Thread`` factory (Twisted's ``ThreadPool.threadFactory``) for daemon threads that lower
    their own priority by ``nice`` before running their target."""

    def factory(*args: Any, target: Callable[..., Any], **kwargs: Any) -> threading.Thread:
        def run(*run_args: Any, **run_kwargs: Any) -> None:
            lower_thread_priority(nice)
            target(*run_args, **run_kwargs)

        kwargs.setdefault("daemon", True)
        return threading.Thread(*args, target=run, **kwargs)

    return factory
