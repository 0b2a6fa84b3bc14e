"""Runs StorePipeline with its writer thread under a real asyncio reactor and prints what happened as JSON.

Used by tests/test_store_writer.py in a subprocess (a reactor cannot be installed twice in one process).
Usage: python tests/store_writer_run.py DB SPOOL_DIR DOCS BATCH WRITE_SECONDS [fail] (env WRITER_NICE: the
pipeline's thread_nice, default 0)
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from scrapy.utils.reactor import install_reactor  # noqa: E402

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

from scrapy.utils.defer import deferred_from_coro  # noqa: E402
from test_store_backends import doc  # noqa: E402
from twisted.internet import task  # noqa: E402

from gongkai_spider.items import ArticleItem  # noqa: E402
from gongkai_spider.stats import CounterStats  # noqa: E402
from gongkai_spider.storage.sqlite import SQLiteStore  # noqa: E402
from pipelines.store import StorePipeline  # noqa: E402

db, spool_dir, n_docs, batch, write_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    float(sys.argv[5])
fail = sys.argv[6:] == ["fail"]
writers: list[str] = []
writer_nice: list[int] = []  # the nice value of the thread of each write
stat_threads: set[str] = set()


class SlowStore(SQLiteStore):
    """Each batch takes ``write_seconds``; with ``fail``, every write after the first fails (disk full)."""

    def upsert_many(self, docs, *args, **kwargs):  # type: ignore[no-untyped-def]
        writers.append(threading.current_thread().name)
        writer_nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        time.sleep(write_seconds)
        if fail and len(writers) > 1:
            import sqlite3

            raise sqlite3.OperationalError("database or disk is full")
        return super().upsert_many(docs, *args, **kwargs)

    def reopener(self):  # type: ignore[no-untyped-def]
        return lambda: SlowStore(self.path)


class ThreadedStats(CounterStats):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        stat_threads.add(threading.current_thread().name)
        super().inc_value(key, count, start)


async def main() -> None:
    stats = ThreadedStats()
    pipeline = StorePipeline(stats, SlowStore(db), batch_size=batch, spool_dir=spool_dir, thread=True,
                             retry_seconds=3600, thread_nice=int(os.environ.get("WRITER_NICE", "0")))
    pipeline.open_spider()
    waited, started = [], time.monotonic()
    for i in range(n_docs):
        result = pipeline.process_item(ArticleItem(**doc(i + 1)))
        if inspect.isawaitable(result):
            waited.append(i)
            result = await result
        assert result is not None
    fed = time.monotonic() - started
    await pipeline.close_spider()
    store = SQLiteStore(db)
    print(json.dumps({"writers": writers, "stat_threads": sorted(stat_threads), "waited": waited, "fed": fed,
                      "stored": store.count("articles"), "stats": stats.get_stats(),
                      "main": threading.current_thread().name, "writer_nice": writer_nice,
                      "main_nice": os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}))
    store.close()


task.react(lambda _reactor: deferred_from_coro(main()))
