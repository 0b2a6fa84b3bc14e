"""Resumable runs (issue 5, part 4) and the incremental second run (part 6), as real `scrapy crawl` processes.

* A crawl of the demo portal killed with SIGKILL mid-run and restarted with the same JOBDIR finishes with every
  article stored exactly once.
* A second run over the unchanged portal fetches listing pages only: every detail request is skipped as known.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crawl_support import REPO, portal_handler, run_scrapy, scrapy_env, serve
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from gongkai_spider.demo.portal import build_portal
from gongkai_spider.extensions.history import SiteHistory
from gongkai_spider.extensions.jobdir import MARKER, JobDirGuard, JobDirInUse
from gongkai_spider.middlewares.incremental import IncrementalMiddleware
from gongkai_spider.normalize import canonical_url

pytestmark = pytest.mark.timeout(120)


# --- the run state behind "stop after K known" -------------------------------------------------------------


def history_at(tmp_path, **data) -> SiteHistory:
    path = tmp_path / "demo.json"
    if data:
        path.write_text(json.dumps({"site": "demo", **data}))
    return SiteHistory(path, "demo")


def test_a_killed_or_unfinished_previous_run_disables_the_stop_rule(tmp_path):
    assert history_at(tmp_path).previous_complete  # first run: nothing is known anyway
    assert history_at(tmp_path, last_run={"reason": "finished"}).previous_complete
    killed = history_at(tmp_path, last_run={"reason": "finished"}, running={"pid": 2**22 + 12345, "started_at": "x"})
    assert not killed.previous_complete and "never closed" in killed.previous_note
    paused = history_at(tmp_path, last_run={"reason": "shutdown"})
    assert not paused.previous_complete and "shutdown" in paused.previous_note


def test_history_marks_the_run_and_records_its_end(tmp_path):
    history = history_at(tmp_path)
    history.start()
    on_disk = json.loads(history.path.read_text())
    assert on_disk["running"]["pid"] == os.getpid()
    history.finish("finished", {"items": 3, "coverage": {"title": 1.0}})
    on_disk = json.loads(history.path.read_text())
    assert "running" not in on_disk and on_disk["last_run"]["reason"] == "finished"
    assert on_disk["runs"][0]["items"] == 3
    assert SiteHistory(history.path, "demo").previous_complete


def test_workers_sharing_a_history_file_never_undo_each_other(tmp_path):
    """Two workers of one distributed crawl on one machine: each writes only its own change to the file."""
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"site": "demo", "runs": [{"items": 40, "coverage": {"title": 1.0}}],
                                "last_run": {"reason": "finished"}}))
    first, second = SiteHistory(path, "demo"), SiteHistory(path, "demo", pid=os.getppid())  # both alive
    first.start()
    second.start()
    on_disk = json.loads(path.read_text())
    assert [on_disk["running"]["pid"], on_disk["running_others"][0]["pid"]] == [os.getpid(), os.getppid()]
    assert not SiteHistory(path, "demo", pid=2**22 + 1).previous_complete  # a third run sees both on
    second.finish("finished", {"items": 30, "coverage": {"title": 0.9}})  # the worker that did the work
    on_disk = json.loads(path.read_text())
    assert on_disk["running"]["pid"] == os.getpid() and "running_others" not in on_disk
    first.finish("finished")  # saw nothing: it must not write back the runs it read at its start
    on_disk = json.loads(path.read_text())
    assert [r["items"] for r in on_disk["runs"]] == [40, 30]
    assert "running" not in on_disk and on_disk["last_run"]["reason"] == "finished"
    assert SiteHistory(path, "demo").previous_complete
    # a marker left by a killed run is judged by the next run, then dropped when it starts
    path.write_text(json.dumps({**on_disk, "running": {"pid": 2**22 + 12345, "started_at": "x"}}))
    after_kill = SiteHistory(path, "demo")
    assert not after_kill.previous_complete
    after_kill.start()
    assert json.loads(path.read_text())["running"]["pid"] == os.getpid()
    assert not list(tmp_path.glob("*.tmp"))


def _finish_one_run(path: str, n: int, barrier) -> None:
    history = SiteHistory(Path(path), "demo", pid=os.getpid())
    history.start()
    barrier.wait(10)  # every worker read the file before any writes back
    history.finish("finished", {"items": 20 + n, "coverage": {"title": 1.0}})


def test_concurrent_workers_lose_no_run(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = 6
    barrier = context.Barrier(workers)
    procs = [context.Process(target=_finish_one_run, args=(str(tmp_path / "demo.json"), n, barrier))
             for n in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    assert [proc.exitcode for proc in procs] == [0] * workers
    on_disk = json.loads((tmp_path / "demo.json").read_text())
    assert sorted(r["items"] for r in on_disk["runs"]) == [20 + n for n in range(workers)]
    assert "running" not in on_disk and "running_others" not in on_disk


def test_full_walk_after_an_interrupted_run(tmp_path):
    crawler = get_crawler(settings_dict={})
    crawler.stats.open_spider()
    mw = IncrementalMiddleware(crawler.stats, lambda ids: set(ids), stop_after=2)
    mw._history = lambda: history_at(tmp_path, running={"pid": 2**22 + 12345, "started_at": "x"})
    mw.spider_opened(type("Spider", (), {"since": None, "refresh": False})())
    assert mw.full_walk and crawler.stats.get_value("gongkai/incremental/full_walk") == 1
    column = "http://gov.example/list.html"
    listing = Request(column, meta={"gongkai": {"kind": "listing", "column": column, "page": 1}})
    outputs = [Request(f"http://gov.example/a{n}.html", meta={"gongkai": {"kind": "detail", "column": column}})
               for n in range(5)]
    outputs.append(Request("http://gov.example/list_2.html",
                           meta={"gongkai": {"kind": "listing", "column": column, "page": 2}}))
    kept = mw.filter_listing_output(HtmlResponse(column, body=b"", request=listing), outputs)
    # every article is known (skipped), but the next listing page is still followed
    assert [r.url for r in kept] == ["http://gov.example/list_2.html"]


def test_jobdir_guard(tmp_path):
    job = tmp_path / "job"
    (job / "requests.queue" / "slot").mkdir(parents=True)
    (job / "requests.seen").write_text("f" * 40 + "\n")
    (job / "spider.state").write_bytes(b"state")
    # a marker left by a dead process: the scheduler state is discarded, spider.state kept
    (job / MARKER).write_text(json.dumps({"pid": 2**22 + 12345, "started_at": "2024-05-24T09:00:00+08:00"}))
    guard = JobDirGuard(str(job))
    assert guard.unclean and not (job / "requests.seen").exists() and not (job / "requests.queue").exists()
    assert (job / "spider.state").exists()
    assert json.loads((job / MARKER).read_text())["pid"] == os.getpid()
    # a finished job clears its seen list and marker; a paused one keeps them
    (job / "requests.seen").write_text("f" * 40 + "\n")
    guard.spider_closed(reason="shutdown")
    assert (job / "requests.seen").exists() and not (job / MARKER).exists()
    JobDirGuard(str(job)).spider_closed(reason="finished")
    assert not (job / "requests.seen").exists() and not (job / MARKER).exists()
    # a live crawl's marker: refuse to start a second crawl on the same JOBDIR
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (job / MARKER).write_text(json.dumps({"pid": sleeper.pid, "started_at": "now"}))
        with pytest.raises(JobDirInUse, match="in use by a running crawl"):
            JobDirGuard(str(job))
    finally:
        sleeper.kill()
        sleeper.wait()


# --- real crawls ---------------------------------------------------------------------------------------------


def stored(db_path) -> list[str]:
    """URLs of the stored articles (one row per document)."""
    if not db_path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return [row[0] for row in db.execute("select url from articles")]
    except sqlite3.OperationalError:  # the crawl is creating its tables right now
        return []


def expected_urls(portal, base: str) -> set[str]:
    return {canonical_url(doc["url"]) for doc in portal.expected_for(base) if not doc["is_spam"]}


def crawl_args(base: str, *extra: str) -> list[str]:
    return ["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={base}", *extra]


def test_sigkill_then_resume_with_same_jobdir_stores_every_article_once(tmp_path):
    portal = build_portal(40, seed=3)
    jobdir = tmp_path / "job"
    db = tmp_path / "store.sqlite3"
    # Small store batches so part of the crawl is stored when the kill lands; a slow server so it lands mid-run.
    env = scrapy_env(tmp_path, GONGKAI_STORE_BATCH_SIZE="10")
    with serve({}, default=portal_handler(portal), delay=0.03) as server:
        want = expected_urls(portal, server.base)
        proc = subprocess.Popen([sys.executable, "-m", "scrapy", *crawl_args(server.base, "-s", f"JOBDIR={jobdir}")],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(stored(db)) < len(want) // 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, "the crawl finished before it could be killed; slow the server down"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        before = stored(db)
        assert 0 < len(before) < len(want)

        resumed = run_scrapy(crawl_args(server.base, "-s", f"JOBDIR={jobdir}"), tmp_path, env=env)
    assert resumed.returncode == 0, resumed.log[-4000:]
    after = stored(db)
    assert len(after) == len(set(after)), "an article was stored twice"
    assert {canonical_url(u) for u in after} == want, "articles missing after the resumed run"
    # the restart did not fetch again what the killed run had stored
    assert resumed.stats["gongkai/incremental/skipped_known"] >= len(before)
    assert resumed.stats["gongkai/resume/unclean_jobdir"] == 1


def test_second_run_over_unchanged_portal_fetches_listing_pages_only(tmp_path):
    # every column pages at least once: hanweb/hanweb_post through dataproxy.jsp, jpaas 2 gateway pages,
    # gkmlpt 2 API pages, the JSON API column 3 pages
    portal = build_portal({"seed": 25, "trs": 25, "hanweb": 50, "hanweb_post": 50, "jpaas": 25, "gkmlpt": 25,
                           "api": 25}, seed=5)
    with serve({}, default=portal_handler(portal)) as server:
        first = run_scrapy(crawl_args(server.base), tmp_path)
        second = run_scrapy(crawl_args(server.base), tmp_path)
        want = expected_urls(portal, server.base)
    assert first.returncode == 0, first.log[-4000:]
    assert second.returncode == 0, second.log[-4000:]
    assert {canonical_url(u) for u in stored(tmp_path / "store.sqlite3")} == want
    s1, s2 = first.stats, second.stats
    assert s1["gongkai/site/demo/pages/detail"] == len(want)
    assert s1["gongkai/listing/dialect/hanweb"] == 2 and s1["gongkai/listing/dialect/jpaas"] == 2
    assert s1["gongkai/listing/dialect/gkmlpt"] == 2 and s1["gongkai/listing/dialect/api"] == 3
    # second run: no detail or continuation page, only the first listing request of each column (for the
    # gkmlpt and jpaas shells: the shell and its first API request)
    assert "gongkai/site/demo/pages/detail" not in s2 and "gongkai/site/demo/pages/continuation" not in s2
    assert s2["gongkai/site/demo/pages/listing"] == 7 + 2 < s1["gongkai/site/demo/pages/listing"]
    assert "gongkai/listing/dialect/hanweb" not in s2
    assert [s2["gongkai/listing/dialect/" + d] for d in ("jpaas", "gkmlpt", "api")] == [1, 1, 1]
    assert s2["gongkai/incremental/stopped_columns"] == 7
    assert s2["gongkai/incremental/skipped_known"] >= 7 * 10
    assert s2.get("item_scraped_count", 0) == 0 and s2["gongkai/alert"] == 0


def test_run_end_is_recorded_without_the_monitor(tmp_path):
    from scrapy import signals

    from gongkai_spider.extensions.history import site_history_for_crawler

    crawler = get_crawler(settings_dict={"GONGKAI_RUN_HISTORY": str(tmp_path / "{site}.json")})
    crawler.spider = type("Spider", (), {"site_id": "demo", "name": "gongkai"})()
    history = site_history_for_crawler(crawler)
    assert site_history_for_crawler(crawler) is history  # one per crawl
    assert json.loads((tmp_path / "demo.json").read_text())["running"]["pid"] == os.getpid()
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    on_disk = json.loads((tmp_path / "demo.json").read_text())
    assert "running" not in on_disk and on_disk["last_run"]["reason"] == "finished"
