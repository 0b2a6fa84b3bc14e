"""``gongkai fixture add|check`` (issue 15 item 8): pages saved as fixtures in their own encoding with the
current extraction, field-level diffs when extraction changes, ``--update`` to accept them; fixtures that name a
site config are extracted with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from crawl_support import REPO, html, serve

from gongkai_spider.commands.fixture import extract_case

pytestmark = pytest.mark.timeout(120)
TITLE = "关于做好汛期安全生产工作的通知"
PAGE = (f"<html><head><meta charset='gbk'><title>{TITLE}_示例县人民政府</title></head><body><h1>{TITLE}</h1>"
        "<p class='info'>发布时间：2024-06-03 作者：<span class='by'>陈立平</span></p>"
        "<div class='TRS_Editor'><p>各乡镇人民政府，县直各单位：</p><p>" + "入汛以来，各地要压实防汛安全责任。" * 12
        + "</p></div></body></html>").encode("gbk")


def _gongkai(args: list[str], cwd: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_"))}
    env.update(PYTHONPATH=str(REPO), **env_extra)
    return subprocess.run([sys.executable, "-m", "gongkai_spider.cli", "fixture", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests" / "fixtures").mkdir(parents=True)
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "county.yaml").write_text("start_urls: [http://www.example.gov.cn/xxgk/]\n"
                                       "detail: {author: 'span.by', publish_time: 'xpath://h1/text()'}\n",
                                       encoding="utf-8")
    return tmp_path


def test_add_saves_the_bytes_the_url_and_the_extraction_with_the_site(project):
    with serve({"/xxgk/202406/t20240603_1.html": html(PAGE, charset="gbk")}) as server:
        url = f"{server.base}/xxgk/202406/t20240603_1.html"
        proc = _gongkai(["add", url, "--case", "flood_notice", "--site", "county"], project,
                        GONGKAI_SITES_DIR=str(project / "sites"))
    assert proc.returncode == 0, proc.stderr
    case = project / "tests" / "fixtures" / "sites" / "flood_notice"
    assert (case / "page.html").read_bytes() == PAGE  # GBK, as served
    assert (case / "url.txt").read_text().strip() == url
    assert (case / "site.txt").read_text().strip() == "county"
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    assert expected["title"] == TITLE and expected["author"] == "陈立平"
    assert expected["publish_time"] == TITLE  # the site's (deliberately odd) selector won: the config was applied
    assert expected["body_startswith"].startswith("各乡镇人民政府")

    again = _gongkai(["add", url, "--case", "flood_notice"], project)
    assert again.returncode == 2 and "exists (--force replaces it)" in again.stderr


def test_check_shows_field_diffs_and_update_accepts_them(project):
    page = project / "page.html"
    page.write_bytes(PAGE)
    env = {"GONGKAI_SITES_DIR": str(project / "sites")}
    assert _gongkai(["add", str(page), "--case", "c1", "--url", "http://www.example.gov.cn/xxgk/1.html",
                     "--template", "gov", "--site", "county"], project, **env).returncode == 0
    clean = _gongkai(["check"], project, **env)
    assert clean.returncode == 0 and "1 fixture(s), 0 changed" in clean.stderr

    case = project / "tests" / "fixtures" / "gov" / "c1"
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    expected["author"] = "王某"
    expected["body_contains"] = ["压实防汛安全责任", "这句话不在正文里"]
    (case / "expected.json").write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")
    changed = _gongkai(["check"], project, **env)
    assert changed.returncode == 1
    assert 'gov/c1:\n  author: "王某" -> "陈立平"\n  body_contains: ' in changed.stdout
    assert "这句话不在正文里" in changed.stdout

    updated = _gongkai(["check", "--update"], project, **env)
    assert updated.returncode == 0 and "1 updated" in updated.stderr
    rewritten = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    assert rewritten["author"] == "陈立平" and rewritten["body_contains"] == expected["body_contains"]
    # a hand-written promise that no longer holds is still reported after --update
    assert _gongkai(["check"], project, **env).returncode == 1


def test_bad_input_is_one_line(project, tmp_path):
    page = project / "page.html"
    page.write_bytes(PAGE)
    for args, message in (
        (["add", str(page), "--case", "../escape"], "bad case name"),
        (["add", str(page), "--case", "x", "--site", "nope"], "no site config 'nope'"),
        (["add", str(project / "missing.html"), "--case", "x"], "cannot read"),
        (["add", str(page), "--case", "x", "--root", str(tmp_path / "none")], "does not exist"),
    ):
        proc = _gongkai(args, project)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)


def test_the_repository_fixture_made_by_the_command_applies_its_site(tmp_path):
    case = REPO / "tests" / "fixtures" / "sites" / "policy_override_selectors"
    assert (case / "site.txt").read_text().strip() == "govcn_zhengce"
    assert extract_case(case)["publish_time"] == "2024-05-17-18:30:05"  # the site's meta selector
    # without the site: the page's visible date
    copy = shutil.copytree(case, tmp_path / "case")
    (copy / "site.txt").unlink()
    assert extract_case(copy)["publish_time"] != "2024-05-17-18:30:05"
