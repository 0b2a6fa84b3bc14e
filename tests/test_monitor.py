"""Observability (issue 5, part 3): per-site summary, field coverage, run history, alerts and the exit status.

Unit tests feed ``RunMonitor`` signals by hand; the subprocess tests run the real ``scrapy crawl`` (the project's
overridden command) and check its exit status: 0 for a healthy run, 3 when the monitor raised an alert,
1 when the crawl could not start.
"""

from __future__ import annotations

import json

import pytest
from crawl_support import FIXTURES, html, portal_handler, run_scrapy, scrapy_env, serve
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from gongkai_spider.demo.portal import API_COLUMNS, build_portal
from gongkai_spider.extensions.history import history_template
from gongkai_spider.extensions.monitor import (
    COVERAGE_FIELDS,
    RunMonitor,
    coverage_drops,
    distributed_crawl,
    has_value,
    history_file,
)


class Spider:
    name = "gongkai"
    site_id = "demo"


FULL = {"site": "demo", "title": "关于做好政务公开工作的通知", "publish_time": "2024-05-24T09:14:00+08:00",
        "read_count": 0, "author": "办公室", "source": "市政府", "summary": "摘要", "keywords": ["政务公开"],
        "body": "正文", "attachments": [{"name": "附件", "url": "http://gov.example/a.pdf"}],
        "doc_meta": {"index_no": "000-2024-0001"}}


def monitor(tmp_path, **kwargs) -> tuple[RunMonitor, object]:
    crawler = get_crawler(settings_dict={})
    crawler.stats.open_spider()
    mon = RunMonitor(crawler.stats, history=str(tmp_path / "runs" / "{site}.json"), **kwargs)
    mon.spider_opened(Spider())
    return mon, crawler.stats


def fetch(mon, kind: str, n: int = 1, site: str = "demo") -> None:
    for i in range(n):
        request = Request(f"http://gov.example/{kind}/{i}.html", meta={"gongkai": {"kind": kind, "site": site}})
        mon.response_received(None, request)


def scrape(mon, n: int, **overrides) -> None:
    for _ in range(n):
        mon.item_scraped({**FULL, **overrides})


def test_has_value():
    assert has_value(0) and has_value("x") and has_value(["a"]) and has_value({"k": "v"})
    assert not any(has_value(v) for v in (None, "", "  ", [], {}))


def test_summary_stats_and_coverage_at_close(tmp_path, caplog):
    caplog.set_level("INFO")
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 2)
    fetch(mon, "detail", 5)
    scrape(mon, 3)
    scrape(mon, 1, author=None, keywords=[], read_count=None, spam={"is_spam": True, "score": 3.0, "reasons": []})
    mon.item_dropped({"site": "demo", "title": None, "body": "x"}, None, DropItem("no_title: http://gov.example/x"))
    stats.set_value("gongkai/site/demo/store/new", 3)
    stats.set_value("gongkai/store/quarantined", 1)
    stats.set_value("gongkai/validate/dropped/no_title", 1)
    stats.set_value("gongkai/incremental/skipped_known", 7)
    alerts = mon.close("finished")
    assert alerts == []
    assert stats.get_value("gongkai/alert") == 0
    assert stats.get_value("gongkai/site/demo/pages") == 7
    assert stats.get_value("gongkai/site/demo/pages/listing") == 2
    assert stats.get_value("gongkai/site/demo/items") == 5
    assert stats.get_value("gongkai/site/demo/dropped/no_title") == 1
    assert stats.get_value("gongkai/site/demo/quarantined") == 1
    assert stats.get_value("gongkai/site/demo/coverage/title") == 0.8  # the dropped item had none
    assert stats.get_value("gongkai/site/demo/coverage/author") == 0.6
    assert stats.get_value("gongkai/site/demo/coverage/read_count") == 0.6  # 0 is a value, None is not
    assert stats.get_value("gongkai/site/demo/coverage/body") == 1.0
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("gongkai run summary")]
    assert len(summary) == 1  # one block
    block = summary[0]
    assert "site demo" in block and "pages fetched       7  (detail 5, listing 2)" in block
    assert "stored                 new 3 · updated 0 · unchanged 0" in block and "quarantined as spam 1" in block
    assert "no_title 1" in block and "known 7" in block
    assert "author 60%" in block and "alerts         none" in block
    history = json.loads(history_file(str(tmp_path / "runs" / "{site}.json"), "demo").read_text())
    assert history["site"] == "demo" and len(history["runs"]) == 1
    assert history["runs"][0]["items"] == 5 and history["runs"][0]["coverage"]["author"] == 0.6
    assert set(history["runs"][0]["coverage"]) == set(COVERAGE_FIELDS)


def _write_history(tmp_path, runs):
    path = tmp_path / "runs" / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"site": "demo", "runs": runs}))
    return path


def _run(items, **coverage):
    return {"items": items, "coverage": {f: 1.0 for f in COVERAGE_FIELDS} | coverage}


def test_coverage_drop_against_previous_runs_raises_an_alert(tmp_path, caplog):
    path = _write_history(tmp_path, [_run(40, author=0.9), _run(35, author=0.8), _run(38, author=0.95)])
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 2)
    scrape(mon, 4)
    scrape(mon, 26, author=None)  # author coverage 4/30 = 13% against a median of 90%
    alerts = mon.close("finished")
    assert [a[0] for a in alerts] == ["coverage_drop"]
    assert "author coverage 13%" in alerts[0][1] and "median 90%" in alerts[0][1]
    assert stats.get_value("gongkai/alert") == 1 and stats.get_value("gongkai/alert/coverage_drop") == 1
    assert any(r.levelname == "ERROR" and "coverage_drop" in r.getMessage() for r in caplog.records)
    assert len(json.loads(path.read_text())["runs"]) == 4  # the run is recorded all the same


@pytest.mark.parametrize(("previous", "items", "why"), [
    ([_run(40, author=0.9)], 30, "one earlier run is not a baseline"),
    ([_run(40, author=0.9), _run(40, author=0.9)], 10, "too few items in this run"),
    ([_run(5, author=0.9), _run(8, author=0.9), _run(40, author=0.9)], 30, "small earlier runs do not count"),
    ([_run(40, author=0.15), _run(40, author=0.1)], 30, "a field the site rarely fills cannot drop"),
    ([_run(40, author=0.5), _run(40, author=0.4)], 30, "a fall to just above half the median is tolerated"),
])
def test_no_coverage_alert_without_enough_evidence(previous, items, why):
    current = {f: 1.0 for f in COVERAGE_FIELDS} | {"author": 0.0 if "half" not in why else 0.25}
    assert coverage_drops(current, items, previous) == [], why


def test_empty_listing_and_no_items_alerts(tmp_path):
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 3)
    stats.set_value("gongkai/listing/empty", 1)
    reasons = [a[0] for a in mon.close("finished")]
    assert reasons == ["empty_listing", "no_items"]
    assert stats.get_value("gongkai/alert") == 2


def test_known_articles_are_not_a_missing_item(tmp_path):
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 1)
    stats.set_value("gongkai/incremental/skipped_known", 20)
    assert mon.close("finished") == []
    history = json.loads((tmp_path / "runs" / "demo.json").read_text())
    assert "runs" not in history  # nothing extracted: no coverage to record
    assert history["last_run"]["reason"] == "finished" and "running" not in history


def test_close_reasons(tmp_path):
    mon, _ = monitor(tmp_path)
    assert [a[0] for a in mon.close("cancelled")] == ["close_reason"]
    # a configuration error is no alert: `scrapy crawl` exits 2 for it
    assert monitor(tmp_path)[0].close("site_config_missing") == []
    # an operator's stop (SIGTERM, Ctrl-C; JOBDIR pause) is neither judged nor recorded
    mon, _ = monitor(tmp_path)
    fetch(mon, "listing", 1)
    scrape(mon, 25)
    assert mon.close("shutdown") == []
    history = json.loads((tmp_path / "runs" / "demo.json").read_text())
    assert "runs" not in history and history["last_run"]["reason"] == "shutdown"
    mon, _ = monitor(tmp_path)
    assert [a[0] for a in mon.close("finished")] == ["no_pages"]


def test_blocked_pages_raise_an_alert(tmp_path):
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 1)
    scrape(mon, 2)
    stats.set_value("gongkai/blocked/gave_up", 2)
    assert [a[0] for a in mon.close("finished")] == ["blocked"]


def test_lost_documents_raise_an_alert(tmp_path, caplog):
    caplog.set_level("INFO")
    mon, stats = monitor(tmp_path)
    fetch(mon, "listing", 1)
    scrape(mon, 2)
    stats.set_value("gongkai/store/spooled", 5)
    stats.set_value("gongkai/store/lost", 2)
    assert [a[0] for a in mon.close("finished")] == ["store_lost"]
    assert "store outage   spooled 5 · replayed 0 · errors 0 · lost 2" in caplog.text


# --- distributed workers (REDIS_URL): one shared crawl, many processes --------------------------------------------


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, False),
    ({"REDIS_URL": "redis://10.0.0.5:6379/0"}, True),
    ({"REDIS_HOST": "10.0.0.5"}, True),
    ({"SCHEDULER": "scrapy.core.scheduler.Scheduler"}, False),
])
def test_a_redis_frontier_makes_the_monitor_a_distributed_worker(settings, expected):
    crawler = get_crawler(settings_dict=settings)
    assert distributed_crawl(crawler.settings) is expected
    assert RunMonitor.from_crawler(crawler).distributed is expected


def test_a_scrapy_redis_scheduler_set_directly_is_distributed_too():
    pytest.importorskip("scrapy_redis", reason="the [redis] extra is not installed")
    crawler = get_crawler(settings_dict={"SCHEDULER": "scrapy_redis.scheduler.Scheduler"})
    assert distributed_crawl(crawler.settings)


def test_a_worker_that_got_no_listing_page_raises_no_alert(tmp_path, caplog):
    caplog.set_level("INFO")
    # Another worker took every listing page: this one fetched only a few article pages, or nothing at all.
    mon, stats = monitor(tmp_path, distributed=True)
    assert mon.close("finished") == [] and stats.get_value("gongkai/alert") == 0
    assert "other workers may have taken them" in caplog.text
    mon, stats = monitor(tmp_path, distributed=True)
    fetch(mon, "detail", 3)
    scrape(mon, 3)
    assert mon.close("finished") == []
    mon, stats = monitor(tmp_path, distributed=True)
    fetch(mon, "listing", 2)  # listing pages whose articles the other workers fetched
    assert mon.close("finished") == []
    # the other alerts stay: they are about this worker's own pages
    mon, stats = monitor(tmp_path, distributed=True)
    stats.set_value("gongkai/listing/empty", 1)
    stats.set_value("gongkai/blocked/gave_up", 1)
    assert [a[0] for a in mon.close("finished")] == ["empty_listing", "blocked"]
    assert [a[0] for a in monitor(tmp_path, distributed=True)[0].close("cancelled")] == ["close_reason"]
    # a single process still alerts
    assert [a[0] for a in monitor(tmp_path)[0].close("finished")] == ["no_pages"]


def test_a_distributed_worker_with_a_small_share_adds_no_coverage_baseline(tmp_path):
    path = _write_history(tmp_path, [_run(40), _run(35)])
    mon, _ = monitor(tmp_path, distributed=True)
    fetch(mon, "detail", 5)
    scrape(mon, 5)  # below GONGKAI_COVERAGE_MIN_ITEMS (20): would only push real baselines out
    assert mon.close("finished") == []
    history = json.loads(path.read_text())
    assert [r["items"] for r in history["runs"]] == [40, 35] and history["last_run"]["reason"] == "finished"
    mon, _ = monitor(tmp_path, distributed=True)
    fetch(mon, "detail", 25)
    scrape(mon, 25)
    assert mon.close("finished") == []
    assert [r["items"] for r in json.loads(path.read_text())["runs"]] == [40, 35, 25]


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, "data/runs/{site}.json"),
    ({"GONGKAI_DB": "/srv/crawl/gongkai.sqlite3"}, "/srv/crawl/runs/{site}.json"),
    ({"GONGKAI_DB": "/srv/crawl/gongkai.sqlite3", "MONGO_URI": "mongodb://db"}, "data/runs/{site}.json"),
    ({"GONGKAI_RUN_HISTORY": "/var/lib/gongkai/{site}.json"}, "/var/lib/gongkai/{site}.json"),
    ({"GONGKAI_RUN_HISTORY": "off"}, ""),
])
def test_history_location(settings, expected):
    assert history_template({"GONGKAI_DB": "data/gongkai.sqlite3", **settings}) == expected


def test_disabled_history_keeps_no_file(tmp_path):
    crawler = get_crawler(settings_dict={"GONGKAI_RUN_HISTORY": "off"})
    crawler.stats.open_spider()
    mon = RunMonitor.from_crawler(crawler)
    mon.spider_opened(Spider())
    fetch(mon, "listing", 1)
    scrape(mon, 30)
    assert mon.close("finished") == []
    assert not list(tmp_path.iterdir())


# --- exit status of `scrapy crawl` (real subprocesses) ----------------------------------------------------------

PROBE_DIR = str(FIXTURES / "blocked")
ARTICLE = "<html><body><h1>政务公开</h1><p>正文</p></body></html>"


def crawl_probe(tmp_path, server, paths: str):
    env = scrapy_env(tmp_path, PYTHONPATH=PROBE_DIR)
    return run_scrapy(["crawl", "probe", "-s", "SPIDER_MODULES=probe_spider", "-a", f"base={server.base}",
                       "-a", f"paths={paths}", "-s", "GONGKAI_BLOCKED_MIN_DELAY=0.1",
                       "-s", "AUTOTHROTTLE_MAX_DELAY=0.2"], tmp_path, env=env)


def test_scrapy_crawl_exit_status(tmp_path):
    blocked = html((FIXTURES / "blocked" / "521_jsl.html").read_bytes(), status=521,
                   extra=[("Set-Cookie", "__jsluid_s=1; path=/")])
    with serve({"/ok.html": html(ARTICLE), "/blocked.html": blocked}) as server:
        healthy = crawl_probe(tmp_path, server, "/ok.html")
        broken = crawl_probe(tmp_path, server, "/blocked.html")
    assert healthy.returncode == 0, healthy.log[-3000:]
    assert healthy.stats["gongkai/alert"] == 0 and healthy.stats["item_scraped_count"] == 1
    assert broken.returncode == 3, broken.log[-3000:]
    assert broken.stats["gongkai/alert/blocked"] == 1
    assert "exiting with status 3" in broken.log
    # Scrapy's own rule is kept: a crawl that cannot start exits 1.
    missing = run_scrapy(["crawl", "no_such_spider"], tmp_path)
    assert missing.returncode == 1
    # An unknown site closes the spider with reason site_config_missing: a configuration error (exit 2), one line.
    unknown = run_scrapy(["crawl", "gongkai", "-a", "site=no_such_site"], tmp_path)
    assert unknown.returncode == 2, unknown.log[-3000:]
    assert unknown.stats["finish_reason"] == "site_config_missing"
    assert "gongkai/alert/close_reason" not in unknown.stats
    assert "scrapy crawl: no site config 'no_such_site'" in unknown.log and "Traceback" not in unknown.log


def test_listing_without_links_fails_the_run(tmp_path):
    empty = html("<!DOCTYPE html><html><head><meta charset='utf-8'><title>政府信息公开</title></head><body>"
                 "<div class='list-box'><ul class='news-list'></ul><p>暂无信息</p></div></body></html>")
    with serve({"/list/index.html": empty}) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/list/index.html"], tmp_path)
    assert result.returncode == 3, result.log[-3000:]
    assert result.stats["gongkai/alert/empty_listing"] == 1
    assert "ALERT empty_listing" in result.log


def test_template_change_fails_the_run(tmp_path):
    portal = build_portal({"seed": 14, "trs": 10, "hanweb": 10, **dict.fromkeys(API_COLUMNS, 1)}, seed=2)
    with serve({}, default=portal_handler(portal)) as server:
        first = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path)
    assert first.returncode == 0, first.log[-3000:]
    history_path = tmp_path / "runs" / "demo.json"
    history = json.loads(history_path.read_text())
    assert history["runs"][0]["coverage"]["author"] > 0.3
    history["runs"] *= 3  # as if the site had been crawled like this three times
    history_path.write_text(json.dumps(history))

    # The site redesigns its article pages: the 作者 label is gone, the extractor finds no author any more.
    for path, (body, content_type) in list(portal.pages.items()):
        if path.startswith("/xxgk/2"):
            portal.pages[path] = (body.replace("作者:".encode(), b""), content_type)
    with serve({}, default=portal_handler(portal)) as server:  # a new port: new URLs, so every article is new
        second = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path)
    assert second.returncode == 3, second.log[-3000:]
    assert second.stats["gongkai/alert/coverage_drop"] == 1 and second.stats["gongkai/alert"] == 1
    assert second.stats["gongkai/site/demo/coverage/author"] == 0
    assert "ALERT coverage_drop: site demo: author coverage 0%" in second.log
