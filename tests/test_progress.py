"""Progress of a long run (issue 15 item 6): per-site figures every GONGKAI_PROGRESS_INTERVAL seconds, logged by
Scrapy's PeriodicLog, and GONGKAI_STATS_FILE rewritten during the run, not only at its end."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from crawl_support import REPO, portal_handler, scrapy_env, serve

from gongkai_spider.demo import build_portal

pytestmark = pytest.mark.timeout(120)


def test_the_stats_file_is_updated_while_the_crawl_runs(tmp_path):
    portal = build_portal({"trs": 16})
    env = scrapy_env(tmp_path, GONGKAI_PROGRESS_INTERVAL="0.3", GONGKAI_CONCURRENT_REQUESTS_PER_DOMAIN="1")
    stats_file = tmp_path / "stats.json"
    snapshots = []
    with serve({}, default=portal_handler(portal), delay=0.2) as server:
        proc = subprocess.Popen([sys.executable, "-m", "scrapy", "crawl", "gongkai", "-a",
                                 f"start_url={server.base}/zwgk/tzgg/index.html"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None:
            if stats_file.exists():
                try:
                    snapshots.append(json.loads(stats_file.read_text(encoding="utf-8")))
                except ValueError:  # replaced while read: never, os.replace is atomic; keep the test honest
                    pytest.fail("half-written stats file")
            time.sleep(0.2)
        log = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, log[-3000:]
    running = [s for s in snapshots if "finish_reason" not in s]
    assert len(running) >= 2, log[-3000:]
    site = "127.0.0.1"
    items = [s.get(f"gongkai/site/{site}/items", 0) for s in running]
    # figures grow while the run goes on (the last snapshots may all come after the last item: idle before close)
    assert items == sorted(items) and items[-1] > 0, items
    assert any(s.get("gongkai/progress/pages_per_second", 0) > 0 for s in running), running[-1]
    final = json.loads(stats_file.read_text(encoding="utf-8"))
    assert final["finish_reason"] == "finished" and final[f"gongkai/site/{site}/items"] == 16
    assert "[scrapy.extensions.periodic_log] INFO" in log and f"gongkai/site/{site}/items" in log
