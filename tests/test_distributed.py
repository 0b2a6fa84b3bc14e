"""Distributed crawling on Redis (gongkai_spider/distributed): the scheduler switch, seeding once, workers
waiting for each other, resuming, and two real `scrapy crawl gongkai` workers sharing one portal.

Redis: the server CI starts (GONGKAI_TEST_REDIS_URL), else a private `redis-server` on a free port of
127.0.0.1; the tests skip, saying why, only when neither exists. Every test uses its own key prefix, so a
shared server is never disturbed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.core.scheduler import Scheduler as ScrapyScheduler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.request import fingerprint
from scrapy.utils.test import get_crawler

from gongkai_spider.demo.portal import COLUMNS, build_portal
from gongkai_spider.demo.server import serve
from gongkai_spider.distributed import Scheduler
from gongkai_spider.stats import CounterStats
from gongkai_spider.storage import open_store

redis = pytest.importorskip("redis", reason="the [redis] extra (redis, scrapy-redis) is not installed")
pytest.importorskip("scrapy_redis", reason="the [redis] extra (redis, scrapy-redis) is not installed")

from gongkai_spider.distributed.redis_scheduler import CrawlKeys, RedisScheduler  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    url = os.environ.get("GONGKAI_TEST_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip(
            "redis-server is not installed (apt-get install redis-server) and GONGKAI_TEST_REDIS_URL is unset"
        )
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip(f"could not start redis-server on port {port}")
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(server) -> str:
    value = f"gongkai-test:{uuid.uuid4().hex[:8]}:%(site)s"
    yield value
    for key in server.scan_iter(match=value.split("%")[0] + "*"):
        server.delete(key)


def _spider(site: str = "demo") -> Spider:
    return Spider(name="gongkai", site_id=site)


def _worker(server, prefix: str, name: str, spider: Spider | None = None, **kwargs) -> RedisScheduler:
    scheduler = RedisScheduler(server, key_prefix=prefix, stats=CounterStats(), worker_id=name, **kwargs)
    scheduler.open(spider or _spider())
    return scheduler


def _seed(url: str) -> Request:
    # What Scrapy's StartSpiderMiddleware makes of a start request.
    return Request(url, dont_filter=True, meta={"is_start_request": True})


# --- the SCHEDULER switch ----------------------------------------------------------------------------------


def test_without_redis_url_the_crawl_uses_scrapys_scheduler():
    crawler = get_crawler(settings_dict={"SCHEDULER": "gongkai_spider.distributed.Scheduler"})
    scheduler = Scheduler.from_crawler(crawler)
    assert isinstance(scheduler, ScrapyScheduler)
    assert not isinstance(scheduler, RedisScheduler)


def test_redis_url_setting_switches_to_the_shared_redis_scheduler(redis_url: str):
    crawler = get_crawler(settings_dict={"REDIS_URL": redis_url, "GONGKAI_REDIS_WORKER_TTL": 12})
    scheduler = Scheduler.from_crawler(crawler)
    assert isinstance(scheduler, RedisScheduler)
    assert scheduler.worker_ttl == 12
    assert scheduler.persist  # a worker closing never flushes the others' frontier


def test_project_settings_name_the_switch():
    from gongkai_spider import settings

    assert settings.SCHEDULER == "gongkai_spider.distributed.Scheduler"
    assert settings.GONGKAI_REDIS_KEY_PREFIX == "gongkai:%(site)s"


# --- seeding, ordering, duplicates -------------------------------------------------------------------------


def test_start_requests_are_seeded_once_across_workers(server, prefix: str):
    a, b = _worker(server, prefix, "a"), _worker(server, prefix, "b")
    assert a.enqueue_request(_seed("http://portal.test/xxgk/index.html"))
    assert not b.enqueue_request(_seed("http://portal.test/xxgk/index.html"))
    assert b.enqueue_request(_seed("http://portal.test/zwgk/tzgg/index.html"))  # a seed only b has
    assert a.stats.get_value("gongkai/distributed/seeds/pushed") == 1
    assert b.stats.get_value("gongkai/distributed/seeds/skipped") == 1
    assert len(a) == 2

    # A retry of a claimed seed, popped and retried by another worker, is not mistaken for a re-seed.
    popped = b.next_request()
    retry = popped.replace(meta={**popped.meta, "retry_times": 1})
    assert a.enqueue_request(retry)
    assert len(a) == 2


def test_duplicates_are_filtered_across_workers_and_dont_filter_is_honoured(server, prefix: str):
    a, b = _worker(server, prefix, "a"), _worker(server, prefix, "b")
    assert a.enqueue_request(Request("http://portal.test/art/1.html"))
    assert not b.enqueue_request(Request("http://portal.test/art/1.html#comments"))  # same fingerprint
    assert b.enqueue_request(Request("http://portal.test/art/1.html", dont_filter=True))
    assert b.stats.get_value("dupefilter/filtered") == 1
    assert server.scard(a.keys.dupefilter) == 1


def test_higher_priority_first_then_newest_first(server, prefix: str):
    a = _worker(server, prefix, "a")
    for url, priority in [
        ("http://p.test/1", 0),
        ("http://p.test/2", 0),
        ("http://p.test/3", 5),
        ("http://p.test/4", -1),
        ("http://p.test/5", 0),
    ]:
        a.enqueue_request(Request(url, priority=priority))
    order = [a.next_request().url for _ in range(5)]
    assert order == [
        "http://p.test/3",
        "http://p.test/5",
        "http://p.test/2",
        "http://p.test/1",
        "http://p.test/4",
    ]
    assert a.next_request() is None


def test_requests_keep_callbacks_and_meta_across_workers(server, prefix: str):
    class PortalSpider(Spider):
        name = "gongkai"
        site_id = "demo"

        def parse_detail(self, response):  # pragma: no cover - never called here
            return None

    spider_a, spider_b = PortalSpider(), PortalSpider()
    a, b = _worker(server, prefix, "a", spider_a), _worker(server, prefix, "b", spider_b)
    meta = {"gongkai": {"kind": "detail", "site": "demo", "list_url": "http://p.test/list", "pinned": True}}
    a.enqueue_request(
        Request("http://p.test/art/9.html", callback=spider_a.parse_detail, meta=meta, priority=3)
    )
    request = b.next_request()
    assert request.callback == spider_b.parse_detail
    assert request.meta["gongkai"] == meta["gongkai"]
    assert request.priority == 3


def test_a_request_redis_cannot_carry_stays_with_its_worker(server, prefix: str):
    a = _worker(server, prefix, "a")
    assert a.enqueue_request(Request("http://p.test/x", callback=lambda response: None))
    assert a.stats.get_value("gongkai/distributed/local_requests") == 1
    assert a.has_pending_requests()
    assert a.next_request().url == "http://p.test/x"
    assert not a.has_pending_requests()


def test_sites_never_share_a_frontier(server, prefix: str):
    a = _worker(server, prefix, "a", _spider("demo"))
    b = _worker(server, prefix, "b", _spider("mof"))
    a.enqueue_request(Request("http://p.test/1"))
    assert not b.has_pending_requests()
    assert b.enqueue_request(Request("http://p.test/1"))  # separate duplicate filters, too
    assert a.keys != b.keys


# --- finishing together --------------------------------------------------------------------------------------


def test_idle_worker_waits_while_another_is_busy_then_both_finish(server, prefix: str):
    a, b = _worker(server, prefix, "a"), _worker(server, prefix, "b")
    a.enqueue_request(_seed("http://p.test/list/1"))
    with pytest.raises(DontCloseSpider):  # queue not empty
        b.spider_idle()
    assert a.next_request().url == "http://p.test/list/1"  # a is now busy with the only request
    with pytest.raises(DontCloseSpider):  # queue empty, but a may still push requests
        b.spider_idle()
    a.enqueue_request(Request("http://p.test/art/1"))  # ... and it does
    assert b.next_request().url == "http://p.test/art/1"
    with pytest.raises(DontCloseSpider):  # a is idle, b busy
        a.spider_idle()
    b.spider_idle()  # b idle, a idle, nothing queued: the crawl is over
    a.spider_idle()
    assert not server.exists(*a.keys)  # state cleared, so the next run starts afresh


def test_a_killed_busy_worker_stops_holding_the_others_after_its_ttl(server, prefix: str):
    a, b = _worker(server, prefix, "a", worker_ttl=0.3), _worker(server, prefix, "b", worker_ttl=0.3)
    a.enqueue_request(Request("http://p.test/1"))
    a.next_request()  # a takes the request and dies without a word
    with pytest.raises(DontCloseSpider):
        b.spider_idle()
    time.sleep(0.4)
    b.spider_idle()  # a's busy mark expired


def test_stopped_workers_leave_the_frontier_and_the_next_ones_resume(server, prefix: str):
    a = _worker(server, prefix, "a")
    for n in range(3):
        a.enqueue_request(Request(f"http://p.test/{n}"))
    assert a.next_request().url == "http://p.test/2"  # newest first; a crawls it before stopping
    a.close("shutdown")
    assert server.zcard(a.keys.workers) == 0  # nobody waits for a stopped worker

    c = _worker(server, prefix, "c")
    assert not c.enqueue_request(_seed("http://p.test/0"))  # resumed crawl: seeds already done
    assert not c.enqueue_request(Request("http://p.test/2"))  # the duplicate filter survived
    assert [c.next_request().url for _ in range(2)] == ["http://p.test/1", "http://p.test/0"]
    assert c.next_request() is None


def test_a_new_run_after_a_finished_crawl_seeds_again(server, prefix: str):
    a = _worker(server, prefix, "a")
    a.enqueue_request(_seed("http://p.test/list"))
    a.next_request()
    a.spider_idle()
    a.close("finished")
    b = _worker(server, prefix, "b")
    assert b.enqueue_request(_seed("http://p.test/list"))


def test_flush_on_start_discards_a_left_over_crawl(server, prefix: str):
    a = _worker(server, prefix, "a")
    a.enqueue_request(Request("http://p.test/1"))
    a.close("shutdown")
    b = _worker(server, prefix, "b", flush_on_start=True)
    assert not b.has_pending_requests()
    assert b.enqueue_request(Request("http://p.test/1"))


def test_keys_are_named_after_the_site(server, prefix: str):
    a = _worker(server, prefix, "a", _spider("mof"))
    assert a.keys == CrawlKeys.for_prefix(prefix % {"site": "mof"})
    assert a.keys.requests.endswith(":mof:requests")


def test_status_and_reset_commands(server, prefix: str, redis_url: str, monkeypatch, capsys):
    from gongkai_spider.distributed.__main__ import main

    a = _worker(server, prefix, "a", _spider("mof"))
    a.enqueue_request(Request("http://p.test/1"))
    a.enqueue_request(Request("http://p.test/2"))
    monkeypatch.setenv("GONGKAI_REDIS_KEY_PREFIX", prefix)
    assert main(["status", "--site", "mof", "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "queued requests: 2" in out and "pages seen:      2" in out and "busy workers:    1" in out
    assert main(["reset", "--site", "mof", "--redis-url", redis_url]) == 0
    assert not a.has_pending_requests()


# --- two real workers ---------------------------------------------------------------------------------------

ARTICLES_PER_COLUMN = 300  # 2,100 articles over the seven demo columns


def _problems(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if re.search(r"\] (WARNING|ERROR|CRITICAL):|Traceback|Warning:", line)
    ]


def _stored_urls(db: Path) -> list[str]:
    store = open_store({"MONGO_URI": "", "GONGKAI_DB": str(db)})
    try:
        return [
            doc["url"] for collection in ("articles", "quarantine") for doc in store.iter_docs(collection)
        ]
    finally:
        store.close()


def _start_worker(n: int, base_url: str, redis_url: str, prefix: str, tmp_path: Path,
                  **extra_env: str) -> subprocess.Popen:
    """`scrapy crawl gongkai -a site=demo` as worker ``n``: its own SQLite store, stats file and log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_", "REDIS_"))}
    env.update(
        REDIS_URL=redis_url,
        GONGKAI_REDIS_KEY_PREFIX=prefix,
        GONGKAI_DB=str(tmp_path / f"worker{n}.sqlite3"),
        GONGKAI_STATS_FILE=str(tmp_path / f"stats{n}.json"),
        GONGKAI_SPOOL_DIR=str(tmp_path / f"spool{n}"),
        GONGKAI_RUN_HISTORY="",
        GONGKAI_AUTOTHROTTLE="0",
        GONGKAI_DOWNLOAD_DELAY="0",
        GONGKAI_CONCURRENT_REQUESTS_PER_DOMAIN="8",
        **extra_env,
    )
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "gongkai",
        "-a",
        "site=demo",
        "-a",
        f"base_url={base_url}",
    ]
    with (tmp_path / f"worker{n}.log").open("w") as log:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen, timeout: float = 240) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def _finished_cleanly(n: int, proc: subprocess.Popen, tmp_path: Path) -> dict:
    """Worker ``n``'s final stats, after checking its exit status and that its log has no warning or error."""
    log = (tmp_path / f"worker{n}.log").read_text()
    assert proc.returncode == 0, f"worker {n} exited {proc.returncode}:\n{log[-4000:]}"
    assert _problems(log) == [], f"worker {n} logged problems"
    return json.loads((tmp_path / f"stats{n}.json").read_text())


def _spider_for_site(base_url: str) -> Any:
    from gongkai_spider.spiders.gongkai import GongkaiSpider

    return GongkaiSpider(site="demo", base_url=base_url)


def _start_requests(spider: Any) -> list[Request]:
    async def collect() -> list[Request]:
        return [r async for r in spider.start()]

    return asyncio.run(collect())


def _stored_once(expected: list[str], tmp_path: Path, workers: tuple[int, ...] = (1, 2)) -> None:
    stored = Counter(url for n in workers for url in _stored_urls(tmp_path / f"worker{n}.sqlite3"))
    duplicates = sorted(url for url, count in stored.items() if count > 1)
    missing = sorted(set(expected) - set(stored))
    assert (duplicates, missing) == ([], [])
    assert sorted(stored) == expected


def test_two_workers_store_every_article_exactly_once(redis_url: str, server, prefix: str, tmp_path: Path):
    portal = build_portal(ARTICLES_PER_COLUMN, spam=5)
    with serve(portal) as base_url:
        expected = sorted(doc["url"] for doc in portal.expected_for(base_url))
        workers = [_start_worker(n, base_url, redis_url, prefix, tmp_path) for n in (1, 2)]
        for proc in workers:
            _wait(proc)

    stats = [_finished_cleanly(n, proc, tmp_path) for n, proc in enumerate(workers, 1)]
    assert [s["finish_reason"] for s in stats] == ["finished", "finished"]
    assert all(s.get("item_scraped_count", 0) > 100 for s in stats), (
        "both workers must get a share of the work"
    )
    assert sum(s.get("gongkai/distributed/seeds/pushed", 0) for s in stats) == len(COLUMNS)  # seeded once each
    _stored_once(expected, tmp_path)
    assert list(server.scan_iter(match=prefix.split("%")[0] + "*")) == []  # the finished crawl left nothing


def test_a_stopped_crawl_resumes_with_the_next_worker(redis_url: str, server, prefix: str, tmp_path: Path):
    portal = build_portal(200)
    with serve(portal) as base_url:
        expected = sorted(doc["url"] for doc in portal.expected_for(base_url))
        first = _start_worker(1, base_url, redis_url, prefix, tmp_path)
        seen = f"{prefix % {'site': 'demo'}}:dupefilter"
        deadline = time.monotonic() + 120
        while server.scard(seen) < 300 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGINT)  # Ctrl-C: finish what is in flight, leave the rest queued
        _wait(first)
        assert server.zcard(f"{prefix % {'site': 'demo'}}:requests") > 0, (
            "stopped too late to leave work behind"
        )
        second = _start_worker(2, base_url, redis_url, prefix, tmp_path)
        _wait(second)

    first_stats = _finished_cleanly(1, first, tmp_path)
    second_stats = _finished_cleanly(2, second, tmp_path)
    assert first_stats["finish_reason"] == "shutdown"
    assert second_stats["finish_reason"] == "finished"
    assert second_stats["gongkai/distributed/seeds/skipped"] == len(COLUMNS)  # resumed, not re-seeded
    _stored_once(expected, tmp_path)


def test_a_worker_left_without_listing_pages_finishes_without_alert(redis_url: str, server, prefix: str,
                                                                     tmp_path: Path):
    """Another worker took every listing page: this one fetches nothing, yet the shared crawl is fine (exit 0)."""
    keys = CrawlKeys.for_prefix(prefix % {"site": "demo"})
    portal = build_portal(5)
    with serve(portal) as base_url:
        seeds = _start_requests(_spider_for_site(base_url))
        server.sadd(keys.dupefilter, *(fingerprint(r) for r in seeds))  # seeded by the other worker
        seconds, _ = server.time()
        # busy until this worker has joined (however slowly it starts on a loaded machine), then silent
        server.zadd(keys.workers, {"the-other-worker": seconds + 3600})
        proc = _start_worker(1, base_url, redis_url, prefix, tmp_path, GONGKAI_REDIS_WORKER_TTL="2")
        deadline = time.monotonic() + 60
        while server.zcard(keys.workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        server.zrem(keys.workers, "the-other-worker")
        _wait(proc, timeout=120)

    stats = _finished_cleanly(1, proc, tmp_path)
    assert stats["finish_reason"] == "finished" and stats["gongkai/distributed/seeds/skipped"] == len(COLUMNS)
    assert stats.get("gongkai/site/demo/pages", 0) == 0 and stats["gongkai/alert"] == 0
    assert "no alert" in (tmp_path / "worker1.log").read_text()
