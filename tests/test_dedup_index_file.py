"""The sorted near-duplicate index kept in a file beside the SQLite store between runs: a load that finds it
for the same stored pairs maps its bands instead of sorting them, and finds exactly what a sorted index finds;
a file of other pairs, of another layout, cut short or damaged is ignored and written again; a file that cannot
be written costs a warning, never the load."""

from __future__ import annotations

import logging
import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from test_dedup_index_load import _store_of_pairs

from gongkai_spider.stats import CounterStats
from pipelines.dedup import DedupPipeline, StoreCandidates
from pipelines.simhash_index import _BAND_WIDTH, _FILE_START, _FILE_TAIL, _SCAN_ALL, SimhashIndex, pair_blocks

ROWS = _SCAN_ALL + 3000  # past the size an index is scanned whole at (no bands, no file)


def _templated_pairs(n: int, seed: int = 1) -> list[tuple[int, int]]:
    """(simhash, second) pairs as templated text gives them: a few bits set in most values, so buckets are
    uneven (signed, as the store keeps them)."""
    rng = random.Random(seed)
    common = rng.getrandbits(64)
    pairs = []
    for _ in range(n):
        value = common
        for _bit in range(rng.randrange(4, 24)):
            value ^= 1 << rng.randrange(64)
        pairs.append((value - 2**63, rng.getrandbits(64) - 2**63))
    return pairs


def _loaded(pairs, file: Path | None = None) -> SimhashIndex:
    index = SimhashIndex(6)
    assert index.load_blocks(pair_blocks(pairs), file=file) == len(pairs)
    return index


def _queries(pairs, n: int = 400, seed: int = 2) -> list[int]:
    """Stored values with 0-6 bits flipped (found), and random values (mostly nothing found)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        value = rng.choice(pairs)[0] + 2**63
        for _bit in range(rng.randrange(7)):
            value ^= 1 << rng.randrange(64)
        out.append(value)
    return out + [rng.getrandbits(64) for _ in range(50)]


def _same_answers(index: SimhashIndex, reference: SimhashIndex, queries: list[int]) -> bool:
    return all(index.candidates(q) == reference.candidates(q) for q in queries)


def test_an_index_file_is_mapped_instead_of_sorted_and_finds_the_same(tmp_path, monkeypatch) -> None:
    pairs = _templated_pairs(ROWS)
    file = tmp_path / "g.fingerprints"
    sorted_here = _loaded(pairs)
    assert not sorted_here.bands_from_file
    assert sorted_here.save(file) and file.stat().st_size > _FILE_START
    assert sorted_here.bands_from_file and not sorted_here.save(file)  # already that file's content

    def never(self):
        raise AssertionError("the bands were sorted again")

    with monkeypatch.context() as patch:
        patch.setattr(SimhashIndex, "_rebuild", never)
        mapped = _loaded(pairs, file)
    assert mapped.bands_from_file and not mapped._sorted.flags.writeable  # the file's pages, read-only
    queries = _queries(pairs)
    assert sum(len(sorted_here.candidates(q)) for q in queries) > len(queries)  # the queries find things
    assert _same_answers(mapped, sorted_here, queries)
    # this run's items are added to a mapped index as to any other
    mapped.add("new", queries[0], 5)
    assert mapped.nearest(queries[0]) is not None and len(mapped) == ROWS + 1


def _damaged(file: Path, how: str) -> None:
    data = bytearray(file.read_bytes())
    if how == "cut short":
        del data[-8:]
    elif how == "empty":
        data = bytearray()
    elif how == "other magic":
        data[:8] = b"GKSIMIX0"
    elif how == "header checksum":
        data[8] ^= 1  # the row count, its CRC-32 no longer matching
    elif how == "bucket offsets":
        offset = _FILE_START + 16 * ROWS  # the first band's offsets
        data[offset + 8 * 5:offset + 8 * 6] = struct.pack("<q", -1)
    elif how == "row numbers":
        offset = _FILE_START + 16 * ROWS + 8 * 4 * _BAND_WIDTH
        data[offset:offset + 8] = struct.pack("<q", 10 * ROWS)
    elif how == "sorted values":  # zeroed, as a page lost in a crash would be
        end = len(data) - 8 * 4 * ROWS // 2
        data[end - 4096:end] = bytes(4096)
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["cut short", "empty", "other magic", "header checksum", "bucket offsets",
                                 "row numbers", "sorted values"])
def test_a_damaged_index_file_is_ignored(tmp_path, how: str) -> None:
    pairs = _templated_pairs(ROWS)
    file = tmp_path / "g.fingerprints"
    reference = _loaded(pairs)
    reference.save(file)
    _damaged(file, how)
    index = _loaded(pairs, file)
    assert not index.bands_from_file
    assert _same_answers(index, reference, _queries(pairs, 100))


@pytest.mark.parametrize("change", ["one value", "one second fingerprint", "another order", "fewer pairs"])
def test_an_index_file_of_other_pairs_is_ignored(tmp_path, change: str) -> None:
    pairs = _templated_pairs(ROWS)
    file = tmp_path / "g.fingerprints"
    _loaded(pairs).save(file)
    if change == "one value":
        pairs[123] = (pairs[123][0] ^ 1, pairs[123][1])
    elif change == "one second fingerprint":
        pairs[-1] = (pairs[-1][0], pairs[-1][1] ^ 1)
    elif change == "another order":
        pairs[0], pairs[1] = pairs[1], pairs[0]
    else:  # the file holds more rows than the store (rows deleted since)
        pairs = pairs[:-1]
    index = _loaded(pairs, file)
    assert not index.bands_from_file
    assert _same_answers(index, _loaded(pairs), _queries(pairs, 100))


def test_rows_stored_after_the_file_are_a_short_tail_or_sorted_in(tmp_path) -> None:
    pairs = _templated_pairs(ROWS + _FILE_TAIL + 1)
    file = tmp_path / "g.fingerprints"
    _loaded(pairs[:ROWS]).save(file)
    few = pairs[:ROWS + 100]
    index = _loaded(few, file)
    assert index.bands_from_file and index._base == ROWS and len(index) == ROWS + 100  # the 100 in the tail
    assert _same_answers(index, _loaded(few), _queries(few, 200) + [v + 2**63 for v, _ in few[ROWS:]])
    many = _loaded(pairs, file)  # more than _FILE_TAIL after the file's rows: sorted again, all of them
    assert not many.bands_from_file and many._base == len(pairs)
    assert many.save(file)


def _pipeline_load(store) -> DedupPipeline:
    pipeline = DedupPipeline(CounterStats(), store=StoreCandidates(store=store))
    pipeline.open_spider()
    assert len(pipeline.index) > 0  # waits for the load (and the file's writing)
    return pipeline


def test_the_dedup_stage_writes_the_file_beside_the_store_and_the_next_run_maps_it(tmp_path) -> None:
    store = _store_of_pairs(tmp_path / "g.sqlite3", _templated_pairs(ROWS))
    file = store.fingerprint_index_path()
    assert file == tmp_path / "g.sqlite3.fingerprints" and not file.exists()
    first = _pipeline_load(store)
    assert file.exists() and first.index._sorted.flags.writeable  # sorted here, then written
    written = file.stat().st_ino
    second = _pipeline_load(store)
    assert second.index.bands_from_file and not second.index._sorted.flags.writeable
    assert file.stat().st_ino == written  # mapped, not written again
    # a stored fingerprint changed (by anyone): the file no longer holds the store's pairs
    store._conn.execute("UPDATE articles SET simhash = simhash + 1 WHERE _id = 'd7'")
    third = _pipeline_load(store)
    assert third.index._sorted.flags.writeable and file.stat().st_ino != written  # sorted again, written anew
    assert not _pipeline_load(store).index._sorted.flags.writeable  # the new file holds the new pairs
    store.close()


def test_a_small_store_gets_no_file(tmp_path) -> None:
    store = _store_of_pairs(tmp_path / "g.sqlite3", _templated_pairs(_SCAN_ALL))
    _pipeline_load(store)
    assert not store.fingerprint_index_path().exists()
    store.close()


def test_a_file_that_cannot_be_written_is_logged_and_the_load_goes_on(tmp_path, caplog) -> None:
    store = _store_of_pairs(tmp_path / "g.sqlite3", _templated_pairs(ROWS))
    store.fingerprint_index_path().mkdir()  # a folder where the file would go: the rename fails
    with caplog.at_level(logging.WARNING, logger="pipelines.dedup"):
        pipeline = _pipeline_load(store)
    assert len(pipeline.index) == ROWS and pipeline.stats.get_value("gongkai/dedup/index_error") is None
    assert "could not write" in caplog.text and "the next run sorts the fingerprints again" in caplog.text
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # no temporary file left
    store.close()


def test_a_writer_that_died_leaves_no_temporary_file_for_long(tmp_path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    file = tmp_path / "g.fingerprints"
    abandoned = tmp_path / f"g.fingerprints.{dead.stdout.strip()}-1.tmp"  # a process that has exited
    running = tmp_path / f"g.fingerprints.{os.getppid()}-1.tmp"  # a process that runs (another writer's)
    other = tmp_path / "h.fingerprints.1-1.tmp"  # another store's
    for path in (abandoned, running, other):
        path.write_bytes(b"part of a file")
    assert _loaded(_templated_pairs(ROWS)).save(file)
    assert not abandoned.exists() and running.exists() and other.exists()


def test_the_in_memory_store_has_no_file() -> None:
    from gongkai_spider.storage.sqlite import SQLiteStore

    store = SQLiteStore(":memory:")
    assert store.fingerprint_index_path() is None
    assert StoreCandidates(store=store).index_file() is None
    store.close()


def test_an_index_file_holds_the_arrays_in_native_order(tmp_path) -> None:
    """The file is the arrays as they are in memory: its size follows from the row count alone."""
    index = _loaded(_templated_pairs(ROWS))
    file = tmp_path / "g.fingerprints"
    index.save(file)
    assert file.stat().st_size == _FILE_START + 8 * (10 * ROWS + 4 * _BAND_WIDTH)
    values = np.frombuffer(file.read_bytes(), dtype=np.uint64, count=ROWS, offset=_FILE_START)
    assert np.array_equal(values, index._values[:ROWS])
