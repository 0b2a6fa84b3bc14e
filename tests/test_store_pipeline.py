"""StorePipeline: routing, batching, stats, and a crawl that survives a MongoDB outage without losing items."""

from __future__ import annotations

import pytest
from scrapy import signals
from scrapy.utils.test import get_crawler
from test_spool import FlakyStore
from test_store_backends import BACKENDS, T0, doc, drop_store, make_store

from gongkai_spider.items import ArticleItem
from gongkai_spider.storage import store_for_crawler
from gongkai_spider.storage.base import sqlite_identity
from gongkai_spider.storage.sqlite import SQLiteStore
from pipelines.store import StorePipeline


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)


def spam_doc(n: int) -> dict:
    return doc(n, site="hijacked", spam={"is_spam": True, "score": 3.5, "reasons": ["brand_in_title"]})


def item(d: dict) -> ArticleItem:
    return ArticleItem(**d, _page_signals={"html_title": "x"}, _page_host="www.example.gov.cn")


def run_pipeline(pipeline: StorePipeline, docs: list[dict]) -> None:
    pipeline.open_spider()
    for d in docs:
        assert pipeline.process_item(item(d)) is not None
    pipeline.close_spider()


def test_routes_spam_to_quarantine_and_counts(tmp_path, store):
    pipeline = StorePipeline(store=store, batch_size=3, spool_dir=str(tmp_path / "spool"))
    run_pipeline(pipeline, [doc(1), spam_doc(2), doc(3), doc(4)])
    assert [d["_id"] for d in store.iter_docs("articles")] == ["id0001", "id0003", "id0004"]
    assert [d["_id"] for d in store.iter_docs("quarantine")] == ["id0002"]
    assert "_page_signals" not in store.get("articles", "id0001")
    stats = pipeline.stats.get_stats()
    assert stats == {
        "gongkai/store/quarantined": 1,
        "gongkai/store/new": 4,
        "gongkai/site/example/store/new": 3,
        "gongkai/site/hijacked/store/new": 1,
    }
    # a second run of the same pages: all unchanged
    again = StorePipeline(store=store, batch_size=3, spool_dir=str(tmp_path / "spool"))
    run_pipeline(again, [doc(1), spam_doc(2), doc(3), doc(4, content_hash="edited")])
    assert again.stats.get_value("gongkai/store/unchanged") == 3
    assert again.stats.get_value("gongkai/store/updated") == 1
    assert again.stats.get_value("gongkai/site/example/store/updated") == 1


def test_flushes_every_batch_size_items(tmp_path, store):
    pipeline = StorePipeline(store=store, batch_size=2, spool_dir=str(tmp_path / "spool"))
    pipeline.open_spider()
    pipeline.process_item(item(doc(1)))
    assert store.count("articles") == 0
    pipeline.process_item(item(doc(2)))
    assert store.count("articles") == 2
    pipeline.process_item(item(doc(3)))
    pipeline.close_spider()
    assert store.count("articles") == 3


def test_outage_mid_run_spools_then_replays_at_next_flush(tmp_path, store):
    flaky = FlakyStore(store, failures=1, partial=True)
    pipeline = StorePipeline(store=flaky, batch_size=4, spool_dir=str(tmp_path / "spool"), retry_seconds=0)
    pipeline.open_spider()
    for n in range(1, 13):  # three flushes of four; the first fails half-written
        pipeline.process_item(item(doc(n)))
    pipeline.close_spider()
    stats = pipeline.stats
    assert stats.get_value("gongkai/store/spooled") == 4
    assert stats.get_value("gongkai/store/replayed") == 4
    assert stats.get_value("gongkai/store/errors") == 1
    assert [d["_id"] for d in store.iter_docs("articles")] == [f"id{n:04d}" for n in range(1, 13)]
    assert {d["version"] for d in store.iter_docs("articles")} == {1}
    assert not list((tmp_path / "spool").glob("spool-*"))


def test_store_away_for_the_whole_run_is_stored_by_the_next_run(tmp_path, store):
    spool_dir = str(tmp_path / "spool")

    class Down(FlakyStore):
        def ensure_ready(self):
            raise AutoReconnect("simulated: no primary")

    from pymongo.errors import AutoReconnect

    down = Down(store, failures=10**6)
    first = StorePipeline(store=down, batch_size=2, spool_dir=spool_dir, retry_seconds=3600)
    run_pipeline(first, [doc(1), doc(2), doc(3), spam_doc(4), doc(5)])
    assert store.count("articles") == 0
    assert first.stats.get_value("gongkai/store/spooled") == 5
    assert down.calls == 1  # back-off: while down, batches went straight to the spool (one try at close)

    second = StorePipeline(store=store, batch_size=2, spool_dir=spool_dir)
    run_pipeline(second, [doc(5), doc(6)])
    assert second.stats.get_value("gongkai/store/replayed") == 5
    assert [d["_id"] for d in store.iter_docs("articles")] == ["id0001", "id0002", "id0003", "id0005", "id0006"]
    assert [d["_id"] for d in store.iter_docs("quarantine")] == ["id0004"]
    assert second.stats.get_value("gongkai/store/new") == 6  # five replayed + id0006
    assert second.stats.get_value("gongkai/store/unchanged") == 1  # id0005 seen again by this run
    assert second.stats.get_value("gongkai/site/hijacked/store/new") == 1


def test_unexpected_store_errors_never_crash_the_crawl(tmp_path, store):
    pipeline = StorePipeline(store=FlakyStore(store, bad_ids=("id0002",)), batch_size=10,
                             spool_dir=str(tmp_path / "spool"))
    run_pipeline(pipeline, [doc(1), doc(2), doc(3)])
    assert store.count("articles") == 2
    assert pipeline.stats.get_value("gongkai/store/rejected") == 1
    assert len(list((tmp_path / "spool").rglob("rejected-*.jsonl"))) == 1


def test_from_crawler_shares_one_store_and_closes_it_once(tmp_path):
    settings = {"MONGO_URI": "", "GONGKAI_DB": str(tmp_path / "g.sqlite3"), "GONGKAI_STORE_BATCH_SIZE": 2,
                "GONGKAI_STORE_THREAD": False,  # no reactor here: the writer thread is tested by a crawl
                "GONGKAI_SPOOL_DIR": str(tmp_path / "spool")}
    crawler = get_crawler(settings_dict=settings)
    pipeline = StorePipeline.from_crawler(crawler)
    assert pipeline.batch_size == 2
    run_pipeline(pipeline, [doc(1), doc(2), doc(3)])
    shared = store_for_crawler(crawler)
    assert isinstance(shared, SQLiteStore) and pipeline.store is shared
    assert shared.count("articles") == 3
    assert crawler.stats.get_value("gongkai/store/new") == 3
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")
    assert shared._conn is None  # closed
    assert not hasattr(crawler, "_gongkai_store")


def test_unopenable_store_spools_instead_of_crashing(tmp_path):
    def broken():
        raise OSError("simulated: read-only file system")

    later_path = tmp_path / "later.sqlite3"
    pipeline = StorePipeline(store=broken, batch_size=1, spool_dir=str(tmp_path / "spool"), retry_seconds=3600,
                             identity=sqlite_identity(later_path))
    run_pipeline(pipeline, [doc(1), doc(2)])
    assert pipeline.stats.get_value("gongkai/store/spooled") == 2
    later = SQLiteStore(later_path)
    run_pipeline(StorePipeline(store=later, spool_dir=str(tmp_path / "spool")), [])
    assert later.count("articles") == 2
    later.close()


def test_stored_document_matches_the_item(tmp_path):
    store = SQLiteStore(tmp_path / "g.sqlite3")
    run_pipeline(StorePipeline(store=store, spool_dir=str(tmp_path / "spool")), [doc(1)])
    stored = store.get("articles", "id0001")
    assert {k: v for k, v in stored.items() if k not in ("first_seen", "last_seen", "updated_at", "version")} == doc(1)
    assert stored["first_seen"] > T0
    store.close()


def test_crawl_with_mongodb_down_then_back(tmp_path):
    """Real pymongo against a closed local port at open; the next run (server back) stores everything."""
    import time

    from test_spool import _closed_port

    spool_dir = str(tmp_path / "spool")
    uri = f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true"
    down = get_crawler(settings_dict={
        "MONGO_URI": uri,
        "MONGO_SERVER_SELECTION_TIMEOUT_MS": 200, "GONGKAI_STORE_BATCH_SIZE": 2, "GONGKAI_SPOOL_DIR": spool_dir})
    started = time.monotonic()
    first = StorePipeline.from_crawler(down)
    run_pipeline(first, [doc(1), doc(2), spam_doc(3), doc(4), doc(5)])
    assert time.monotonic() - started < 3  # one server-selection timeout, then straight to the spool
    assert down.stats.get_value("gongkai/store/spooled") == 5
    assert down.stats.get_value("gongkai/store/new") is None

    # The same server back (played by mongomock): only a run on the same store identity replays the spool.
    import mongomock_ng

    from gongkai_spider.storage.mongo import MongoStore

    back = get_crawler(settings_dict={"MONGO_URI": uri, "GONGKAI_SPOOL_DIR": spool_dir})
    back._gongkai_store = MongoStore(uri, "gongkai", client_factory=mongomock_ng.MongoClient)
    second = StorePipeline.from_crawler(back)
    run_pipeline(second, [])
    assert back.stats.get_value("gongkai/store/replayed") == 5
    store = store_for_crawler(back)
    assert store.count("articles") == 4 and store.count("quarantine") == 1
    back.signals.send_catch_log(signals.spider_closed, spider=None, reason="finished")


# ------------------------------------------------------------------------ one page, one collection


def released_spam(store, tmp_path, n: int = 7, **overrides) -> dict:
    """A spam page quarantined by a crawl, then released by a reviewer (``gongkai quarantine release``)."""
    from gongkai_spider.commands.quarantine import release
    from gongkai_spider.normalize import canonical_url, doc_id

    page = spam_doc(n)
    page.update(_id=doc_id(canonical_url(page["url"])), **overrides)
    run_pipeline(StorePipeline(store=store, spool_dir=str(tmp_path / "spool")), [page])
    assert store.existing_ids([page["_id"]], "quarantine") == {page["_id"]}
    release(store, page["url"], "统计脚本，非跳转", "reviewer1")
    return page


def where(store, _id: str) -> list[str]:
    return [c for c in ("articles", "quarantine") if store.get(c, _id) is not None]


def test_released_page_stays_in_articles_when_crawled_again(tmp_path, store):
    page = released_spam(store, tmp_path)
    review = store.get("articles", page["_id"])["review"]
    # refresh=1: the same page, scored spam again
    again = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
    run_pipeline(again, [page, doc(1)])
    assert where(store, page["_id"]) == ["articles"]
    assert again.stats.get_value("gongkai/store/kept_released") == 1
    assert again.stats.get_value("gongkai/store/quarantined") is None
    assert again.stats.get_value("gongkai/store/unchanged") == 1
    # the page changed (and is still scored spam): updated in articles, review and new verdict kept
    changed = {**page, "content_hash": "edited", "spam": {"is_spam": True, "score": 1.5, "reasons": ["spun_text"]}}
    third = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
    run_pipeline(third, [changed])
    assert where(store, page["_id"]) == ["articles"]
    stored = store.get("articles", page["_id"])
    assert stored["review"] == review and stored["review"]["released"] is True
    assert stored["spam"] == changed["spam"] and stored["version"] == 2
    assert third.stats.get_value("gongkai/store/updated") == 1


def test_clean_article_that_turns_spam_moves_to_quarantine(tmp_path, store):
    run_pipeline(StorePipeline(store=store, spool_dir=str(tmp_path / "spool")), [doc(1), doc(2)])
    first_seen = store.get("articles", "id0001")["first_seen"]
    hijacked = doc(1, spam={"is_spam": True, "score": 1.2, "reasons": ["referrer_redirect"]})  # same text
    again = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
    run_pipeline(again, [hijacked, doc(2)])
    assert where(store, "id0001") == ["quarantine"] and where(store, "id0002") == ["articles"]
    moved = store.get("quarantine", "id0001")
    assert moved["spam"] == hijacked["spam"]  # the new verdict is stored, not kept as "unchanged"
    assert (moved["first_seen"], moved["version"]) == (first_seen, 2)
    stats = again.stats
    assert stats.get_value("gongkai/store/moved_to_quarantine") == 1
    assert stats.get_value("gongkai/store/quarantined") == 1 and stats.get_value("gongkai/store/updated") == 1


def test_quarantined_page_that_is_clean_now_moves_to_articles(tmp_path, store):
    run_pipeline(StorePipeline(store=store, spool_dir=str(tmp_path / "spool")), [spam_doc(3)])
    cleaned = doc(3, site="hijacked")  # the site removed the injected script: same text, clean verdict
    again = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
    run_pipeline(again, [cleaned])
    assert where(store, "id0003") == ["articles"]
    stored = store.get("articles", "id0003")
    assert stored["spam"]["is_spam"] is False and stored["version"] == 2
    assert again.stats.get_value("gongkai/store/moved_to_articles") == 1


def test_a_page_stored_in_both_collections_is_repaired(tmp_path, store):
    # what a released page re-crawled before this fix left behind: an article and a quarantined copy
    page = released_spam(store, tmp_path)
    store.upsert_many([page], "quarantine")
    assert where(store, page["_id"]) == ["articles", "quarantine"]
    again = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
    run_pipeline(again, [page])
    assert where(store, page["_id"]) == ["articles"]
    assert store.get("articles", page["_id"])["review"]["released"] is True
    assert again.stats.get_value("gongkai/store/stale_copy_removed") == 1


class CountingStore:
    """Counts the lookups the pipeline makes."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def existing_ids(self, ids, collection="articles"):
        self.calls.append(("existing_ids", collection))
        return self.inner.existing_ids(ids, collection)

    def get(self, collection, _id):
        self.calls.append(("get", collection))
        return self.inner.get(collection, _id)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_routing_looks_up_once_per_batch_not_per_item(tmp_path, store):
    page = released_spam(store, tmp_path, n=50)
    counting = CountingStore(store)
    pipeline = StorePipeline(store=counting, batch_size=100, spool_dir=str(tmp_path / "spool"))
    run_pipeline(pipeline, [spam_doc(n) for n in range(60, 80)] + [page] + [doc(n) for n in range(1, 21)])
    # one existing_ids per collection; get only for the one spam page found in articles
    assert sorted(counting.calls) == [("existing_ids", "articles"), ("existing_ids", "quarantine"),
                                      ("get", "articles")]
    assert pipeline.stats.get_value("gongkai/store/kept_released") == 1
    assert store.count("quarantine") == 20 and where(store, page["_id"]) == ["articles"]


def test_spooled_spam_is_routed_when_replayed(tmp_path, store):
    from pymongo.errors import AutoReconnect

    page = released_spam(store, tmp_path)

    class Down(FlakyStore):
        def ensure_ready(self):
            raise AutoReconnect("simulated: no primary")

        def existing_ids(self, ids, collection="articles"):
            raise AutoReconnect("simulated: no primary")

    spool_dir = str(tmp_path / "spool")
    down = StorePipeline(store=Down(store, failures=10**6), spool_dir=spool_dir, retry_seconds=3600)
    run_pipeline(down, [page])  # the lookup fails too: spooled for quarantine, unrouted
    assert down.stats.get_value("gongkai/store/spooled") == 1 and where(store, page["_id"]) == ["articles"]
    later = StorePipeline(store=store, spool_dir=spool_dir)
    run_pipeline(later, [])
    assert later.stats.get_value("gongkai/store/replayed") == 1
    assert later.stats.get_value("gongkai/store/kept_released") == 1
    assert where(store, page["_id"]) == ["articles"]
