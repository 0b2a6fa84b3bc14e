"""Rows written a few statements at a time (gongkai_spider/sqlite_rows.py): the same rows as executemany, an
error undoes its statement, and a store's batch beside a thread that never sleeps takes its CPU time, not a
wait for the GIL at every row."""

from __future__ import annotations

import sqlite3
import time

import pytest
from busy_thread import busy_thread

from gongkai_spider.sqlite_rows import insert_rows, select_rows
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


@pytest.mark.parametrize("batch", ["new", "unchanged", "changed"])
def test_a_batch_beside_a_thread_that_never_sleeps(tmp_path, batch) -> None:
    """Row by row, each step of a batch of 200 documents waited for the GIL: 5.2 s here for new documents,
    1.6 s unchanged, 6.7 s changed (their old text taken out of the search index); now about 0.1-0.2 s."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.upsert_many(_docs(0, 200))
    docs = _docs(200 if batch == "new" else 0, 200)
    if batch == "changed":
        for d in docs:
            d["body"], d["content_hash"] = d["body"].replace("安全检查", "消防演练"), d["content_hash"] + "c"
    with busy_thread():
        started = time.perf_counter()
        counts = store.upsert_many(docs)
        seconds = time.perf_counter() - started
    assert counts[{"new": "new", "unchanged": "unchanged", "changed": "updated"}[batch]] == 200
    assert store.count("articles") == (400 if batch == "new" else 200)
    assert len(store.search_ids(["第150号"], limit=5)) == 1
    assert len(store.search_ids(["消防演练"], limit=500)) == (200 if batch == "changed" else 0)
    assert len(store.search_ids(["安全检查"], limit=500)) == {"new": 400, "unchanged": 200, "changed": 0}[batch]
    assert store.existing_ids(["d1", "d199", "nope"]) == {"d1", "d199"}
    store.close()
    assert seconds < 1.0


def test_select_rows_as_the_cursor_gives_them() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c REAL)")
    rows = [(2**63 - 1, '引号"与\\反斜杠\n', 0.5), (-(2**63), None, None), (0, "\x1f\x1e", -1.25)]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    assert [tuple(r) for r in select_rows(conn, "a, b, c", "FROM t ORDER BY rowid")] == rows
    assert select_rows(conn, "a", "FROM t WHERE a = ?", [7]) == []
