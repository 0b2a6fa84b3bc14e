"""The near-duplicate index loaded in a thread of its own: the same result as loading it in open_spider, the
first lookup waits for it, a failure is reported (never an index silently left empty), a crawl that closes
before any item needed the index stops the load."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from contextlib import contextmanager

import pytest
from busy_thread import busy_thread
from scrapy.utils.test import get_crawler
from test_dedup import COMMUNITY, FLOOD, SERVICE, article

from gongkai_spider.stats import CounterStats
from pipelines.common import attachment_text
from pipelines.dedup import (
    DedupPipeline,
    WorkerLookup,
    fingerprint,
    fingerprint_fields,
    normalize_for_hash,
    page_fingerprint,
)
from pipelines.simhash_index import pair_blocks


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
                yield pair_blocks(self.pairs)
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
    threading.Timer(0.3, gate.set).start()
    assert pipeline.process_item(article("new", COMMUNITY))["near_duplicate_of"] == "old"
    assert 250 <= stats.get_value("gongkai/dedup/index_wait_ms") < 5000  # the first item waited for the load
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
    assert stats.get_value("gongkai/dedup/index_wait_ms") is None  # no item waited


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


def test_a_malformed_block_is_refused_and_adds_nothing() -> None:
    import numpy as np

    from pipelines.simhash_index import SimhashIndex

    good = np.array([5, 6, 7, 8], dtype=np.int64)
    for bad in (np.array([1, 2, 3], dtype=np.int64), np.array([1.5, 2.5]), good.reshape(2, 2)):
        index = SimhashIndex(6)
        with pytest.raises(ValueError, match="flat int64 array of even length"):
            index.load_blocks([good, bad])
        assert len(index) == 0 and index.candidates(5) == []


def test_blocks_loaded_into_an_index_that_holds_rows_are_added_after_them() -> None:
    import numpy as np

    from pipelines.simhash_index import SimhashIndex

    index = SimhashIndex(6)
    index.add("kept", 1 << 40, 7)
    assert index.load_blocks([np.array([5, 6], dtype=np.int64), np.array([1 << 20, 8], dtype=np.int64)]) == 2
    assert len(index) == 3
    exact = {value: [row for d, row in index.candidates(value) if d == 0] for value in (1 << 40, 5, 1 << 20)}
    assert exact == {1 << 40: [0], 5: [1], 1 << 20: [2]}  # the loaded rows follow the one already held


def _store_of_pairs(path, pairs):
    """An SQLite store holding documents with these (simhash, simhash2 or None) pairs, written directly."""
    from gongkai_spider.storage.sqlite import SQLiteStore

    store = SQLiteStore(path)
    store.existing_ids([])  # creates the table
    store._conn.executemany("INSERT INTO articles (_id, url, simhash, simhash2, doc) VALUES (?, ?, ?, ?, '{}')",
                            [(f"d{i}", f"http://x.gov.cn/{i}.html", a, b) for i, (a, b) in enumerate(pairs)])
    store._conn.commit()
    return store


def test_the_block_scan_gives_every_stored_pair_and_keeps_a_small_page_cache(tmp_path) -> None:
    from gongkai_spider.storage.simhash_snapshot import SCAN_SLICES

    rng = random.Random(3)
    edges = [(-(2**63), 2**63 - 1), (2**63 - 1, -(2**63)), (-1, None), (0, 0), (None, 5)]
    # every slice boundary and its neighbours, and random pairs
    bounds = [-(2**63) + k * (2**64 // SCAN_SLICES) for k in range(SCAN_SLICES)]
    pairs = edges + [(b + d, rng.getrandbits(64) - 2**63) for b in bounds for d in (-1, 0, 1) if b + d >= -(2**63)]
    pairs += [(rng.getrandbits(64) - 2**63, rng.getrandbits(64) - 2**63) for _ in range(3000)]
    store = _store_of_pairs(tmp_path / "g.sqlite3", pairs)
    blocks = list(store.scan_simhash_blocks())
    assert all(b.dtype.name == "int64" and b.ndim == 1 for b in blocks)
    scanned = [tuple(p) for b in blocks for p in b.reshape(-1, 2).tolist()]
    assert sorted(scanned) == sorted(store.iter_simhash_pairs())
    assert sorted(scanned) == sorted((a, b or 0) for a, b in pairs if a is not None)
    assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -2000
    store.close()


def test_the_block_scan_beside_a_thread_that_never_sleeps(tmp_path) -> None:
    """Read row by row, every row gives up the GIL and must wait to take it back from a busy thread (20,000
    rows: 6-8 s here); in blocks the scan steps 64 times."""
    rng = random.Random(5)
    store = _store_of_pairs(tmp_path / "g.sqlite3",
                            [(rng.getrandbits(64) - 2**63, rng.getrandbits(64) - 2**63) for _ in range(20_000)])
    with busy_thread():
        started = time.perf_counter()
        read = sum(len(b) // 2 for b in store.scan_simhash_blocks())
        seconds = time.perf_counter() - started
    store.close()
    assert read == 20_000
    assert seconds < 2.0


# -- the stored lookups made by the extraction workers (WorkerLookup) --------------------------------------


def _worker_item(_id: str, body: str, stored_near, title: str = "社区建设再上新台阶") -> dict:
    """An item as the spider hands it over when a worker extracted its page: the page's fingerprint and the
    worker's lookup among the stored articles."""
    return {**article(_id, body, title), "_page_fingerprint": page_fingerprint(title, body),
            "_page_stored_near": stored_near}


async def _never_asked(text, simhash, second):
    raise AssertionError("the workers were asked about a page they had looked up already")


def _processed(pipeline: DedupPipeline, item: dict) -> dict:
    """process_item's result, awaited when it is a coroutine (an item the workers are asked about)."""
    result = pipeline.process_item(item)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def test_with_lookups_in_the_workers_the_stored_fingerprints_are_not_loaded_and_their_answers_count() -> None:
    stats = CounterStats()
    store = ThreadedStore({"old": ("社区建设再上新台阶", COMMUNITY)})
    pipeline = DedupPipeline(stats, store=store, ask_workers=_never_asked)
    pipeline.open_spider()
    # the worker found "old" (0.9 similar, 2 bits away), refused 3 candidates by fingerprint and 1 by text
    item = pipeline.process_item(_worker_item("new", COMMUNITY, (1, 3, 1, [(0.9, 2, "old")])))
    assert item["near_duplicate_of"] == "old"
    assert stats.get_value("gongkai/dedup/rejected_fingerprint") == 3
    assert stats.get_value("gongkai/dedup/rejected_candidate") == 1
    assert stats.get_value("gongkai/dedup/index_loaded") == 1
    # its own stored version (a page crawled again) is never its near duplicate
    assert pipeline.process_item(_worker_item("old", FLOOD, (1, 0, 0, [(1.0, 0, "old")]),
                                              "关于做好主汛期防汛工作的通知"))["near_duplicate_of"] is None
    # this run's items are looked up here: a copy of "new" that the worker found nothing for
    assert pipeline.process_item(_worker_item("again", COMMUNITY, (1, 0, 0, [])))["near_duplicate_of"] == "new"
    # too short to look up: no lookup needed, none asked for
    assert pipeline.process_item({**article("short", "详见附件"), "_page_fingerprint": None})["near_duplicate_of"] is None
    assert store.read_in is None  # never loaded here
    assert stats.get_value("gongkai/dedup/index_wait_ms") is None
    pipeline.close_spider()


def test_the_more_similar_of_a_stored_and_a_run_candidate_wins() -> None:
    pipeline = DedupPipeline(CounterStats(), store=ThreadedStore({}), ask_workers=_never_asked)
    pipeline.open_spider()
    pipeline.process_item(_worker_item("run", COMMUNITY, (0, 0, 0, [])))
    less_similar = pipeline.process_item(_worker_item("a", COMMUNITY, (1, 0, 0, [(0.7, 0, "stored")])))
    assert less_similar["near_duplicate_of"] == "run"  # identical text: similarity 1.0
    assert pipeline.process_item(_worker_item("b", COMMUNITY, (1, 0, 0, [(1.0, 0, "stored")])))[
        "near_duplicate_of"] == "stored"  # as similar and as near: the stored one is older


def _unseen_by_workers(why: str) -> dict:
    """An item whose text no worker looked up (the lookup it brings, which found nothing, is not for its text)."""
    item = _worker_item("new", COMMUNITY, (1, 0, 0, []))
    if why == "no lookup":  # extracted in the crawl's process
        del item["_page_stored_near"]
    elif why == "attachment text":
        item["attachments"] = [{"name": "附件", "url": "http://x.gov.cn/a.pdf", "text": "附件"}]
    else:  # an article of several pages
        del item["_page_fingerprint"]
    return item


WHY = ["no lookup", "attachment text", "several pages"]


@pytest.mark.parametrize("why", WHY)
def test_an_item_no_worker_looked_up_is_looked_up_by_one_now(why: str) -> None:
    asked = []

    async def ask(text, simhash, second):
        asked.append((text, simhash, second))
        return (1, 0, 0, [(0.95, 1, "old")])

    stats = CounterStats()
    store = ThreadedStore({"old": ("社区建设再上新台阶", COMMUNITY)})
    pipeline = DedupPipeline(stats, store=store, ask_workers=ask)
    pipeline.open_spider()
    item = _unseen_by_workers(why)
    assert _processed(pipeline, item)["near_duplicate_of"] == "old"
    # asked about the text this stage hashed (attachment text included), with its fingerprints
    assert asked == [(normalize_for_hash(item["title"]) + normalize_for_hash(item["body"])
                      + normalize_for_hash(attachment_text(item)), item["simhash"], item["simhash2"])]
    assert store.read_in is None


@pytest.mark.parametrize("why", WHY)
def test_when_no_worker_can_look_it_up_the_stored_fingerprints_are_loaded_here(
        why: str, caplog: pytest.LogCaptureFixture) -> None:
    async def cannot(text, simhash, second):
        return None

    stats = CounterStats()
    store = ThreadedStore({"old": ("社区建设再上新台阶", COMMUNITY)})
    pipeline = DedupPipeline(stats, store=store, ask_workers=cannot)
    pipeline.open_spider()
    with caplog.at_level(logging.INFO):
        assert _processed(pipeline, _unseen_by_workers(why))["near_duplicate_of"] == "old"
    assert "the stored fingerprints are loaded here" in caplog.text
    assert store.read_in is not None and stats.get_value("gongkai/dedup/index_loaded") == 1
    # from then on every lookup is made here: a worker's answer is neither needed nor counted twice
    later = pipeline.process_item(_worker_item("later", COMMUNITY, (1, 5, 0, [(1.0, 0, "old")])))
    assert later["near_duplicate_of"] in ("old", "new")
    assert not stats.get_value("gongkai/dedup/rejected_fingerprint")
    pipeline.close_spider()


def _sqlite_with(tmp_path, docs: dict[str, tuple[str, str]]) -> str:
    from gongkai_spider.storage import open_store

    db = str(tmp_path / "g.sqlite3")
    store = open_store({"GONGKAI_DB": db, "MONGO_URI": ""})
    store.upsert_many([{"_id": _id, "url": f"http://x.gov.cn/{_id}.html", "site": "x", "title": title,
                        "body": body, **fingerprint_fields(title, body)} for _id, (title, body) in docs.items()])
    store.close()
    return db


def test_a_worker_finds_the_stored_near_duplicates_of_a_page(tmp_path) -> None:
    db = _sqlite_with(tmp_path, {"old": ("社区建设再上新台阶", COMMUNITY),
                                 "flood": ("关于做好主汛期防汛工作的通知", FLOOD)})
    lookups = WorkerLookup(db).open()
    edited = COMMUNITY.replace("四千余万元", "五千余万元")
    fingerprint_, stored = lookups.page("社区建设再上新台阶", edited)
    assert fingerprint_ == page_fingerprint("社区建设再上新台阶", edited)
    loaded, _refused_fingerprint, refused_text, matches = stored
    assert loaded == 2 and refused_text == 0
    assert [(_id, distance <= 6, score > 0.9) for score, distance, _id in matches] == [("old", True, True)]
    assert lookups.page("服务", SERVICE)[1][3] == []
    assert lookups.page("短", "详见附件")[1] == (None, 0, 0, [])  # too short to look up, as in the crawl


def test_a_worker_that_cannot_read_the_store_leaves_the_lookups_to_the_crawl(tmp_path) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database, just some bytes" * 200)
    lookups = WorkerLookup(str(bad)).open()
    assert lookups.page("社区建设再上新台阶", COMMUNITY) == (page_fingerprint("社区建设再上新台阶", COMMUNITY), None)


def test_a_text_the_worker_cannot_read_leaves_that_page_to_the_crawl_and_not_the_next(tmp_path) -> None:
    db = _sqlite_with(tmp_path, {"old": ("社区建设再上新台阶", COMMUNITY)})
    lookups = WorkerLookup(db).open()
    source = lookups.pipeline._store
    texts = source.texts

    def gone(**kwargs):
        raise OSError("disk I/O error")

    source.texts = gone
    assert lookups.page("社区建设再上新台阶", COMMUNITY)[1] is None  # not "nothing found": the crawl looks it up
    source.texts = texts
    assert [m[2] for m in lookups.page("社区建设再上新台阶", COMMUNITY)[1][3]] == ["old"]


@pytest.mark.parametrize(("settings", "expected"), [
    ({"GONGKAI_DB": "x.sqlite3", "MONGO_URI": ""}, "x.sqlite3"),
    ({"GONGKAI_DB": ":memory:", "MONGO_URI": ""}, None),
    ({"GONGKAI_DB": "x.sqlite3", "MONGO_URI": "mongodb://127.0.0.1:1/"}, None),
    ({"GONGKAI_DB": "x.sqlite3", "MONGO_URI": "", "GONGKAI_DEDUP_LOAD_INDEX": False}, None),
    ({"GONGKAI_DB": "x.sqlite3", "MONGO_URI": "", "GONGKAI_READ_ONLY": True}, None),
    ({"GONGKAI_DB": "x.sqlite3", "MONGO_URI": "", "GONGKAI_DEDUP_IN_WORKERS": False}, None),
])
def test_the_workers_get_a_lookup_only_for_an_sqlite_file_whose_fingerprints_the_crawl_would_load(
        settings: dict, expected: str | None) -> None:
    lookup = WorkerLookup.from_crawler(get_crawler(settings_dict={**settings, "GONGKAI_NEAR_DUP_DISTANCE": 5}))
    assert (lookup.db if lookup else None) == expected
    if lookup is not None:
        assert lookup.max_distance == 5
