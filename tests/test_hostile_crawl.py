"""A hostile world for the crawl side of "nothing lost, nothing hung": a local portal that fails, repeats and
never ends, bad arguments, a reused PID. Every crawl is a real ``scrapy crawl`` subprocess (tests/crawl_support.py)
into a private SQLite store; the ledger's back-off and give-up rules are also checked on both store backends.

The portal: ``/list/index.html`` then ``/list/index_N.html`` (下一页 links), 20 articles per listing page,
``/art/pPP_aAA.html``. A ``Portal`` object decides per request what each path answers, so a test can break pages
for one run and heal them for the next.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from crawl_support import REPO, CrawlResult, Seen, html, run_scrapy, scrapy_env, serve

from gongkai_spider.extensions.ledger import PendingLedger, backoff_runs, entry_id
from gongkai_spider.stats import CounterStats
from gongkai_spider.storage import open_store
from gongkai_spider.storage.base import PENDING, utc_now
from gongkai_spider.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(180)

UNIT = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]


def _words(n: int) -> str:
    return "".join(UNIT[int(d)] for d in str(n))


@dataclass
class Portal:
    """A listing of ``pages`` x ``per_page`` articles; ``faults`` maps a path to a reply that replaces the page."""

    pages: int = 5
    per_page: int = 20
    faults: dict[str, Callable[[], tuple]] = field(default_factory=dict)

    def article_path(self, page: int, n: int) -> str:
        return f"/art/p{page:02d}_a{n:02d}.html"

    def article_paths(self, page: int | None = None) -> list[str]:
        pages = [page] if page else range(1, self.pages + 1)
        return [self.article_path(p, n) for p in pages for n in range(1, self.per_page + 1)]

    def listing_path(self, page: int) -> str:
        return "/list/index.html" if page == 1 else f"/list/index_{page}.html"

    def listing(self, page: int) -> tuple:
        items = "".join(
            f'<li><a href="{self.article_path(page, n)}" title="{self.title(page, n)}">{self.title(page, n)}</a>'
            f'<span class="date">2024-{1 + (page - 1) % 12:02d}-{n:02d}</span></li>'
            for n in range(1, self.per_page + 1))
        nav = f'<a href="{self.listing_path(page + 1)}">下一页</a>' if page < self.pages else ""
        return html(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>通知公告_第{page}页</title></head>"
                    f"<body><div class='list'><ul>{items}</ul></div><div class='page'>{nav}</div></body></html>")

    @staticmethod
    def title(page: int, n: int) -> str:
        return f"关于做好第{_words(page)}批第{_words(n)}号河道巡查事项的通知"

    def article(self, page: int, n: int) -> tuple:
        paragraphs = "".join(
            f"<p>第{_words(page)}批第{_words(n)}号事项第{_words(k)}段：各乡镇街道要按照巡查台账逐段核对堤防、"
            f"涵闸和排涝泵站的运行情况，发现隐患于{_words(k + n)}日内整改到位并报送区水务局备案。</p>"
            for k in range(1, 4))
        return html("<!DOCTYPE html><html><head><meta charset='utf-8'>"
                    f"<title>{self.title(page, n)}_某区人民政府</title></head><body><div class='article'>"
                    f"<h1>{self.title(page, n)}</h1><div class='info'>发布时间：2024-{1 + (page - 1) % 12:02d}-{n:02d}"
                    f" 09:30 来源：区水务局</div><div class='TRS_Editor'>{paragraphs}</div></div></body></html>")

    def handler(self, seen: Seen) -> tuple:
        path = seen.path.split("?", 1)[0]
        if path in self.faults:
            return self.faults[path]()
        if path.startswith("/list/"):
            page = 1 if path == "/list/index.html" else int(path.rsplit("_", 1)[1].split(".")[0])
            if 1 <= page <= self.pages:
                return self.listing(page)
        if path.startswith("/art/p"):
            page, n = int(path[6:8]), int(path[10:12])
            if page <= self.pages and n <= self.per_page:
                return self.article(page, n)
        return 404, [("Content-Type", "text/html")], b"<html><body><h1>404</h1></body></html>"


def unavailable() -> tuple:
    return html("<html><body><h1>503 Service Unavailable</h1></body></html>", status=503)


def empty_template() -> tuple:
    return html("<!DOCTYPE html><html><head><meta charset='utf-8'><title></title></head><body>"
                "<div class='article'><h1></h1><div class='TRS_Editor'></div></div></body></html>")


def crawl(tmp_path: Path, base: str, *args: str, timeout: float = 120, **env: str) -> CrawlResult:
    environ = scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"), **env)
    return run_scrapy(["crawl", "gongkai", "-a", f"start_url={base}/list/index.html", *args], tmp_path,
                      env=environ, timeout=timeout)


def stored_urls(tmp_path: Path) -> list[str]:
    store = SQLiteStore(tmp_path / "store.sqlite3")
    try:
        return [d["url"] for c in ("articles", "quarantine") for d in store.iter_docs(c)]
    finally:
        store.close()


def pending(tmp_path: Path) -> dict[str, dict]:
    store = SQLiteStore(tmp_path / "store.sqlite3")
    try:
        return {d["url"]: d for d in store.iter_docs(PENDING)}
    finally:
        store.close()


def gongkai(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"))
    return subprocess.run([sys.executable, "-m", "gongkai_spider.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


# --- the acceptance case: 5 listing pages x 20 articles, page 3's articles answer 503 in run 1 ------------------


def test_failed_articles_are_retried_by_the_next_run_and_nothing_is_stored_twice(tmp_path):
    portal = Portal()
    broken = portal.article_paths(3)
    portal.faults = dict.fromkeys(broken, unavailable)
    with serve({}, default=portal.handler) as server:
        first = crawl(tmp_path, server.base)
        assert first.returncode == 3, first.log[-3000:]
        assert first.stats["gongkai/store/new"] == 80
        assert first.stats["gongkai/alert/failed_articles"] == 1
        assert first.stats["gongkai/pending/failed"] == 20
        assert sorted(pending(tmp_path)) == sorted(server.base + p for p in broken)
        assert {e["reason"] for e in pending(tmp_path).values()} == {"http_503"}
        stats_out = gongkai(tmp_path, "stats", "--json")
        assert json.loads(stats_out.stdout)["pending"] == {"127.0.0.1": {"pending": 20, "given_up": 0}}

        portal.faults = {}  # healed
        hits_before = {p: server.hits(p) for p in portal.article_paths()}
        second = crawl(tmp_path, server.base)
        assert second.returncode == 0, second.log[-3000:]
        assert second.stats["gongkai/store/new"] == 20
        assert second.stats["gongkai/pending/retried"] == 20 and second.stats["gongkai/pending/cleared"] == 20
        # the stop-after-known rule ended the column on page 1: the retries came from the ledger, not the listing
        assert server.hits("/list/index_3.html") == 1 and server.hits("/list/index_2.html") == 1
        # only the 20 pending articles were fetched again
        assert {p for p in portal.article_paths() if server.hits(p) > hits_before[p]} == set(broken)
    urls = stored_urls(tmp_path)
    assert len(urls) == len(set(urls)) == 100
    assert pending(tmp_path) == {}
    assert json.loads(gongkai(tmp_path, "stats", "--json").stdout)["pending"] == {}


def test_a_failed_listing_page_is_an_alert_and_the_next_run_walks_every_page(tmp_path):
    """Listing page 3 of 5 answers 503 in run 1: its articles and those behind it are never seen. Run 1 alerts;
    run 2 (healed) does not stop after page 1's known articles, it walks on and stores the other 60."""
    portal = Portal()
    portal.faults = {portal.listing_path(3): unavailable}
    with serve({}, default=portal.handler) as server:
        first = crawl(tmp_path, server.base)
        assert first.returncode == 3 and first.stats["gongkai/alert/listing_failed"] == 1, first.log[-3000:]
        assert first.stats["gongkai/store/new"] == 40
        portal.faults = {}
        second = crawl(tmp_path, server.base)
        assert second.returncode == 0, second.log[-3000:]
        assert second.stats["gongkai/incremental/full_walk"] == 1 and second.stats["gongkai/store/new"] == 60
        third = crawl(tmp_path, server.base)  # complete again: back to stopping after the known items
        assert third.returncode == 0 and third.stats["gongkai/listing/pages"] == 1
    urls = stored_urls(tmp_path)
    assert len(urls) == len(set(urls)) == 100


def test_every_kind_of_loss_is_pending_with_its_reason(tmp_path):
    """A 503, an empty template and a page the validate pipeline drops (no title) in run 1; all healed for run 2."""
    portal = Portal(pages=1, per_page=10)
    no_title = re.sub(r"<title>.*?</title>|<h1>.*?</h1>", "", portal.article(1, 3)[2].decode())
    portal.faults = {portal.article_path(1, 1): unavailable, portal.article_path(1, 2): empty_template,
                     portal.article_path(1, 3): lambda: html(no_title)}
    with serve({}, default=portal.handler) as server:
        first = crawl(tmp_path, server.base)
        assert first.returncode == 3, first.log[-3000:]
        reasons = {url.rsplit("/", 1)[1]: e["reason"] for url, e in pending(tmp_path).items()}
        assert reasons == {"p01_a01.html": "http_503", "p01_a02.html": "extract_empty",
                           "p01_a03.html": "dropped_no_title"}
        exported = gongkai(tmp_path, "export", "--collection", "pending", "--format", "csv", "--no-bom")
        assert exported.returncode == 0, exported.stderr
        header, *rows = exported.stdout.splitlines()
        assert header.startswith("_id,url,site,list_url,column,list_title,list_date,reason,attempts") and len(rows) == 3
        portal.faults = {}
        second = crawl(tmp_path, server.base)
        assert second.returncode == 0, second.log[-3000:]
    assert len(stored_urls(tmp_path)) == 10 and pending(tmp_path) == {}


def test_a_small_share_of_failures_exits_0_and_is_still_retried(tmp_path):
    """1 of 30 articles fails (3% < 10%): exit 0, the article pending; the next run stores it."""
    portal = Portal(pages=3, per_page=10)
    portal.faults = {portal.article_path(2, 4): unavailable}
    with serve({}, default=portal.handler) as server:
        first = crawl(tmp_path, server.base)
        assert first.returncode == 0, first.log[-3000:]
        assert list(pending(tmp_path)) == [server.base + portal.article_path(2, 4)]
        portal.faults = {}
        second = crawl(tmp_path, server.base)
        assert second.returncode == 0 and second.stats["gongkai/store/new"] == 1
    assert len(stored_urls(tmp_path)) == 30 and pending(tmp_path) == {}


def test_most_articles_failing_is_an_alert(tmp_path):
    """27 of 30 articles fail: exit 3, never 0."""
    portal = Portal(pages=3, per_page=10)
    portal.faults = dict.fromkeys(portal.article_paths()[3:], unavailable)
    with serve({}, default=portal.handler) as server:
        result = crawl(tmp_path, server.base)
    assert result.returncode == 3 and result.stats["gongkai/alert/failed_articles"] == 1
    assert len(pending(tmp_path)) == 27


def test_a_permanent_failure_is_given_up_reported_and_no_longer_fetched(tmp_path):
    portal = Portal(pages=1, per_page=10)
    gone = portal.article_path(1, 5)
    portal.faults = {gone: lambda: html("<html><body>not found</body></html>", status=404)}
    env = {"GONGKAI_PENDING_GIVE_UP_RUNS": "2", "GONGKAI_FAILED_SHARE_ALERT": "0.5"}
    with serve({}, default=portal.handler) as server:
        first = crawl(tmp_path, server.base, **env)
        assert first.returncode == 0, first.log[-3000:]  # 1 of 10 failed: below the (raised) threshold
        second = crawl(tmp_path, server.base, **env)  # retried, fails a second time: given up
        assert second.returncode == 3 and second.stats["gongkai/alert/gave_up"] == 1
        assert f"gave up on 1 article(s) of 127.0.0.1 this run: {server.base}{gone} (http_404)" in second.log
        hits = server.hits(gone)
        third = crawl(tmp_path, server.base, **env)
        assert third.returncode == 0, third.log[-3000:]
        assert server.hits(gone) == hits  # given up: neither retried nor fetched from the listing
        entry = pending(tmp_path)[server.base + gone]
        assert entry["given_up"] is True and entry["attempts"] == 2 and entry["reason"] == "http_404"
        stats_out = gongkai(tmp_path, "stats")
        assert "pending: 1 articles not stored yet, 1 of them given up" in stats_out.stdout
        assert "127.0.0.1  pending 1  given up 1" in stats_out.stdout
        # refresh=1 tries everything again, given-up entries included
        portal.faults = {}
        crawl(tmp_path, server.base, "-a", "refresh=1", **env)
    assert pending(tmp_path) == {}


# --- the ledger's rules, on both stores ----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "mongo"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "ledger.sqlite3")
    else:
        pytest.importorskip("mongomock_ng")
        s = open_store({"MONGO_URI": f"mongomock://ledger-{tmp_path.name}", "MONGO_DATABASE": "t"})
    yield s
    s.close()


def run_once(store, fail: set[str], urls: list[str], give_up: int = 0) -> tuple[PendingLedger, list[str]]:
    """One simulated run: retry what the ledger says, fail ``fail``, store the rest."""
    ledger = PendingLedger(CounterStats(), store, give_up_runs=give_up)
    retried = [e["url"] for e in ledger.retries("site")]
    for url in urls:
        if url in fail:
            ledger.failed(url, "http_503", list_url="http://x.gov.cn/list/")
        else:
            ledger.stored([url])
    for url in retried:
        if url in fail:
            ledger.failed(url, "timeout")
        else:
            ledger.stored([url])
    ledger.spider_closed()
    return ledger, retried


def test_backoff_doubles_across_runs_and_a_stored_article_clears_its_entry(store):
    url = "http://x.gov.cn/art/1.html"
    assert [backoff_runs(n) for n in range(1, 6)] == [0, 1, 3, 7, 15]
    run_once(store, {url}, [url])  # failed once: retried by the next run
    tried = []
    for _ in range(8):
        _, retried = run_once(store, {url}, [])
        tried.append(bool(retried))
    # run 2 retries (fails: waits 1 run), run 4 retries (waits 3), run 8 retries
    assert tried == [True, False, True, False, False, False, True, False]
    entry = store.pending_entries("site")[0]
    assert entry["attempts"] == 4 and entry["retry_in_runs"] == 6 and entry["reason"] == "timeout"
    assert entry["first_seen"] <= entry["last_seen"] and entry["list_url"] == "http://x.gov.cn/list/"
    ledger = PendingLedger(CounterStats(), store)
    assert ledger.held([entry_id(url), "other"]) == set() and ledger.retries("site") == []
    assert ledger.held([entry_id(url)]) == {entry_id(url)}  # waiting: not fetched from a listing either
    ledger.stored([url + "#frag"])  # the same article (canonical URL)
    assert store.pending_entries("site") == []


def test_attempts_count_once_per_run_and_give_up_is_reported_once(store):
    url = "http://x.gov.cn/art/2.html"
    ledger = PendingLedger(CounterStats(), store, give_up_runs=2)
    ledger.retries("site")
    ledger.failed(url, "http_503")
    ledger.failed(url, "dropped_no_title")  # the same run: same attempt, latest reason
    entry = store.pending_entries("site")[0]
    assert entry["attempts"] == 1 and entry["reason"] == "dropped_no_title" and not entry["given_up"]
    second, retried = run_once(store, {url}, [], give_up=2)
    assert retried == [url] and [e["url"] for e in second.given_up] == [url]
    assert second.stats.get_value("gongkai/pending/given_up") == 1
    third, retried = run_once(store, {url}, [], give_up=2)
    assert retried == [] and third.given_up == [] and third.stats.get_value("gongkai/pending/open") == 1
    assert store.pending_entries("site")[0]["given_up"] is True
    assert store.pending_entries("other") == []


def test_an_entry_whose_article_got_stored_elsewhere_is_cleared_at_load(tmp_path):
    store = SQLiteStore(tmp_path / "ledger.sqlite3")
    url = "http://x.gov.cn/art/3.html"
    run_once(store, {url}, [url])
    store.upsert_many([{"_id": entry_id(url), "url": url, "site": "site", "title": "t", "body": "b"}])
    ledger = PendingLedger(CounterStats(), store)
    assert ledger.retries("site") == [] and store.pending_entries("site") == []
    assert ledger.stats.get_value("gongkai/pending/cleared") == 1
    store.close()


def test_a_ledger_the_store_cannot_write_is_an_alert_not_a_crash(tmp_path):
    class Broken:
        def pending_entries(self, site):
            raise OSError("disk I/O error")

        def pending_write(self, entries):
            raise OSError("disk I/O error")

    stats = CounterStats()
    ledger = PendingLedger(stats, Broken())
    assert ledger.retries("site") == []
    ledger.failed("http://x.gov.cn/a.html", "timeout")
    assert stats.get_value("gongkai/pending/unrecorded") == 2


def test_entries_are_ordered_oldest_first(store):
    ledger = PendingLedger(CounterStats(), store)
    ledger.load("site")
    t0 = utc_now()
    for n, age in ((1, 1), (2, 3), (3, 2)):
        ledger.now = lambda age=age: t0 - timedelta(days=age)
        ledger.failed(f"http://x.gov.cn/art/{n}.html", "timeout")
    assert [e["url"][-6:] for e in PendingLedger(CounterStats(), store).retries("site")] == \
        ["2.html", "3.html", "1.html"]


# --- listing loops end by themselves ---------------------------------------------------------------------------


def test_a_listing_repeating_itself_on_every_page_number_ends_its_column(tmp_path):
    """Out-of-range ?p=N answers the same 5 articles and always links to ?p=N+1."""
    portal = Portal(pages=1, per_page=5)

    def repeating(seen: Seen) -> tuple:
        page = int(seen.path.split("p=", 1)[1]) if "p=" in seen.path else 1
        reply = portal.listing(1)
        return reply[0], reply[1], reply[2].replace(b"</ul>", f'</ul><a href="/list/?p={page + 1}">下一页</a>'.encode())

    with serve({}, default=lambda seen: (repeating if seen.path.startswith("/list/") else portal.handler)(seen)) \
            as server:
        result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/list/"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool")), timeout=90)
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["gongkai/listing/pages"] == 2 and result.stats["gongkai/listing/no_new_links"] == 1
    assert result.stats["gongkai/store/new"] == 5


def test_a_paginator_that_never_ends_stops_at_the_page_cap_with_an_alert(tmp_path):
    """Every ?p=N has one new article and a link to ?p=N+1, for ever."""
    portal = Portal(pages=10_000, per_page=1)

    def endless(seen: Seen) -> tuple:
        page = int(seen.path.split("p=", 1)[1]) if "p=" in seen.path else 1
        reply = portal.listing(page)
        return reply[0], reply[1], reply[2].replace(portal.listing_path(page + 1).encode(),
                                                    f"/list/?p={page + 1}".encode())

    with serve({}, default=lambda seen: (endless if seen.path.startswith("/list/") else portal.handler)(seen)) \
            as server:
        result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/list/"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"),
                                           GONGKAI_PAGE_CAP="6"), timeout=90)
        assert result.returncode == 3, result.log[-3000:]
        assert result.stats["gongkai/listing/pages"] == 6 and result.stats["gongkai/alert/page_cap"] == 1
        # an explicit max_pages is the operator's choice: no alert
        explicit = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/list/", "-a", "max_pages=3"],
                              tmp_path, env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"),
                                                       GONGKAI_PAGE_CAP="6"), timeout=90)
    assert explicit.returncode == 0, explicit.log[-3000:]
    assert explicit.stats["gongkai/listing/pages"] == 3


# --- exit codes: configuration errors are one line and exit 2 ---------------------------------------------------


@pytest.mark.parametrize(("arg", "message"), [  # every bad value's message: tests/test_spider.py
    ("max_pages=abc", "max_pages must be a whole number"),
    ("since=notadate", "since must be a date YYYY-MM-DD"),
    ("start_url=ftp://x.gov.cn/", "start_url must be an absolute http(s) URL"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, arg, message):
    args = ["crawl", "gongkai", "-a", arg] + ([] if arg.startswith("start_url") else ["-a", "start_url=http://127.0.0.1:9/"])
    result = run_scrapy(args, tmp_path)
    assert result.returncode == 2, result.log[-3000:]
    assert "Traceback" not in result.log
    lines = [line for line in result.log.splitlines() if line.startswith("scrapy crawl:")]
    assert len(lines) == 1 and message in lines[0], lines


def test_unknown_site_exits_2(tmp_path):
    result = run_scrapy(["crawl", "gongkai", "-a", "site=no_such_site"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.log
    assert "scrapy crawl: no site config 'no_such_site'" in result.log


# --- JOBDIR marker: a reused PID is not a live crawl ----------------------------------------------------------


def _marker(jobdir: Path, **data) -> None:
    jobdir.mkdir(parents=True, exist_ok=True)
    (jobdir / "gongkai.running").write_text(json.dumps(data), encoding="utf-8")


def test_a_marker_is_alive_only_for_the_process_that_wrote_it():
    from gongkai_spider.extensions.liveness import marker_alive, process_identity

    me = process_identity()
    assert me["start_ticks"] is not None and me["boot_id"]  # Linux: /proc is there
    assert marker_alive(me)
    assert not marker_alive({**me, "start_ticks": me["start_ticks"] + 1})  # the PID, reused by a later process
    assert not marker_alive({**me, "boot_id": "another-boot"})  # written before a reboot
    assert not marker_alive({"pid": 2**22 + 12345})  # no such process
    assert not marker_alive({"pid": "12"}) and not marker_alive({})
    assert marker_alive({"pid": os.getpid()})  # an old marker without identity: the PID alone decides


def test_run_history_does_not_take_a_reused_pid_for_a_run_in_progress(tmp_path):
    from gongkai_spider.extensions.history import SiteHistory
    from gongkai_spider.extensions.liveness import process_identity

    parent = process_identity(os.getppid())
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"running": {**parent, "start_ticks": parent["start_ticks"] + 1, "started_at": "x"},
                                "last_run": {"reason": "finished"}}))
    history = SiteHistory(path, "site")
    assert not history.previous_complete and "never closed" in history.previous_note
    path.write_text(json.dumps({"running": {**parent, "started_at": "x"}, "last_run": {"reason": "finished"}}))
    assert "in progress" in SiteHistory(path, "site").previous_note


def test_a_stale_marker_whose_pid_is_reused_does_not_block_the_crawl(tmp_path):
    from gongkai_spider.extensions.liveness import process_identity

    portal = Portal(pages=1, per_page=3)
    jobdir = tmp_path / "job"
    me = process_identity(os.getpid())
    # our own (live) PID, but recorded with another start time: the crawl that wrote it is gone
    _marker(jobdir, pid=os.getppid(), started_at="2024-01-01T00:00:00+08:00",
            start_ticks=int(process_identity(os.getppid())["start_ticks"]) + 12345, boot_id=me["boot_id"])
    with serve({}, default=portal.handler) as server:
        result = crawl(tmp_path, server.base, "-s", f"JOBDIR={jobdir}")
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["gongkai/resume/unclean_jobdir"] == 1 and result.stats["gongkai/store/new"] == 3
    assert not (jobdir / "gongkai.running").exists()


def test_a_marker_of_a_live_crawl_refuses_with_one_line_and_exit_2(tmp_path):
    from gongkai_spider.extensions.liveness import process_identity

    jobdir = tmp_path / "job"
    _marker(jobdir, started_at="2024-01-01T00:00:00+08:00", **process_identity(os.getppid()))
    result = run_scrapy(["crawl", "gongkai", "-a", "start_url=http://127.0.0.1:9/", "-s", f"JOBDIR={jobdir}"],
                        tmp_path)
    assert result.returncode == 2, result.log[-3000:]
    assert "Traceback" not in result.log
    assert f"scrapy crawl: JOBDIR {jobdir} is in use by a running crawl (pid {os.getppid()})" in result.log
