"""`gongkai stats`: counts per collection and site, newest publish time, last crawl, spool backlog."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from test_store_backends import T0, T1, doc

from gongkai_spider.cli import COMMANDS
from gongkai_spider.commands import stats
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage import open_store
from gongkai_spider.storage.base import sqlite_identity
from gongkai_spider.storage.spool import Spool, store_folder
from gongkai_spider.storage.sqlite import SQLiteStore


def run_stats(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    stats.add_arguments(parser)
    return stats.run(parser.parse_args(list(argv)))


def fill(store) -> None:
    store.upsert_many([doc(1), doc(2, site="other", publish_time=datetime(2024, 6, 3, 8, 0, tzinfo=SHANGHAI))], now=T0)
    store.upsert_many([doc(3)], now=T1)
    store.upsert_many([doc(4, site="hijacked", spam={"is_spam": True, "score": 2.0, "reasons": ["x"]})],
                      "quarantine", now=T1)


def test_table_for_a_sqlite_file(tmp_path, capsysbinary, monkeypatch):
    monkeypatch.setenv("GONGKAI_SPOOL_DIR", str(tmp_path / "spool"))
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    fill(store)
    store.close()
    Spool(tmp_path / "spool", sqlite_identity(path)).append("articles", [doc(9)], T1)
    Spool(tmp_path / "spool", sqlite_identity(tmp_path / "another.sqlite3")).append("articles", [doc(8)], T1)
    assert run_stats("--db", str(path)) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert out.splitlines() == [
        f"store: sqlite {path}",
        "articles: 3  (newest publish_time 2024-06-03 08:00:00+08:00, last crawled 2024-06-01 11:00:00+08:00)",
        "  site     count  newest publish_time        last crawled",
        "  example      2  2024-05-24 09:14:00+08:00  2024-06-01 11:00:00+08:00",
        "  other        1  2024-06-03 08:00:00+08:00  2024-06-01 10:00:00+08:00",
        "quarantine: 1  (newest publish_time 2024-05-24 09:14:00+08:00, last crawled 2024-06-01 11:00:00+08:00)",
        "  site      count  newest publish_time        last crawled",
        "  hijacked      1  2024-05-24 09:14:00+08:00  2024-06-01 11:00:00+08:00",
        "pending: 0 articles not stored yet, 0 of them given up",
        f"spool: 1 documents waiting in {store_folder(tmp_path / 'spool', sqlite_identity(path))}",
        "spool: 1 more documents wait for other stores beside it (replayed only by a run on their own store)",
    ]


def test_json_from_mongodb_settings(monkeypatch, capsysbinary, tmp_path):
    monkeypatch.setenv("MONGO_URI", "mongomock://stats-test")
    monkeypatch.setenv("GONGKAI_SPOOL_DIR", str(tmp_path / "spool"))
    store = open_store({"MONGO_URI": "mongomock://stats-test"})
    fill(store)
    assert run_stats("--json") == 0
    report = json.loads(capsysbinary.readouterr().out)
    assert report["store"] == "mongodb mongomock://stats-test database gongkai"
    assert report["collections"]["articles"]["count"] == 3
    assert report["collections"]["articles"]["sites"]["other"] == {
        "count": 1, "newest_publish_time": "2024-06-03T08:00:00+08:00", "last_seen": "2024-06-01T10:00:00+08:00"}
    assert report["collections"]["quarantine"]["last_crawled"] == "2024-06-01T11:00:00+08:00"
    assert report["spool"]["pending"] == 0
    store.close()


def test_missing_store_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MONGO_URI", raising=False)
    monkeypatch.setenv("GONGKAI_DB", str(tmp_path / "none.sqlite3"))
    assert run_stats() == 2
    assert "no store at" in capsys.readouterr().err


def test_registered_in_the_cli():
    assert COMMANDS["stats"][0] == "stats" and COMMANDS["export"][0] == "export"
