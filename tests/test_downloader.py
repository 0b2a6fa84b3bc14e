"""The downloader (gongkai_spider/downloader.py): with no download delay a slot never has more requests in flight
than its concurrency, and a crawl keeps its connections instead of closing and reopening them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from crawl_support import Seen, portal_handler, run_scrapy, scrapy_env, serve

from gongkai_spider.demo import build_portal

SCRAPY_DOWNLOADER = "DOWNLOADER=scrapy.core.downloader.Downloader"


def _crawl(tmp_path: Path, *settings: str) -> tuple[int, int, dict]:
    """(TCP connections, most requests in flight at once, stats) of a demo crawl at 3 requests per domain,
    no download delay, 16 requests in all."""
    portal = build_portal(20)
    answer = portal_handler(portal)
    lock, in_flight, most = threading.Lock(), [0], [0]

    def counted(seen: Seen):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            time.sleep(0.003)  # long enough for the requests in flight to overlap
            return answer(seen)
        finally:
            with lock:
                in_flight[0] -= 1

    args = ["crawl", "gongkai", "-a", "site=demo", "-s", "CONCURRENT_REQUESTS=16",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=3", "-s", "GONGKAI_EXTRACT_WORKERS=0",
            "-s", "GONGKAI_ATTACHMENTS_ENABLED=0", *(arg for s in settings for arg in ("-s", s))]
    with serve({}, default=counted) as server:
        result = run_scrapy([*args, "-a", f"base_url={server.base}"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool")), timeout=180)
        assert result.returncode == 0, result.log[-2000:]
        return server.connections, most[0], result.stats


def test_a_slot_keeps_its_concurrency_and_its_connections(tmp_path: Path) -> None:
    connections, most, stats = _crawl(tmp_path / "ours")
    assert stats["downloader/response_count"] >= 150
    assert most <= 3
    assert connections <= 3  # each opened once and kept
    # Scrapy 2.19's downloader on the same crawl starts every request queued in the slot at once, and the
    # connections over the pool's limit of 3 are closed as their requests end.
    scrapy_connections, scrapy_most, _ = _crawl(tmp_path / "scrapy", SCRAPY_DOWNLOADER)
    assert scrapy_most > 3 and scrapy_connections > 3
