"""Rows written a few statements at a time (gongkai_spider/sqlite_rows.py): the same rows as executemany, an
error undoes its statement, and a store's batch beside a thread that never sleeps takes its CPU time, not a
wait for the GIL at every row."""

from __future__ import annotations

import sqlite3
import time

import pytest
from busy_thread import busy_thread

from gongkai_spider.sqlite_rows import insert_rows
from gongkai_spider.storage.sqlite import SQLiteStore


def test_the_same_rows_as_executemany_over_several_statements() -> None:
    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)  # 3 rows of 2 per statement: 1,001 rows in 334
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    rows = [(i, f"行{i}" if i % 3 else None) for i in range(1001)]
    insert_rows(conn, "INSERT INTO t (a, b) VALUES", rows)
    assert conn.execute("SELECT a, b FROM t ORDER BY a").fetchall() == rows
    assert sum(s.startswith("INSERT") for s in statements) == 334
    insert_rows(conn, "INSERT INTO t (a, b) VALUES", [])  # nothing to write: no statement
    assert sum(s.startswith("INSERT") for s in statements) == 334


def test_an_error_undoes_its_whole_statement() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (5)")
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn, "INSERT INTO t (a) VALUES", [(1,), (2,), (5,), (6,)])
    assert conn.execute("SELECT a FROM t").fetchall() == [(5,)]


def _docs(first: int, n: int) -> list[dict]:
    return [{"_id": f"d{i}", "url": f"http://x.gov.cn/art/{i}.html", "site": "x", "title": f"第{i}号通知",
             "body": f"关于做好第{i}批次安全检查工作的通知。" * 20, "content_hash": f"h{i}", "simhash": i,
             "simhash2": -i} for i in range(first, first + n)]


def test_a_batch_beside_a_thread_that_never_sleeps(tmp_path) -> None:
    """Row by row, the 200 documents' 800 steps each waited for the GIL: about 5 s here; now about 0.1 s."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.upsert_many(_docs(0, 200))
    with busy_thread():
        started = time.perf_counter()
        counts = store.upsert_many(_docs(200, 200))
        seconds = time.perf_counter() - started
    assert counts["new"] == 200 and store.count("articles") == 400
    assert len(store.search_ids(["第250号"], limit=5)) == 1
    store.close()
    assert seconds < 1.5
