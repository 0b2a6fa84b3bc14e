"""The near-duplicate index loaded in a thread of its own: the same result as loading it in open_spider, the
first lookup waits for it, a failure is reported (never an index silently left empty), a crawl that closes
before any item needed the index stops the load."""

from __future__ import annotations

import itertools
import random
import threading
from contextlib import contextmanager

import pytest
from scrapy.utils.test import get_crawler
from test_dedup import COMMUNITY, FLOOD, SERVICE, article

from gongkai_spider.stats import CounterStats
from pipelines.dedup import DedupPipeline, fingerprint, fingerprint_fields


class ThreadedStore:
    """A CandidateSource whose fingerprints are read by ``simhash_reader`` (the pipeline's thread); records
    the thread that read them and whether the reader was closed. ``pairs`` replaces the stored pairs."""

    def __init__(self, docs: dict[str, tuple[str, str]], pairs=None, gate: threading.Event | None = None) -> None:
        self.docs = {k: (fingerprint(*v)[1], *v) for k, v in docs.items()}
        self.pairs = pairs if pairs is not None else [
            (value, fingerprint_fields(title, body)["simhash2"]) for value, title, body in self.docs.values()]
        self.gate = gate
        self.read_in: int | None = None
        self.closed = False

    def simhashes(self):
        raise AssertionError("read on the reactor's thread while a reader is offered")

    def simhash_reader(self):
        @contextmanager
        def pairs():
            self.read_in = threading.get_ident()
            if self.gate is not None:
                self.gate.wait(5)
            try:
                yield self.pairs
            finally:
                self.closed = True

        return pairs

    def texts(self, *, ids=(), simhashes=()):
        ids, simhashes = set(ids), set(simhashes)
        return [(k, v, t, b) for k, (v, t, b) in self.docs.items() if k in ids or v in simhashes]


def test_the_index_is_loaded_in_another_thread_and_the_first_lookup_waits_for_it() -> None:
    stats = CounterStats()
    gate = threading.Event()
    store = ThreadedStore({"old": ("社区建设再上新台阶", COMMUNITY), "flood": ("关于做好主汛期防汛工作的通知", FLOOD)},
                          gate=gate)
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    assert stats.get_value("gongkai/dedup/index_loaded") is None  # still loading: open_spider did not wait
    gate.set()
    assert pipeline.process_item(article("new", COMMUNITY))["near_duplicate_of"] == "old"
    assert store.read_in not in (None, threading.get_ident()) and store.closed
    assert stats.get_value("gongkai/dedup/index_loaded") == 2
    assert pipeline.process_item(article("service", SERVICE))["near_duplicate_of"] is None
    pipeline.close_spider()


def test_a_failed_load_is_reported_at_the_first_lookup_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken():
        yield 1, 2
        raise ConnectionError("store went away")

    stats = CounterStats()
    store = ThreadedStore({"old": ("社区建设再上新台阶", COMMUNITY)}, pairs=broken())
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    assert pipeline.process_item(article("new", COMMUNITY))["near_duplicate_of"] is None  # nothing was loaded
    assert stats.get_value("gongkai/dedup/index_error") == 1
    assert stats.get_value("gongkai/dedup/index_loaded") == 0
    assert "could not read stored fingerprints" in caplog.text and "store went away" in caplog.text
    assert store.closed
    assert pipeline.process_item(article("again", COMMUNITY))["near_duplicate_of"] == "new"


def test_a_failed_load_is_reported_at_close_when_no_item_came(caplog: pytest.LogCaptureFixture) -> None:
    stats = CounterStats()
    store = ThreadedStore({}, pairs=[(1, 2), ("not a number", 3)])
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    pipeline.close_spider()
    assert stats.get_value("gongkai/dedup/index_error") == 1
    assert "could not read stored fingerprints" in caplog.text


def test_closing_stops_a_load_no_item_needed() -> None:
    stats = CounterStats()
    store = ThreadedStore({}, pairs=itertools.repeat((1, 2)))  # endless: only the stop request ends it
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    pipeline.close_spider()
    assert store.closed
    assert stats.get_value("gongkai/dedup/index_loaded") is None and not stats.get_value("gongkai/dedup/index_error")


def test_a_crawl_on_sqlite_loads_on_its_own_connection_when_the_store_can_open_one(tmp_path) -> None:
    from gongkai_spider.storage import open_store

    db = str(tmp_path / "g.sqlite3")
    store = open_store({"GONGKAI_DB": db, "MONGO_URI": ""})
    if not callable(getattr(store, "reopener", None)):
        store.close()
        pytest.skip("this store opens no second connection: the index is loaded in open_spider")
    title = "社区建设再上新台阶"
    store.upsert_many([{"_id": "stored", "url": "http://x.gov.cn/stored.html", "site": "x", "title": title,
                        "body": COMMUNITY, **fingerprint_fields(title, COMMUNITY)}])
    store.close()

    crawler = get_crawler(settings_dict={"GONGKAI_DB": db, "MONGO_URI": ""})
    crawler.stats.open_spider()
    pipeline = DedupPipeline.from_crawler(crawler)
    pipeline.open_spider()
    assert pipeline._load is not None  # in a thread of its own
    assert pipeline.process_item(article("fresh", COMMUNITY))["near_duplicate_of"] == "stored"
    assert crawler.stats.get_value("gongkai/dedup/index_loaded") == 1
    pipeline.close_spider()
    crawler._gongkai_store.close()


def test_a_load_of_several_chunks_is_all_or_nothing() -> None:
    from pipelines.simhash_index import _LOAD_CHUNK, SimhashIndex

    rng = random.Random(7)
    pairs = [(rng.getrandbits(64) - 2**63, rng.getrandbits(64) - 2**63) for _ in range(2 * _LOAD_CHUNK + 5)]
    index = SimhashIndex(6)
    assert index.load(pairs) == len(pairs) and len(index) == len(pairs)
    for value, _second in pairs[::_LOAD_CHUNK // 2]:  # one from every chunk, the last one's included
        assert [d for d, _row in index.candidates(value)][:1] == [0]

    broken = SimhashIndex(6)
    with pytest.raises(ValueError):
        broken.load([*pairs, ("not a number", 0)])  # fails after two full chunks were written
    assert len(broken) == 0 and broken.candidates(pairs[0][0]) == []
    broken.add("new", pairs[0][0])
    assert broken.nearest(pairs[0][0]) == "new"


def test_the_scan_connection_keeps_a_small_page_cache(tmp_path) -> None:
    from gongkai_spider.storage.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "g.sqlite3")
    docs = [{"_id": f"d{i}", "url": f"http://x.gov.cn/{i}.html", "site": "x", "title": "通知", "body": body,
             **fingerprint_fields("通知", body)} for i, body in enumerate((COMMUNITY, FLOOD))]
    store.upsert_many(docs)
    assert sorted(store.scan_simhash_pairs()) == sorted(store.iter_simhash_pairs())
    assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -2000
    store.close()
