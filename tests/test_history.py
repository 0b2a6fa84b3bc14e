"""Version history: a changed page keeps its earlier versions in article_versions; `gongkai history URL` lists them
and diffs the body. Both stores; and a real crawl of a local page whose text changes between two runs."""

from __future__ import annotations

import argparse
import json

import pytest
from crawl_support import html, run_scrapy, serve
from test_store_backends import BACKENDS, T0, T1, T2, doc, drop_store, make_store

from gongkai_spider.commands import history
from gongkai_spider.storage.sqlite import SQLiteStore


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)


def test_changed_content_keeps_the_previous_version(store):
    store.upsert_many([doc(1, body="第一版。\n不变的一行。")], now=T0)
    store.upsert_many([doc(1, body="第一版。\n不变的一行。")], now=T1)  # unchanged: no version
    assert store.versions(doc(1)["url"]) == []
    store.upsert_many([doc(1, body="第二版。\n不变的一行。", content_hash="hash1b", title="新标题")], now=T2)
    [v1] = store.versions(doc(1)["url"])
    assert v1["_id"] == "id0001:1" and v1["article_id"] == "id0001" and v1["collection"] == "articles"
    assert v1["version"] == 1 and v1["body"] == "第一版。\n不变的一行。" and v1["title"] == doc(1)["title"]
    assert v1["valid_from"] == T0 and v1["valid_to"] == T2 and v1["last_seen"] == T1
    assert v1["content_hash"] == "hash1" and v1["doc_meta"] == doc(1)["doc_meta"]
    assert v1["publish_time"] == doc(1)["publish_time"] and v1["attachments"] == doc(1)["attachments"]
    # a replayed batch (spool) writes the same record again, not a second one
    store.upsert_many([doc(1, body="第三版。", content_hash="hash1c")], now=T2.replace(hour=13))
    assert [v["version"] for v in store.versions(doc(1)["url"])] == [1, 2]


def test_moved_page_keeps_its_clean_version(store):
    store.upsert_many([doc(1)], now=T0)
    assert store.move("id0001", "articles", "quarantine")
    store.upsert_many([doc(1, title="澳门博彩", content_hash="spam", spam={"is_spam": True, "score": 3, "reasons": []})],
                      "quarantine", now=T1)
    [v1] = store.versions(doc(1)["url"])
    assert v1["title"] == doc(1)["title"] and v1["collection"] == "quarantine"


def run_history(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    history.add_arguments(parser)
    return history.run(parser.parse_args(list(argv)))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many([doc(1, body="第一段。\n旧的第二段。\n第三段。")], now=T0)
    store.upsert_many([doc(1, body="第一段。\n新的第二段。\n第三段。", content_hash="b")], now=T1)
    store.upsert_many([doc(1, body="第一段。\n新的第二段。", content_hash="c")], now=T2)
    store.close()
    return str(path)


def test_history_lists_versions_and_diffs_the_last_two(db, capsysbinary):
    assert run_history(doc(1)["url"], "--db", db) == 0
    out = capsysbinary.readouterr()[0].decode()
    assert "(articles, 3 versions)" in out
    assert "  v1  2024-06-01 10:00:00+08:00 .. 2024-06-01 11:00:00+08:00  hash1" in out
    assert "  v3  2024-06-01 12:00:00+08:00 .. now  c" in out
    assert "--- version 2" in out and "+++ version 3" in out and "-第三段。" in out and "+新的第二段。" not in out


def test_history_diff_between_any_two(db, capsysbinary):
    assert run_history(doc(1)["url"] + "#frag", "--db", db, "--from", "1", "--to", "2") == 0  # canonical URL
    out = capsysbinary.readouterr()[0].decode()
    assert "-旧的第二段。\n+新的第二段。\n" in out
    assert run_history(doc(1)["url"], "--db", db, "--json") == 0
    rows = [json.loads(x) for x in capsysbinary.readouterr()[0].decode().splitlines()]
    assert [r["version"] for r in rows] == [1, 2, 3] and rows[0]["body"].startswith("第一段")


@pytest.mark.parametrize("argv, code, message", [
    (("http://www.example.gov.cn/nowhere.html",), 1, "no stored page at"),
    ((doc(1)["url"], "--from", "7"), 1, "no version 7"),
])
def test_history_bad_input(db, capsys, argv, code, message):
    assert run_history(*argv, "--db", db) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_page_crawled_twice_with_changed_text(tmp_path, capsysbinary):
    """A real crawl of a local page whose text changes between two runs (``refresh=1`` refetches it)."""
    state = {"body": "本次检查共发现隐患十二处，已全部整改。"}

    def article(_seen):
        return html(f"<html><head><title>安全生产检查情况通报</title></head><body><h1>安全生产检查情况通报</h1>"
                    f"<div class='info'>发布时间：2024-05-24 09:14</div><div id='zoom'><p>为落实安全生产责任，"
                    f"市应急管理局组织开展了专项检查。</p><p>{state['body']}</p><p>下一步将持续跟踪整改落实情况。"
                    "</p></div></body></html>")

    listing = html("<html><body><ul><li><a href='/art/2024/5/24/art_1_1.html'>安全生产检查情况通报</a>"
                   "<span>2024-05-24</span></li></ul></body></html>")
    with serve({"/list/index.html": listing, "/art/2024/5/24/art_1_1.html": article}) as server:
        args = ["crawl", "gongkai", "-a", f"start_url={server.base}/list/index.html", "-a", "refresh=1",
                "-s", "ROBOTSTXT_OBEY=0"]
        first = run_scrapy(args, tmp_path)
        assert first.stats.get("gongkai/store/new") == 1, first.log[-3000:]
        state["body"] = "本次检查共发现隐患十五处，其中十二处已整改。"
        second = run_scrapy(args, tmp_path)
        assert second.stats.get("gongkai/store/updated") == 1, second.log[-3000:]
        url = f"{server.base}/art/2024/5/24/art_1_1.html"
    assert run_history(url, "--db", str(tmp_path / "store.sqlite3")) == 0
    out = capsysbinary.readouterr()[0].decode()
    assert "2 versions" in out and "  v1  " in out and "  v2  " in out
    assert "-本次检查共发现隐患十二处，已全部整改。" in out and "+本次检查共发现隐患十五处，其中十二处已整改。" in out
