"""``gongkai quarantine list|release``: reviewing what the spam pipeline kept out of ``articles``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gongkai_spider.cli import main
from gongkai_spider.extract import extract_detail
from gongkai_spider.normalize import SHANGHAI, canonical_url, doc_id
from gongkai_spider.stats import CounterStats
from gongkai_spider.storage import open_store
from gongkai_spider.storage.sqlite import SQLiteStore
from pipelines.offline import process_offline
from pipelines.store import StorePipeline

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2024, 6, 1, 10, 0, tzinfo=SHANGHAI)


def crawled(folder: Path) -> dict:
    """The document a crawl would hand to the store for this fixture page."""
    url = (folder / "url.txt").read_text(encoding="utf-8").strip()
    result = extract_detail((folder / "page.html").read_bytes(), url)
    raw = {k: result.get(k) for k in ("title", "publish_time", "read_count", "author", "source", "summary",
                                      "keywords", "body", "attachments", "doc_meta")}
    raw.update(url=url, site=urlsplit(url).hostname, _page_signals=result["signals"],
               _page_host=urlsplit(url).hostname)
    return process_offline(raw)


def fill(store, spool_dir: Path) -> list[dict]:
    """Two hijacked pages and one clean page, routed by the real store pipeline."""
    docs = [crawled(FIXTURES / "seed" / "seed_page"), crawled(FIXTURES / "spam" / "referrer_redirect"),
            crawled(FIXTURES / "clean" / "lottery_sales_figures")]
    pipeline = StorePipeline(CounterStats(), store, spool_dir=str(spool_dir))
    for doc in docs:
        pipeline.process_item(doc)
    pipeline.flush()
    return docs


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    fill(store, tmp_path / "spool")
    store.close()
    return str(path)


def out_of(capsysbinary) -> tuple[str, str]:
    captured = capsysbinary.readouterr()
    return captured.out.decode("utf-8"), captured.err.decode("utf-8")


def test_list_shows_score_url_and_reasons_highest_first(db: str, capsysbinary) -> None:
    assert main(["quarantine", "list", "--db", db]) == 0
    out, err = out_of(capsysbinary)
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["4.0", "https://www.changyinwater.com/xxgk/20240524/1714.html"]
    assert "brand_in_title:尊龙凯时, brand_in_html_title:尊龙凯时, brand_in_keywords:尊龙凯时" in lines[0]
    assert lines[1].split() == ["1.0", "http://www.example-city.gov.cn/art/zwgk/tzgg/202405/t20240521_5810100.html",
                                "referrer_redirect"]
    assert "2 of 2 quarantined documents" in err


def test_list_limit_and_json(db: str, capsysbinary) -> None:
    assert main(["quarantine", "list", "--limit", "1", "--json", "--db", db]) == 0
    out, err = out_of(capsysbinary)
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1
    assert rows[0]["url"] == "https://www.changyinwater.com/xxgk/20240524/1714.html"
    assert rows[0]["title"] == "我市和谐社区建设再上新台阶"
    assert rows[0]["score"] == 4.0 and "brand_in_source:尊龙凯时" in rows[0]["reasons"]
    assert "1 of 2 quarantined documents" in err


def test_release_moves_the_document_with_its_review(db: str, capsysbinary) -> None:
    url = "http://www.example-city.gov.cn/art/zwgk/tzgg/202405/t20240521_5810100.html"
    # tracking parameters and fragments do not matter: the canonical URL is the key
    assert main(["quarantine", "release", url + "?utm_source=mail#top", "--note", "统计脚本，非跳转", "--by", "reviewer1",
                 "--db", db]) == 0
    out, _err = out_of(capsysbinary)
    assert out.startswith(f"released {url} into articles")
    store = SQLiteStore(db)
    _id = doc_id(canonical_url(url))
    assert store.get("quarantine", _id) is None
    doc = store.get("articles", _id)
    store.close()
    assert doc["title"] == "市教育局部署2024年义务教育招生工作"
    review = doc["review"]
    assert review["released"] is True and review["note"] == "统计脚本，非跳转" and review["by"] == "reviewer1"
    assert isinstance(review["at"], datetime) and review["at"].utcoffset().total_seconds() == 8 * 3600
    assert review["quarantined"]["version"] == 1  # the quarantine stamps, for the audit trail
    assert doc["spam"]["reasons"] == ["referrer_redirect"]  # the verdict as scored stays

    assert main(["quarantine", "list", "--db", db]) == 0
    out, err = out_of(capsysbinary)
    assert url not in out and "1 of 1 quarantined documents" in err


def test_release_of_an_unknown_url_is_an_error(db: str, capsysbinary) -> None:
    assert main(["quarantine", "release", "http://www.example-city.gov.cn/none.html", "--note", "x", "--db", db]) == 1
    _out, err = out_of(capsysbinary)
    assert err.strip() == "gongkai quarantine: not in quarantine: http://www.example-city.gov.cn/none.html"
    clean = "http://zhs.example-mof.gov.cn/zhengwuxinxi/tongjishuju/202405/t20240528_3935001.htm"
    assert main(["quarantine", "release", clean, "--note", "x", "--db", db]) == 1
    _out, err = out_of(capsysbinary)
    assert err.strip() == f"gongkai quarantine: not in quarantine: {clean} (it is in articles already)"


def test_release_needs_a_note(db: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["quarantine", "release", "http://x.example/", "--db", db])
    assert exit_info.value.code == 2
    assert "--note" in capsys.readouterr().err


def test_missing_store_is_reported(tmp_path: Path, capsysbinary) -> None:
    assert main(["quarantine", "list", "--db", str(tmp_path / "none.sqlite3")]) == 2
    _out, err = out_of(capsysbinary)
    assert "no store at" in err


def test_mongodb_store(monkeypatch, capsysbinary, tmp_path: Path) -> None:
    uri = "mongomock://quarantine-command"
    monkeypatch.setenv("MONGO_URI", uri)
    store = open_store({"MONGO_URI": uri})
    fill(store, tmp_path / "spool")
    assert main(["quarantine", "release", "https://www.changyinwater.com/xxgk/20240524/1714.html",
                 "--note", "test release", "--by", "qa"]) == 0
    _id = doc_id(canonical_url("https://www.changyinwater.com/xxgk/20240524/1714.html"))
    doc = store.get("articles", _id)
    assert doc["review"]["note"] == "test release" and store.get("quarantine", _id) is None
    assert store.count("quarantine") == 1 and store.count("articles") == 2
    store.close()


def test_released_page_stays_released_through_a_refresh_crawl(tmp_path: Path) -> None:
    """Release a hijacked demo page, crawl again with refresh=1: it is scored spam again but stays in articles."""
    from test_e2e_crawl import crawl, stored

    from gongkai_spider.commands.quarantine import release
    from gongkai_spider.demo import build_portal, serve
    from gongkai_spider.demo.portal import API_COLUMNS

    portal = build_portal({"seed": 3, "trs": 1, "hanweb": 1, **dict.fromkeys(API_COLUMNS, 1)}, spam=1)
    with serve(portal) as base_url:
        crawl(base_url, tmp_path)
        (url,) = stored(tmp_path)["quarantine"]
        store = SQLiteStore(tmp_path / "crawl.sqlite3")
        release(store, url, "reviewed: not spam", "qa")
        store.close()
        stats = crawl(base_url, tmp_path, "-a", "refresh=1")
    after = stored(tmp_path)
    assert after["quarantine"] == {} and after["articles"][url]["review"]["note"] == "reviewed: not spam"
    assert after["articles"][url]["spam"]["is_spam"] is True  # the verdict as scored, for audits
    assert stats["gongkai/spam/spam"] == 1 and stats["gongkai/store/kept_released"] == 1
    assert "gongkai/store/quarantined" not in stats
