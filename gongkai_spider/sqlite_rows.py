"""Many rows in and out of SQLite in a few steps, for a thread that works beside a busy one.

``executemany`` and a loop of ``execute`` step SQLite once per row, and each step gives up Python's lock (the
GIL) and must take it back. Beside a thread that seldom sleeps (the crawl's), every retake can wait that
thread's switch interval (5 ms): the store's writer thread then spent most of a batch waiting for the lock,
0.2-1.7 s for 200 documents that cost 40-120 ms of CPU, and the crawl waited for the writer in turn
(docs/PERFORMANCE.md). One statement of many rows steps once: ``insert_rows`` writes rows as multi-row
``VALUES``, ``select_rows`` reads a query's rows as one JSON array.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

_MAX_ROWS = 500  # rows per statement: a longer statement compiles once per batch size and gains nothing more


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[object]], tail: str = "") -> None:
    """Run ``head`` (``"INSERT INTO t (a, b) VALUES"``, or ``INSERT OR REPLACE``) for every row of ``rows``
    (all the same width): what ``conn.executemany(head + " (?, ?)", rows)`` does, in a few statements. An
    error undoes its whole statement, where executemany keeps the rows before the failing one: a caller that
    must know which row failed runs it in a savepoint and retries row by row. ``tail`` follows the values
    (an ``ON CONFLICT`` clause)."""
    if not rows:
        return
    width = len(rows[0])
    per_statement = max(1, min(_MAX_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    marks = "(" + ",".join("?" * width) + ")"
    for i in range(0, len(rows), per_statement):
        chunk = rows[i:i + per_statement]
        conn.execute(f"{head} {','.join([marks] * len(chunk))}{tail}", [v for row in chunk for v in row])


def select_rows(conn: sqlite3.Connection, columns: str, rest: str, params: Sequence[object] = ()) -> list[list]:
    """The rows of ``SELECT {columns} {rest}`` (text, integer, real or NULL values; no BLOBs), built by
    SQLite into one JSON array: one step, where the cursor steps once per row."""
    (text,) = conn.execute(f"SELECT json_group_array(json_array({columns})) {rest}", params).fetchone()
    return json.loads(text)
