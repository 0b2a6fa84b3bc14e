"""GONGKAI_HELPER_NICE: the extraction workers and the store's writer thread run below the crawl's thread."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler
from twisted.python.threadpool import ThreadPool

from gongkai_spider.extract_workers import ExtractionPool
from gongkai_spider.priority import DEFAULT_HELPER_NICE, helper_thread_factory, resolve_helper_nice
from pipelines.store import StorePipeline

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _own_nice(_: object) -> dict:  # run in a worker (module level: it is imported there by name)
    return {"nice": os.nice(0)}


def _worker_nice(nice: int) -> int:
    async def go() -> dict:
        pool = ExtractionPool(1, 60, function=_own_nice, nice=nice)
        try:
            return await pool.extract(None)
        finally:
            pool.close()

    return asyncio.run(go())["nice"]


@pytest.mark.parametrize(("value", "expected"), [(None, DEFAULT_HELPER_NICE), ("0", 0), (" 19 ", 19), (7, 7)])
def test_helper_nice_values(value: object, expected: int) -> None:
    assert resolve_helper_nice(value) == expected


@pytest.mark.parametrize("value", ["-1", "20", "high", "1.5", ""])
def test_a_bad_helper_nice_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="GONGKAI_HELPER_NICE"):
        resolve_helper_nice(value)


def test_an_extraction_worker_runs_that_much_nicer_than_the_crawl() -> None:
    base = os.nice(0)
    assert _worker_nice(3) == min(19, base + 3)
    assert _worker_nice(0) == base
    assert os.nice(0) == base  # the crawl's own process is left alone


@linux_only
def test_a_helper_thread_of_a_twisted_pool_lowers_its_own_priority_alone() -> None:
    seen: list[int] = []
    done = threading.Event()
    pool = ThreadPool(1, 1, name="test-helper")
    pool.threadFactory = helper_thread_factory(4)
    pool.start()
    try:
        pool.callInThread(lambda: (seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),
                                   done.set()))
        assert done.wait(10)
    finally:
        pool.stop()
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, base + 4)]
    assert all(t.daemon for t in pool.threads)


def test_the_store_pipeline_takes_the_setting(tmp_path: Path) -> None:
    settings = {"MONGO_URI": "", "GONGKAI_DB": str(tmp_path / "g.sqlite3"), "GONGKAI_SPOOL_DIR": str(tmp_path / "s")}
    assert StorePipeline.from_crawler(get_crawler(settings_dict=settings)).thread_nice == DEFAULT_HELPER_NICE
    settings["GONGKAI_HELPER_NICE"] = "2"
    assert StorePipeline.from_crawler(get_crawler(settings_dict=settings)).thread_nice == 2


def test_the_crawl_threads_wait_for_a_core_is_read_from_its_schedstat(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    import builtins

    from gongkai_spider.extensions import monitor

    real_open = builtins.open
    fake = tmp_path / "schedstat"
    fake.write_text("812345678 4500000000 77\n")
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(
        fake if path == "/proc/thread-self/schedstat" else path, *a, **k))
    assert monitor.thread_wait_seconds() == 4.5
    fake.write_text("")
    assert monitor.thread_wait_seconds() is None
    fake.unlink()
    assert monitor.thread_wait_seconds() is None


def test_a_refused_priority_change_leaves_the_helper_running(monkeypatch: pytest.MonkeyPatch) -> None:
    from gongkai_spider import priority

    def refuse(*_args: object) -> None:
        raise PermissionError("not permitted")

    monkeypatch.setattr(os, "nice", refuse)
    monkeypatch.setattr(os, "setpriority", refuse)
    priority.lower_process_priority(5)  # logged, not raised
    priority.lower_thread_priority(5)
    ran = []
    thread = helper_thread_factory(5)(target=lambda: ran.append(True))
    thread.start()
    thread.join(10)
    assert ran == [True]
