"""Summaries come from the store's aggregates, never from reading every document."""

from __future__ import annotations

from test_store_backends import T0, doc, store  # noqa: F401  (store: the two-backend fixture)

from gongkai_spider.commands.demo import _per_column
from gongkai_spider.commands.stats import collect
from gongkai_spider.demo import build_portal

BASE = "http://127.0.0.1:8123"


def _no_scan(*_args, **_kwargs):
    raise AssertionError("a summary read every document")


def test_demo_summary_per_column_from_url_ranges(store, monkeypatch):  # noqa: F811
    portal = build_portal(2)
    urls = [BASE + e["url"] for e in portal.expected]
    store.upsert_many([doc(i, url=u) for i, u in enumerate(urls, 1)], now=T0)
    # same paths on another port and host, and a page that is no article: not counted
    store.upsert_many([doc(500, url="http://127.0.0.1:81234" + portal.expected[0]["url"]),
                       doc(501, url="http://other.gov.cn" + portal.expected[0]["url"]),
                       doc(502, url=BASE + "/about.html")], now=T0)
    store.upsert_many([doc(600, url=BASE + portal.expected[0]["url"])], "quarantine", now=T0)
    monkeypatch.setattr(store, "iter_docs", _no_scan)
    counts = _per_column(store, portal, BASE + "/")
    first = portal.expected[0]["column"]
    assert counts == {name: (2, 1 if name == first else 0) for name in portal.columns}


def test_stats_summary_reads_no_document(store, monkeypatch, tmp_path):  # noqa: F811
    store.upsert_many([doc(1), doc(2, site="other")], now=T0)
    ledger_reads = store.iter_docs  # the pending ledger's tally still reads its entries; articles are not read

    def iter_docs(collection, *args, **kwargs):
        if collection in ("articles", "quarantine"):
            _no_scan()
        return ledger_reads(collection, *args, **kwargs)

    monkeypatch.setattr(store, "iter_docs", iter_docs)
    monkeypatch.setattr(store, "get", _no_scan)
    report = collect(store, str(tmp_path / "spool"))
    assert report["collections"]["articles"]["count"] == 2
    assert set(report["collections"]["articles"]["sites"]) == {"example", "other"}
