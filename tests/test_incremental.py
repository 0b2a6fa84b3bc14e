"""Incremental crawling (issue 5, part 1): stored articles are not fetched again, caught-up columns stop paging.

Unit tests drive ``IncrementalMiddleware`` with fake listing responses and a fake store; a real crawl of the demo
portal checks ``-a since=``. The second-run test (listing pages only) is in test_resume.py.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import date

import pytest
from crawl_support import portal_handler, run_scrapy, serve
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from gongkai_spider.demo.portal import build_portal
from gongkai_spider.middlewares.incremental import IncrementalMiddleware, as_date
from gongkai_spider.normalize import canonical_url, doc_id

COLUMN = "http://gov.example/col/col1/index.html"


def detail(n: int, *, pinned: bool = False, list_date: str | None = "2024-05-20") -> Request:
    return Request(f"http://gov.example/art/2024/5/20/art_1_{n}.html?utm_source=feed",
                   meta={"gongkai": {"kind": "detail", "site": "demo", "column": COLUMN, "list_url": COLUMN,
                                     "pinned": pinned, "list_date": list_date}})


def next_listing(page: int) -> Request:
    return Request(f"http://gov.example/col/col1/index_{page}.html",
                   meta={"gongkai": {"kind": "listing", "site": "demo", "column": COLUMN, "page": page}})


def listing_response(page: int = 1) -> HtmlResponse:
    url = COLUMN if page == 1 else f"http://gov.example/col/col1/index_{page}.html"
    request = Request(url, meta={"gongkai": {"kind": "listing", "site": "demo", "column": COLUMN, "page": page}})
    return HtmlResponse(url, body=b"<html></html>", request=request)


class FakeStore:
    """existing_ids over two collections, counting calls (one batched lookup per listing page)."""

    def __init__(self, articles=(), quarantine=()) -> None:
        self.docs = {"articles": {self.key(n) for n in articles}, "quarantine": {self.key(n) for n in quarantine}}
        self.calls: list[tuple[str, int]] = []

    @staticmethod
    def key(n: int) -> str:
        return doc_id(canonical_url(detail(n).url))

    def existing_ids(self, ids, collection="articles"):
        ids = list(ids)
        self.calls.append((collection, len(ids)))
        return {i for i in ids if i in self.docs[collection]}


def middleware(store: FakeStore | None, stop_after: int = 3, **kwargs):
    crawler = get_crawler(settings_dict={})
    crawler.stats.open_spider()

    def lookup(ids):
        known = set()
        for collection in ("articles", "quarantine"):
            known |= store.existing_ids(ids, collection)
        return known

    return IncrementalMiddleware(crawler.stats, lookup if store else None, stop_after=stop_after, **kwargs), crawler.stats


def run(mw, response, outputs):
    async def gen():
        for out in outputs:
            yield out

    async def collect():
        return [out async for out in mw.process_spider_output(response, gen())]

    return asyncio.run(collect())


def numbers(outputs) -> list[str]:
    """Detail requests as their article number, listing requests as pageN."""
    return [re.search(r"art_1_(\d+)", o.url)[1] if o.meta["gongkai"]["kind"] == "detail"
            else f"page{o.meta['gongkai']['page']}" for o in outputs]


def test_known_articles_are_not_fetched_again():
    store = FakeStore(articles=[2, 4], quarantine=[5])
    mw, stats = middleware(store, stop_after=10)
    out = run(mw, listing_response(), [detail(n) for n in range(1, 7)] + [next_listing(2)])
    assert numbers(out) == ["1", "3", "6", "page2"]
    assert stats.get_value("gongkai/incremental/skipped_known") == 3
    # one batched lookup per collection for the whole listing page
    assert store.calls == [("articles", 6), ("quarantine", 6)]


def test_pagination_stops_after_k_known_in_a_row():
    store = FakeStore(articles=[3, 4, 5, 6])
    mw, stats = middleware(store, stop_after=3)
    out = run(mw, listing_response(), [detail(n) for n in range(1, 8)] + [next_listing(2), next_listing(3)])
    # 1, 2 new; 3-6 known (K=3 reached at 5); 7 is new and still fetched; no further listing pages
    assert numbers(out) == ["1", "2", "7"]
    assert stats.get_value("gongkai/incremental/stopped_columns") == 1
    # a later listing page of the same column (already scheduled) no longer extends the column
    out = run(mw, listing_response(2), [detail(8), next_listing(3)])
    assert numbers(out) == ["8"]
    assert stats.get_value("gongkai/incremental/stopped_columns") == 1


def test_k_known_items_split_over_two_pages_count_as_a_run():
    store = FakeStore(articles=[3, 4, 5, 6])
    mw, stats = middleware(store, stop_after=3)
    assert numbers(run(mw, listing_response(1), [detail(1), detail(2), detail(3), detail(4), next_listing(2)])) == \
        ["1", "2", "page2"]
    assert numbers(run(mw, listing_response(2), [detail(5), detail(6), next_listing(3)])) == []
    assert stats.get_value("gongkai/incremental/stopped_columns") == 1


def test_pinned_items_on_page_one_neither_count_nor_break_the_run():
    # Pinned old items on top of page 1 are known; they must not stop the column, and a new pinned item must
    # not reset a run of known items either.
    store = FakeStore(articles=[1, 2, 3, 10, 11])
    mw, stats = middleware(store, stop_after=3)
    page = [detail(1, pinned=True), detail(2, pinned=True), detail(3, pinned=True), detail(4), detail(5), next_listing(2)]
    assert numbers(run(mw, listing_response(1), page)) == ["4", "5", "page2"]
    assert stats.get_value("gongkai/incremental/skipped_known") == 3
    assert not stats.get_value("gongkai/incremental/stopped_columns")

    mw, stats = middleware(store, stop_after=3)
    page = [detail(10), detail(11), detail(12, pinned=True), detail(1), next_listing(2)]
    assert numbers(run(mw, listing_response(1), page)) == ["12"]
    assert stats.get_value("gongkai/incremental/stopped_columns") == 1


def test_since_drops_older_listing_entries_and_stops_paging():
    mw, stats = middleware(FakeStore(), stop_after=2, since=date(2024, 5, 1))
    page = [detail(1, list_date="2024-05-03"), detail(2, list_date=None), detail(3, list_date="2024-04-30"),
            detail(4, list_date="2024/04/29"), detail(5, list_date="2024-03-01"), next_listing(2)]
    # undated entries are fetched (the detail page decides); two older ones in a row stop the column
    assert numbers(run(mw, listing_response(1), page)) == ["1", "2"]
    assert stats.get_value("gongkai/incremental/skipped_old") == 3
    assert stats.get_value("gongkai/incremental/stopped_columns") == 1


def test_since_understands_listing_dates_without_a_year():
    mw, stats = middleware(FakeStore(), stop_after=0, since=date(2024, 12, 20))
    mw.today = date(2025, 1, 3)
    page = [detail(1, list_date="01-02"), detail(2, list_date="12-30"), detail(3, list_date="12-01"), next_listing(2)]
    # 12-30 seen on 2025-01-03 is 2024-12-30 (kept); 12-01 is 2024-12-01 (older than since)
    assert numbers(run(mw, listing_response(1), page)) == ["1", "2", "page2"]
    assert stats.get_value("gongkai/incremental/skipped_old") == 1


def test_refresh_fetches_known_articles_but_keeps_since():
    store = FakeStore(articles=[1, 2, 3])
    mw, stats = middleware(store, stop_after=2, since=date(2024, 5, 1), refresh=True)
    page = [detail(1), detail(2), detail(3, list_date="2023-12-31"), next_listing(2)]
    assert numbers(run(mw, listing_response(1), page)) == ["1", "2", "page2"]
    assert store.calls == []  # no lookup at all with refresh
    assert stats.get_value("gongkai/incremental/skipped_old") == 1


def test_store_failure_fails_open(caplog):
    class Broken:
        def existing_ids(self, ids, collection="articles"):
            raise ConnectionError("store down")

    crawler = get_crawler(settings_dict={})
    crawler.stats.open_spider()
    mw = IncrementalMiddleware(crawler.stats, lambda ids: Broken().existing_ids(ids), stop_after=2)
    assert numbers(run(mw, listing_response(), [detail(1), detail(2), next_listing(2)])) == ["1", "2", "page2"]
    assert crawler.stats.get_value("gongkai/incremental/lookup_failed") == 1
    assert "store lookup failed" in caplog.text


def test_articles_published_before_since_are_dropped():
    mw, stats = middleware(FakeStore(), since=date(2024, 5, 1))
    detail_response = HtmlResponse(detail(1).url, body=b"<html></html>", request=detail(1, list_date=None))
    old = {"url": detail(1).url, "publish_time": "2024-04-30 18:00"}
    new = {"url": detail(2).url, "publish_time": "2024-05-01 08:00"}
    undated = {"url": detail(3).url, "publish_time": None}
    assert run(mw, detail_response, [old, new, undated]) == [new, undated]
    assert stats.get_value("gongkai/incremental/skipped_old") == 1


def test_other_responses_pass_through_untouched():
    store = FakeStore(articles=[1])
    mw, _stats = middleware(store)
    detail_response = HtmlResponse(detail(1).url, body=b"<html></html>", request=detail(1))
    outputs = [{"url": "x"}, detail(1)]
    assert run(mw, detail_response, outputs) == outputs
    assert store.calls == []


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("2024-05-01", date(2024, 5, 1)), (date(2024, 5, 1), date(2024, 5, 1)), ("junk", None),
])
def test_since_values(value, expected):
    assert as_date(value) == expected


def test_spider_arguments_are_read_at_open():
    mw, _ = middleware(FakeStore())

    class Spider:
        since = "2024-05-01"
        refresh = "1"

    mw.spider_opened(Spider())
    assert mw.since == date(2024, 5, 1) and mw.refresh is True




def test_since_over_the_demo_portal_stores_only_newer_articles(tmp_path):
    portal = build_portal(30, seed=4)
    dates = sorted(doc["publish_time"][:10] for doc in portal.expected)
    since = dates[len(dates) // 2]
    with serve({}, default=portal_handler(portal)) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}",
                             "-a", f"since={since}"], tmp_path)
        want = {canonical_url(d["url"]) for d in portal.expected_for(server.base) if d["publish_time"][:10] >= since}
    assert result.returncode == 0, result.log[-3000:]
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        assert {canonical_url(u) for (u,) in db.execute("select url from articles")} == want
    stats = result.stats
    # older articles were not even fetched: the listing dates ruled them out and stopped the paging
    assert stats["gongkai/site/demo/pages/detail"] == len(want)
    assert stats["gongkai/incremental/skipped_old"] >= 10 and stats["gongkai/incremental/stopped_columns"] >= 1
