"""Scrapy's debugging tools work on the project and change nothing (issue 15 item 2, issue 9 item 9).

Every command runs as a real ``scrapy`` subprocess in an empty folder with the store, run history and spool at
their default relative paths (``data/...``): whatever a command writes shows up in that folder. ``scrapy crawl``
in the same conditions is the control that shows the folder would not stay empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from crawl_support import REPO

pytestmark = pytest.mark.timeout(120)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _scrapy(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GONGKAI_", "MONGO_", "SCRAPY_", "REDIS_URL"))}
    env.update({"SCRAPY_SETTINGS_MODULE": "gongkai_spider.settings", "PYTHONPATH": str(REPO),
                "GONGKAI_DOWNLOAD_DELAY": "0", "GONGKAI_AUTOTHROTTLE": "0", "PYTHONWARNINGS": "ignore",
                "HOME": str(cwd.parent / "home")})
    return subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    folder = tmp_path / "run"
    folder.mkdir()
    return folder


@pytest.fixture
def portal(portal_server) -> tuple:
    return portal_server({"seed": 3, "trs": 3, "hanweb": 3})


def test_parse_of_a_listing_routes_to_its_links_and_next_pages(portal, workdir):
    _, base = portal
    proc = _scrapy(["parse", f"{base}/zwgk/tzgg/index.html"], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "Requests" in out and "/zwgk/tzgg/202406/t20240628_100001.html" in out
    assert _files(workdir) == []  # the list of files a `scrapy parse` run leaves: none


def test_parse_of_an_article_yields_the_item(portal, workdir):
    _, base = portal
    proc = _scrapy(["parse", f"{base}/xxgk/202406/30001.html"], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Scraped Items" in proc.stdout and "'title':" in proc.stdout and "'body':" in proc.stdout
    assert _files(workdir) == []


def test_parse_with_a_site_config_and_pipelines_writes_nothing(portal, workdir):
    _, base = portal
    proc = _scrapy(["parse", "--spider", "gongkai", "-a", "site=demo", "-a", f"base_url={base}", "--pipelines",
                    "-d", "2", f"{base}/xxgk/index.html"], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'site': 'demo'" in proc.stdout
    assert _files(workdir) == []


def test_shell_with_the_spider_opens_and_writes_nothing(portal, workdir):
    _, base = portal
    proc = _scrapy(["shell", "--spider", "gongkai", f"{base}/xxgk/202406/30001.html", "-c",
                    "(response.status, spider.name, spider.site_id)"], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(200, 'gongkai', 'unknown')" in proc.stdout
    assert _files(workdir) == []


def test_fetch_and_check_and_list_write_nothing(portal, workdir):
    _, base = portal
    fetch = _scrapy(["fetch", "--nolog", f"{base}/xxgk/202406/30001.html"], workdir)
    assert fetch.returncode == 0 and "<html" in fetch.stdout
    check = _scrapy(["check"], workdir)
    assert check.returncode == 0, check.stderr[-2000:]
    assert _scrapy(["list"], workdir).stdout.split() == ["gongkai"]
    assert _files(workdir) == []


def test_control_a_crawl_in_the_same_folder_does_write(portal, workdir):
    _, base = portal
    proc = _scrapy(["crawl", "gongkai", "-a", f"start_url={base}/xxgk/index.html"], workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "data/gongkai.sqlite3" in _files(workdir)


def test_crawl_without_arguments_still_refuses():
    from scrapy.utils.test import get_crawler

    from gongkai_spider.errors import BadArgument
    from gongkai_spider.spiders.gongkai import GongkaiSpider

    with pytest.raises(BadArgument, match="needs -a site=NAME or -a start_url=URL"):
        GongkaiSpider.from_crawler(get_crawler(GongkaiSpider))
    spider = GongkaiSpider.from_crawler(get_crawler(GongkaiSpider, {"GONGKAI_READ_ONLY": True}))
    assert spider.start_urls == [] and spider.site_id == "unknown"


def test_gongkai_extract_writes_nothing(workdir):
    case = REPO / "tests" / "fixtures" / "trs" / "gb2312_multipage"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "gongkai_spider.cli", "extract", str(case / "page.html"), "--url",
                           (case / "url.txt").read_text().strip()], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"title"' in proc.stdout
    assert _files(workdir) == []
