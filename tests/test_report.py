"""``gongkai report`` (issue 15 item 7): one self-contained HTML page per store, rendered in headless Chromium
(Debian ``chromium``; skipped where absent) with no console message and the expected number of bars and points."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from crawl_support import REPO, portal_handler, run_scrapy, scrapy_env, serve

from gongkai_spider.demo import build_portal

pytestmark = pytest.mark.timeout(240)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> Path:
    """A store and run history from two crawls of a local portal with spam pages (the second one finds the
    site unchanged)."""
    tmp = tmp_path_factory.mktemp("report")
    portal = build_portal({"seed": 8, "trs": 8}, spam=3)
    with serve({}, default=portal_handler(portal)) as server:
        for _ in range(2):
            result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp,
                                env=scrapy_env(tmp))
            assert result.returncode in (0, 3), result.log[-3000:]
    return tmp


def _report(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_"))}
    env.update(PYTHONPATH=str(REPO), GONGKAI_DB=str(folder / "store.sqlite3"),
               GONGKAI_RUN_HISTORY=str(folder / "runs" / "{site}.json"))
    return subprocess.run([sys.executable, "-m", "gongkai_spider.cli", "report", *extra], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=60)


def _expected(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "store.sqlite3") as db:
        months = {p[:7] for (p,) in db.execute("select publish_time from articles where site='demo'") if p}
        reasons = Counter()
        for (doc,) in db.execute("select doc from quarantine where site='demo'"):
            reasons.update({r.split(":", 1)[0] for r in json.loads(doc)["spam"]["reasons"]})
    runs = json.loads((folder / "runs" / "demo.json").read_text(encoding="utf-8"))["log"]
    # a run that extracted nothing (the second: the site had not changed) has no coverage: no points
    return {"months": len(months), "runs": 3 * len(runs), "points": sum(len(r["coverage"]) for r in runs),
            "quarantine": len(reasons), "n_runs": len(runs)}


def test_the_report_is_one_self_contained_page(crawled):
    out = crawled / "report.html"
    proc = _report(crawled, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "@import" not in page and "@font-face" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)  # nothing fetched from elsewhere
    expected = _expected(crawled)
    assert expected["n_runs"] == 2 and expected["quarantine"] >= 1
    demo = page[page.index("id='site-demo'"):]
    charts = dict(re.findall(r'<svg class="chart" data-chart="(\w+)"(.*?)</svg>', demo, re.S))
    assert charts["months"].count('class="bar"') == expected["months"]
    assert charts["runs"].count('class="bar"') == expected["runs"]
    assert charts["coverage"].count('class="point"') == expected["points"]
    assert charts["quarantine"].count('class="bar"') == expected["quarantine"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's)")
def test_chromium_renders_it_without_console_messages(crawled, tmp_path):
    out = crawled / "report_browser.html"
    assert _report(crawled, "--output", str(out)).returncode == 0
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                           "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = proc.stdout
    expected = _expected(crawled)
    demo = dom[dom.index('id="site-demo"'):]
    charts = dict(re.findall(r'<svg class="chart" data-chart="(\w+)"(.*?)</svg>', demo, re.S))
    # the DOM as Chromium built it: every bar and point parsed as an SVG element
    assert len(re.findall(r"<rect class=\"bar\"", charts["months"])) == expected["months"]
    assert len(re.findall(r"<rect class=\"bar\"", charts["runs"])) == expected["runs"]
    assert len(re.findall(r"<circle class=\"point\"", charts["coverage"])) == expected["points"]
    assert len(re.findall(r"<rect class=\"bar\"", charts["quarantine"])) == expected["quarantine"]


def test_bad_outputs_and_a_missing_store_are_one_line(crawled, tmp_path):
    missing_folder = _report(crawled, "--output", str(tmp_path / "no" / "such" / "r.html"))
    assert missing_folder.returncode == 2 and "does not exist" in missing_folder.stderr
    onto_store = _report(crawled, "--output", str(crawled / "store.sqlite3"))
    assert onto_store.returncode == 2 and "is the store itself" in onto_store.stderr
    assert (crawled / "store.sqlite3").stat().st_size > 0
    no_store = _report(tmp_path, "--output", str(tmp_path / "r.html"))
    assert no_store.returncode == 2 and "no store at" in no_store.stderr and "Traceback" not in no_store.stderr
