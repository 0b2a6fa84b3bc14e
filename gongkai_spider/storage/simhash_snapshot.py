"""A binary copy of a collection's (simhash, simhash2) pairs in the SQLite file, so the dedup stage's index loads
a million stored fingerprints without reading a million rows (docs/PERFORMANCE.md).

Per collection ``t`` (articles, quarantine):

- ``{t}_simhash_snapshot``: one row. ``pairs``: the pairs of the rows with rowid <= ``upto`` when it was
  taken, as little-endian int64 ``simhash, simhash2, simhash, ...`` (simhash2 0 when NULL; rows without a
  simhash left out, as ``iter_simhash_pairs`` leaves them); ``rows``: how many rows (with a simhash or not)
  had rowid <= ``upto`` then; ``changes``: the counter below, then.
- ``{t}_simhash_changes``: one counter, raised by triggers whenever a row's simhash or simhash2 changes or a row
  is deleted. Triggers live in the file, so any writer raises it: an older release, a hand-written UPDATE.

A snapshot is used when the counter still has its value and the rows with rowid <= ``upto`` still number
``rows`` (a REPLACE's implicit delete fires no trigger; the count sees it). New rows get rowids past every
stored one (no AUTOINCREMENT, but a rowid is reused only after the row holding the largest was deleted, which
the counter sees), so the pairs read are the snapshot's plus those of the rows after ``upto``. Otherwise the
whole (simhash, simhash2) index is read, as without a snapshot. Either way the read is one read transaction,
and a new snapshot is written after it when there was none to use or the rows after it passed
``snapshot_tail``: it records the counter as read in that transaction, so a change made meanwhile (by the
crawl's writer thread) leaves it stale rather than wrong. Writing it is an optimisation: a failure (a read-only
file, a lock held too long) is logged and the pairs are still all read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

LAYOUT = 1  # the blob's layout; a snapshot of another layout is not read (and is rewritten)
SCAN_SLICES = 64  # statements (simhash ranges) of a full read: blocks of about 1/64 of the pairs
_BLOB_CHUNK = 1 << 20  # bytes read from the blob at a time: 65,536 pairs per block
_PAIR_BYTES = 16
MIN_ROWS = 8192  # a store of at most this many rows is read whole and gets no snapshot: it takes milliseconds

SCHEMA = """
CREATE TABLE IF NOT EXISTS {t}_simhash_changes (id INTEGER PRIMARY KEY CHECK (id = 1), changes INTEGER NOT NULL);
INSERT OR IGNORE INTO {t}_simhash_changes (id, changes) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS {t}_simhash_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    layout INTEGER NOT NULL,
    upto INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    pairs BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS {t}_simhash_changed AFTER UPDATE OF simhash, simhash2 ON {t}
    WHEN old.simhash IS NOT new.simhash OR old.simhash2 IS NOT new.simhash2
    BEGIN UPDATE {t}_simhash_changes SET changes = changes + 1; END;
CREATE TRIGGER IF NOT EXISTS {t}_simhash_deleted AFTER DELETE ON {t}
    BEGIN UPDATE {t}_simhash_changes SET changes = changes + 1; END;
"""


_OBJECTS = ("{t}_simhash_changes", "{t}_simhash_snapshot", "{t}_simhash_changed", "{t}_simhash_deleted")


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def prepare(conn: sqlite3.Connection, table: str) -> None:
    """Create the snapshot's tables and triggers of ``table`` when missing, and drop a snapshot kept without
    them (the store calls it when it opens; an open that finds them all writes nothing, so a second connection
    for reading takes no write lock)."""
    names = [name.format(t=table) for name in _OBJECTS]
    have = conn.execute(f"SELECT count(*) FROM sqlite_master WHERE name IN ({','.join('?' * len(names))})",
                        names).fetchone()[0]
    if have == len(names):
        return
    with _write_transaction(conn):
        for statement in SCHEMA.format(t=table).strip().split(";\n"):
            conn.execute(statement)
        # Some of them were missing (dropped by hand?): changes made meanwhile were not counted.
        conn.execute(f"DELETE FROM {table}_simhash_snapshot")


def snapshot_tail(rows: int) -> int:
    """Rows past the snapshot beyond which a load writes a new one: reading them row by row costs about 1 µs
    each, writing the snapshot about 0.1 s at a million pairs."""
    return max(8192, rows // 32)


def _parse(text: str | None) -> Any:
    import numpy as np

    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)


def _interleave(firsts: Any, seconds: Any) -> Any:
    import numpy as np

    block = np.empty(2 * len(firsts), dtype=np.int64)
    block[0::2] = firsts
    block[1::2] = seconds
    return block


def _pairs_where(conn: sqlite3.Connection, table: str, where: str, params: tuple[int, ...]) -> Iterator[Any]:
    """The pairs of the rows matching ``where`` as one block (none when no row has a simhash): SQLite joins
    each column into text in one step, numpy parses it."""
    firsts, seconds = conn.execute(f"SELECT group_concat(simhash), group_concat(coalesce(simhash2, 0)) FROM {table} "
                                   f"WHERE {where} AND simhash IS NOT NULL", params).fetchone()
    if firsts:
        yield _interleave(_parse(firsts), _parse(seconds))


def _full_scan(conn: sqlite3.Connection, table: str) -> Iterator[Any]:
    """Every pair, from the (simhash, simhash2) index: each block one statement over a slice of it, its pairs
    joined into text by SQLite and parsed by numpy, so the reading thread steps ``SCAN_SLICES`` times instead of
    once per row (each step gives up the GIL and must take it back; beside a busy crawl thread each retake can
    wait its switch interval). One list per column: a third less SQLite work than one of "a,b" strings."""
    width = 2**64 // SCAN_SLICES  # the last slice ends at 2**63 - 1, the largest int64
    for low in range(-(2**63), 2**63, width):
        yield from _pairs_where(conn, table, "simhash BETWEEN ? AND ?", (low, low + width - 1))


def _usable(conn: sqlite3.Connection, table: str, changes: int, total: int) -> tuple[int, int, int] | None:
    """(upto, rows, rows after upto) of a snapshot that still holds, else None."""
    row = conn.execute(f"SELECT layout, upto, rows, changes, length(pairs) FROM {table}_simhash_snapshot "
                       "WHERE id = 1").fetchone()
    if row is None:
        return None
    layout, upto, rows, seen, size = row
    if layout != LAYOUT or seen != changes or size % _PAIR_BYTES:
        return None
    after = conn.execute(f"SELECT count(*) FROM {table} WHERE rowid > ?", (upto,)).fetchone()[0]
    return (upto, rows, after) if total - after == rows else None


def _snapshot_blocks(conn: sqlite3.Connection, table: str) -> Iterator[Any]:
    import numpy as np

    with conn.blobopen(f"{table}_simhash_snapshot", "pairs", 1, readonly=True) as blob:
        while chunk := blob.read(_BLOB_CHUNK):
            yield np.frombuffer(chunk, dtype="<i8").astype(np.int64, copy=False)


def read_pairs(conn: sqlite3.Connection, table: str) -> Iterator[Any]:
    """Every (simhash, simhash2) pair of ``table`` in blocks (flat int64 numpy arrays ``simhash, simhash2, ...``):
    the snapshot's and the rows' after it when it holds, else the whole index; then a new snapshot when there
    was none to use or the rows after it passed ``snapshot_tail``. ``conn`` is in autocommit mode
    (isolation_level None) and free: the read is a transaction of its own. A caller that stops early (closes
    the generator) ends the read and writes nothing."""
    kept: list[Any] | None = None  # the blocks, when a new snapshot is to be written from them
    conn.execute("BEGIN")
    try:
        counter = conn.execute(f"SELECT changes FROM {table}_simhash_changes WHERE id = 1").fetchone()
        changes = None if counter is None else counter[0]  # None: the counter's row is gone, nothing tracked
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # an index scan: 10-70 ms at 1M
        usable = None if changes is None else _usable(conn, table, changes, total)
        if usable is not None:
            upto, rows, after = usable
            blocks = [_snapshot_blocks(conn, table), _pairs_where(conn, table, "rowid > ?", (upto,))]
        else:
            after = total
            blocks = [_full_scan(conn, table)]
        if changes is not None and total > MIN_ROWS and (usable is None or after > snapshot_tail(rows)):
            kept = []  # the new snapshot covers the rows this transaction sees
            upto, rows = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0], total
        for source in blocks:
            for block in source:
                if kept is not None:
                    kept.append(block)
                yield block
    finally:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # a read transaction: its hold on the file's state released
        except sqlite3.ProgrammingError:  # the connection was closed under a reader that stopped early
            pass
    if kept is not None:
        write_snapshot(conn, table, kept, upto=upto, rows=rows, changes=changes or 0)


def write_snapshot(conn: sqlite3.Connection, table: str, blocks: list[Any], *, upto: int, rows: int,
                   changes: int) -> bool:
    """Store ``blocks`` as the snapshot of the rows with rowid <= ``upto`` (``rows`` of them) taken when the
    counter read ``changes``; False, with a warning, when the file cannot be written now."""
    import numpy as np

    pairs = b"".join(np.asarray(block, dtype="<i8").tobytes() for block in blocks)
    try:
        with _write_transaction(conn):
            conn.execute(f"INSERT OR REPLACE INTO {table}_simhash_snapshot (id, layout, upto, rows, changes, pairs) "
                         "VALUES (1, ?, ?, ?, ?, ?)", (LAYOUT, upto, rows, changes, pairs))
    except sqlite3.Error as exc:
        logger.warning("store: could not save the near-duplicate fingerprints of %s for the next run (%s); they "
                       "are read from the rows again next time", table, exc)
        return False
    logger.debug("store: saved %d near-duplicate fingerprint pairs of %s (%d bytes)", len(pairs) // _PAIR_BYTES,
                 table, len(pairs))
    return True

