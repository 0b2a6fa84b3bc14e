"""The binary snapshot of the stored (simhash, simhash2) pairs (gongkai_spider/storage/simhash_snapshot.py): a
load from it gives exactly the pairs a full read gives, whatever was written, updated, deleted or replaced since
it was taken, by whichever writer; it is rewritten when it falls behind; a failure to write it loses nothing."""

from __future__ import annotations

import logging
import random
import sqlite3

import pytest

from gongkai_spider.storage import simhash_snapshot
from gongkai_spider.storage.sqlite import SQLiteStore

_rng = random.Random(17)


def _pair() -> tuple[int, int]:
    return _rng.getrandbits(64) - 2**63, _rng.getrandbits(64) - 2**63


@pytest.fixture(autouse=True)
def small_stores_get_a_snapshot(monkeypatch) -> None:
    monkeypatch.setattr(simhash_snapshot, "MIN_ROWS", 10)


@pytest.fixture
def full_reads(monkeypatch) -> list[int]:
    """Counts the reads of the whole (simhash, simhash2) index."""
    calls: list[int] = []
    full_scan = simhash_snapshot._full_scan

    def counted(conn, table):
        calls.append(1)
        yield from full_scan(conn, table)

    monkeypatch.setattr(simhash_snapshot, "_full_scan", counted)
    return calls


def _insert(store: SQLiteStore, pairs: list[tuple[int | None, int | None]], first: int) -> None:
    store._conn.executemany("INSERT INTO articles (_id, url, simhash, simhash2, doc) VALUES (?, ?, ?, ?, '{}')",
                            [(f"d{i}", f"http://x.gov.cn/{i}.html", a, b) for i, (a, b) in enumerate(pairs, first)])


def _store(tmp_path, n: int = 200) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    _insert(store, [_pair() for _ in range(n - 2)] + [(None, None), (5, None)], 0)
    return store


def _read(store: SQLiteStore) -> list[tuple[int, int]]:
    return sorted(tuple(p) for b in store.scan_simhash_blocks() for p in b.reshape(-1, 2).tolist())


def _truth(store: SQLiteStore) -> list[tuple[int, int]]:
    return sorted(store.iter_simhash_pairs())


def _snapshot(store: SQLiteStore) -> tuple[int, int, int, int] | None:
    return store._conn.execute("SELECT upto, rows, changes, length(pairs) FROM articles_simhash_snapshot").fetchone()


def test_the_first_read_is_full_and_leaves_a_snapshot_the_next_one_reads(tmp_path, full_reads) -> None:
    store = _store(tmp_path)
    truth = _truth(store)
    assert _snapshot(store) is None
    assert _read(store) == truth and len(full_reads) == 1
    assert _snapshot(store) == (200, 200, 0, 16 * 199)  # the row without a simhash counted, not stored
    assert _read(store) == truth and len(full_reads) == 1
    _insert(store, [_pair() for _ in range(5)], 200)  # new rows: read after the snapshot's
    assert _read(store) == _truth(store) and len(full_reads) == 1
    store.close()


@pytest.mark.parametrize("change", [
    "UPDATE articles SET simhash = simhash + 1 WHERE _id = 'd7'",
    "UPDATE articles SET simhash2 = 99 WHERE _id = 'd198'",  # a row stored without a second fingerprint
    "UPDATE articles SET simhash = 12345 WHERE _id = 'd198'",  # one stored without a simhash gets one
    "INSERT INTO articles (_id, url, simhash, simhash2, doc) VALUES ('d9', 'http://x.gov.cn/9.html', 1, 2, '{}') "
    "ON CONFLICT(_id) DO UPDATE SET simhash = excluded.simhash, simhash2 = excluded.simhash2",  # the store's upsert
    "DELETE FROM articles WHERE _id = 'd3'",
    "DELETE FROM articles WHERE rowid = (SELECT max(rowid) FROM articles)",  # its rowid is given out again
    # a url clash replaced: REPLACE's implicit delete fires no trigger, the count of rows sees it
    "INSERT OR REPLACE INTO articles (_id, url, simhash, simhash2, doc) VALUES ('new', 'http://x.gov.cn/4.html', "
    "7, 8, '{}')",
])
def test_a_change_to_the_rows_under_the_snapshot_is_never_missed(tmp_path, full_reads, change) -> None:
    store = _store(tmp_path)
    _read(store)
    store._conn.execute(change)
    _insert(store, [_pair()], 1000)  # a new row after it, maybe on a rowid given out again
    assert _read(store) == _truth(store)
    assert len(full_reads) == 2  # the stale snapshot was not used
    assert _read(store) == _truth(store) and len(full_reads) == 2  # and was rewritten
    store.close()


def test_an_update_that_keeps_the_fingerprints_keeps_the_snapshot(tmp_path, full_reads) -> None:
    store = _store(tmp_path)
    _read(store)
    store._conn.execute("UPDATE articles SET doc = '{\"title\": \"x\"}', simhash = simhash WHERE _id = 'd7'")
    assert _read(store) == _truth(store) and len(full_reads) == 1
    store.close()


def test_a_snapshot_is_rewritten_when_the_rows_after_it_pass_the_tail(tmp_path, monkeypatch, full_reads) -> None:
    monkeypatch.setattr(simhash_snapshot, "snapshot_tail", lambda rows: 20)
    store = _store(tmp_path)
    _read(store)
    _insert(store, [_pair() for _ in range(20)], 200)
    assert _read(store) == _truth(store) and _snapshot(store)[0] == 200  # 20 rows after it: kept
    _insert(store, [_pair()], 220)
    assert _read(store) == _truth(store) and _snapshot(store)[:2] == (221, 221)
    assert _read(store) == _truth(store) and len(full_reads) == 1  # from the new one, with no full read
    store.close()


def test_a_change_made_while_the_pairs_are_read_leaves_the_new_snapshot_stale(tmp_path, full_reads) -> None:
    """The crawl's writer thread updates a row between the load's read and its write of the snapshot: the
    snapshot holds the old pair, so it must not pass for current."""
    store = _store(tmp_path)
    reading = store.scan_simhash_blocks()
    first = next(reading)
    other = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    other.execute("UPDATE articles SET simhash = 424242 WHERE _id = 'd11'")
    other.close()
    rest = list(reading)  # ends with the snapshot's write
    assert 424242 not in {p for b in [first, *rest] for p in b[0::2].tolist()}  # one state: the read's
    assert _snapshot(store) is not None
    assert _read(store) == _truth(store) and len(full_reads) == 2
    store.close()


@pytest.mark.parametrize("damage", [
    "UPDATE articles_simhash_snapshot SET layout = 99",
    "UPDATE articles_simhash_snapshot SET pairs = substr(pairs, 1, 17)",
    "UPDATE articles_simhash_snapshot SET rows = rows + 1",
])
def test_a_snapshot_of_another_layout_or_damaged_is_not_read(tmp_path, full_reads, damage) -> None:
    store = _store(tmp_path)
    _read(store)
    store._conn.execute(damage)
    assert _read(store) == _truth(store) and len(full_reads) == 2
    store.close()


def test_a_lost_counter_means_full_reads_and_no_snapshot(tmp_path, full_reads) -> None:
    store = _store(tmp_path)
    _read(store)
    store._conn.execute("DELETE FROM articles_simhash_changes")
    store._conn.execute("UPDATE articles SET simhash = 1 WHERE _id = 'd1'")
    assert _read(store) == _truth(store) and _read(store) == _truth(store) and len(full_reads) == 3
    store.close()


@pytest.mark.parametrize("dropped", [["TRIGGER articles_simhash_changed"],
                                     ["TRIGGER articles_simhash_changed", "TRIGGER articles_simhash_deleted",
                                      "TABLE articles_simhash_changes"]])
def test_a_snapshot_kept_while_its_counting_was_gone_is_not_used(tmp_path, dropped) -> None:
    store = _store(tmp_path)
    _read(store)
    for name in dropped:
        store._conn.execute(f"DROP {name}")
    store._conn.execute("UPDATE articles SET simhash = simhash + 1 WHERE _id = 'd1'")  # not counted
    store.close()
    store = SQLiteStore(tmp_path / "s.sqlite3")  # puts them back
    assert _read(store) == _truth(store)
    store.close()


def test_a_snapshot_that_cannot_be_written_loses_no_pair(tmp_path, caplog) -> None:
    store = _store(tmp_path)
    store.close()
    store = SQLiteStore(tmp_path / "s.sqlite3", timeout=0.05)
    locker = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the file
    with caplog.at_level(logging.WARNING):
        assert _read(store) == _truth(store)
    locker.execute("ROLLBACK")
    locker.close()
    assert "could not save the near-duplicate fingerprints" in caplog.text
    assert _snapshot(store) is None and not store._conn.in_transaction
    assert _read(store) == _truth(store) and _snapshot(store) is not None  # written next time
    store.close()


def test_a_reader_stopped_early_writes_nothing_and_closes_cleanly(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(simhash_snapshot, "SCAN_SLICES", 4)
    store = _store(tmp_path)
    reading = store.scan_simhash_blocks()
    next(reading)
    reading.close()
    assert _snapshot(store) is None and not store._conn.in_transaction
    again = store.scan_simhash_blocks()
    next(again)
    store.close()  # the connection goes first, as when a stopped load's store is closed
    del again  # its clean-up finds the connection closed: no error


def test_a_store_opened_again_takes_no_write_lock(tmp_path) -> None:
    """The index load's connection opens the store beside the crawl's writer: finding the snapshot's tables
    and triggers in place, it writes nothing (it would wait for the writer, or fail on a read-only file)."""
    _store(tmp_path).close()
    locker = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    SQLiteStore(tmp_path / "s.sqlite3", timeout=0.05).close()
    locker.execute("ROLLBACK")
    locker.close()
