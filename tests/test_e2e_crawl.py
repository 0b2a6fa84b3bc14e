"""End to end: a real `scrapy crawl gongkai` subprocess over the demo portal on 127.0.0.1 into a SQLite store.

The portal has a TRS column of three createPageHTML listing pages (GB2312, one three-page article), a Hanweb
column whose island is followed by one dataproxy.jsp group, and a seed-template column paged by 下一页 links with
two SEO-hijacked pages. Every expected article must be stored exactly once with the right fields, the hijacked
pages must land in quarantine, and crawling again (plain, then with refresh=1) must change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gongkai_spider.demo.portal import SPAM_BRAND
from gongkai_spider.storage import open_store

REPO = Path(__file__).resolve().parents[1]
# trs: 3 listing pages of 20; hanweb(_post): island of 45 + 1 group; jpaas: 2 gateway pages of 15;
# gkmlpt: 2 API pages of 20; api: 2 pages of 10
COUNTS = {"seed": 45, "trs": 50, "hanweb": 60, "hanweb_post": 60, "jpaas": 20, "gkmlpt": 25, "api": 15}
SPAM = 2


def crawl(base_url: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run the crawl like an operator would; returns its final stats."""
    stats_file = tmp_path / "stats.json"
    env = {k: v for k, v in os.environ.items() if k not in {"MONGO_URI", "REDIS_URL", "GONGKAI_SITES_DIR"}}
    command = [
        sys.executable, "-m", "scrapy", "crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={base_url}", *args,
        "-s", f"GONGKAI_DB={tmp_path / 'crawl.sqlite3'}", "-s", f"GONGKAI_SPOOL_DIR={tmp_path / 'spool'}",
        "-s", f"GONGKAI_STATS_FILE={stats_file}", "-s", "GONGKAI_RUN_HISTORY=",
        "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "LOG_LEVEL=INFO",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return json.loads(stats_file.read_text(encoding="utf-8"))


def stored(tmp_path: Path) -> dict[str, dict[str, dict]]:
    """collection -> url -> document."""
    store = open_store({"GONGKAI_DB": str(tmp_path / "crawl.sqlite3"), "MONGO_URI": ""})
    try:
        return {name: {doc["url"]: doc for doc in store.iter_docs(name)} for name in ("articles", "quarantine")}
    finally:
        store.close()


@pytest.fixture(scope="module")
def first_crawl(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from gongkai_spider.demo import build_portal, serve

    tmp_path = tmp_path_factory.mktemp("e2e")
    portal = build_portal(COUNTS, spam=SPAM)
    with serve(portal) as base_url:
        stats = crawl(base_url, tmp_path)
        yield portal, base_url, tmp_path, stats, stored(tmp_path)


def test_every_article_is_stored_once_in_the_right_collection(first_crawl: Any) -> None:
    portal, base_url, _, stats, docs = first_crawl
    expected = portal.expected_for(base_url)
    assert sorted(docs["articles"]) == sorted(a["url"] for a in expected if not a["is_spam"])
    assert sorted(docs["quarantine"]) == sorted(a["url"] for a in expected if a["is_spam"])
    assert stats["gongkai/store/new"] == len(expected) == sum(COUNTS.values()) + SPAM


def test_listing_mechanisms_and_site_scope(first_crawl: Any) -> None:
    _, _, _, stats, _ = first_crawl
    # seed: 3 pages by 下一页; trs: index, index_1, index_2; hanweb(_post): column page + one dataproxy.jsp group;
    # jpaas and gkmlpt: shell + 2 API pages; api: 2 API pages
    assert stats["gongkai/listing/pages"] == 3 + 3 + 2 + 2 + 3 + 3 + 2
    assert stats["gongkai/listing/offsite"] == 1  # the gov.cn reprint in the seed column, never requested
    assert stats["gongkai/detail/continuation_pages"] == 2
    assert stats.get("gongkai/listing/empty", 0) == 0
    assert not [k for k in stats if k.startswith(("gongkai/fetch/failed", "gongkai/extract/skipped"))]


@pytest.mark.parametrize("column", sorted(COUNTS))
def test_stored_fields_match_the_pages(first_crawl: Any, column: str) -> None:
    portal, base_url, _, _, docs = first_crawl
    problems = []
    for article in portal.expected_for(base_url):
        if article["column"] != column or article["is_spam"]:
            continue
        doc = docs["articles"][article["url"]]
        lines = doc["body"].splitlines()
        got = {"title": doc["title"], "publish_time": doc["publish_time"].isoformat(), "source": doc["source"],
               "body_first": lines[0], "body_last": lines[-1], "site": doc["site"], "version": doc["version"]}
        want = {key: article[key] for key in ("title", "publish_time", "source", "body_first", "body_last")}
        want.update(site="demo", version=1)
        if got != want:
            problems.append((article["url"], {k: (got[k], want[k]) for k in want if got[k] != want[k]}))
    assert problems == []


def test_multi_page_article_is_one_document_with_all_pages(first_crawl: Any) -> None:
    portal, base_url, _, _, docs = first_crawl
    article = next(a for a in portal.expected_for(base_url) if a["paragraphs"] == 9 and a["column"] == "trs")
    assert len(docs["articles"][article["url"]]["body"].splitlines()) == 9
    assert not [url for url in docs["articles"] if url.endswith(("_1.html", "_2.html"))]


def test_hijacked_pages_are_quarantined_without_the_brand(first_crawl: Any) -> None:
    portal, base_url, _, _, docs = first_crawl
    for article in (a for a in portal.expected_for(base_url) if a["is_spam"]):
        doc = docs["quarantine"][article["url"]]
        assert doc["spam"]["is_spam"] is True
        assert doc["title"].startswith(article["title"]) and SPAM_BRAND not in doc["title"]
        assert SPAM_BRAND in doc["raw"]["title"]


def test_demo_pages_on_the_sites_own_host_score_zero(first_crawl: Any) -> None:
    # The portal on 127.0.0.1 is the configured site: its gov CMS paths and identity are not "foreign".
    _, _, _, stats, docs = first_crawl
    assert {doc["spam"]["score"] for doc in docs["articles"].values()} == {0}
    assert not [k for k in stats if "foreign_host" in k]
    assert not [url for url, doc in {**docs["articles"], **docs["quarantine"]}.items() if "_page_site_hosts" in doc]


def test_crawling_again_adds_nothing_and_changes_no_version(first_crawl: Any) -> None:
    _, base_url, tmp_path, _, before = first_crawl
    again = crawl(base_url, tmp_path)
    assert again.get("gongkai/store/new", 0) == 0 and again.get("gongkai/store/updated", 0) == 0
    refreshed = crawl(base_url, tmp_path, "-a", "refresh=1")  # refetch everything: same content, same version
    assert refreshed.get("gongkai/store/new", 0) == 0 and refreshed.get("gongkai/store/updated", 0) == 0
    assert refreshed["gongkai/detail/items"] == sum(COUNTS.values()) + SPAM
    after = stored(tmp_path)
    for collection in ("articles", "quarantine"):
        assert sorted(after[collection]) == sorted(before[collection])
        changed = [url for url, doc in after[collection].items()
                   if (doc["version"], doc["updated_at"], doc["content_hash"])
                   != (before[collection][url]["version"], before[collection][url]["updated_at"],
                       before[collection][url]["content_hash"])]
        assert changed == []


def test_gongkai_demo_command_crawls_and_summarises(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"MONGO_URI", "REDIS_URL"}}
    env["GONGKAI_RUN_HISTORY"] = ""
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # this checkout's code
    done = subprocess.run([sys.executable, "-m", "gongkai_spider.cli", "demo", "--articles", "12", "--spam", "1",
                           "--port", "0", "--db", str(tmp_path / "demo.sqlite3")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "articles: 84  (demo 84)" in done.stdout  # 7 columns of 12, every article stored once
    assert "quarantine: 1  (demo 1)" in done.stdout
    assert ("demo portal by column: seed 12 (+1 quarantined), trs 12, hanweb 12, hanweb_post 12, jpaas 12, "
            "gkmlpt 12, api 12") in done.stdout


def test_gkmlpt_api_records_fill_what_the_article_pages_lack(first_crawl: Any) -> None:
    """gkmlpt pages show no metadata table, date or attachments: the API record's values are stored."""
    portal, base_url, _, _, docs = first_crawl
    articles = [a for a in portal.expected_for(base_url) if a["column"] == "gkmlpt"]
    assert articles and any(a["attachments"] for a in articles) and any("doc_no" in a["doc_meta"] for a in articles)
    for article in articles:
        doc = docs["articles"][article["url"]]
        assert doc["doc_meta"] == article["doc_meta"], article["url"]
        # the attachments pipeline adds each file's record (path, sha1, status, text ...) to name and url
        assert [{k: a[k] for k in ("name", "url")} for a in doc["attachments"]] == article["attachments"], article["url"]
        assert all(a["status"] == "downloaded" for a in doc["attachments"]), article["url"]
        assert doc["publish_time"].isoformat() == article["publish_time"]
