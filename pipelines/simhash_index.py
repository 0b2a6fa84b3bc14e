"""The near-duplicate index of the dedup stage (pipelines/dedup.py): candidates among many simhashes.

Kept apart from dedup.py because it needs numpy, which the fingerprints alone (``gongkai extract``,
``pipelines.offline``) do not: dedup.py imports this module only when it builds an index.
"""

from __future__ import annotations

import glob
import itertools
import mmap
import os
import struct
import threading
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from pipelines.dedup import (
    MAX_DISTANCE,
    MAX_INDEX_DISTANCE,
    MAX_SECOND_DISTANCE,
    NO_SECOND,
    hamming,
    to_unsigned64,
)

_BANDS = 4
_BAND_BITS = 16
_BAND_MASK = (1 << _BAND_BITS) - 1
_SHIFTS = tuple(range(0, _BANDS * _BAND_BITS, _BAND_BITS))
_BAND_WIDTH = _BAND_MASK + 2  # a band's row in _starts: one offset per bucket, and the end
_SCAN_ALL = 8192  # an index of at most this many rows is scanned whole
_LOAD_CHUNK = 1 << 16  # pairs per block of pair_blocks (load()'s stop event is looked at between blocks)
# An index file (``SimhashIndex.save``): a header, then the arrays, native byte order: values and seconds (n
# each), the bands' bucket offsets (4 x 65,537), their rows and their values in band order (4n each). Another
# magic (a layout change) is not read.
_FILE_MAGIC = b"GKSIMIX1"
_FILE_HEADER = struct.Struct("<8sqqq")  # magic, rows, bands, bits per band; followed by its CRC-32, then padding
_FILE_START = 64  # the arrays start here (8-byte aligned)
# Rows loaded past those of an index file that are left in the unsorted tail (each lookup scans them whole:
# about 10 µs at this many) instead of sorting every band again.
_FILE_TAIL = 4096
_FILE_SAMPLE = 4096  # positions of the bands' sorted values checked against the values when a file is read


def pair_blocks(pairs: Iterable[tuple[int, int]]) -> Iterator[np.ndarray]:
    """(simhash, second) pairs as ``SimhashIndex.load_blocks`` takes them: flat int64 arrays of ``_LOAD_CHUNK``
    pairs (the last one shorter)."""
    values = itertools.chain.from_iterable(pairs)
    while True:
        block = np.fromiter(itertools.islice(values, 2 * _LOAD_CHUNK), dtype=np.int64)
        if len(block):
            yield block
        if len(block) < 2 * _LOAD_CHUNK:
            return


def _remove_abandoned(path: Path) -> None:
    """Delete the temporary files of ``path`` left by writers that died before renaming them (``save`` names
    them ``<name>.<pid>-<thread>.tmp``): those of processes no longer running."""
    for temporary in path.parent.glob(f"{glob.escape(path.name)}.*-*.tmp"):
        pid = temporary.name[len(path.name) + 1:].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            temporary.unlink(missing_ok=True)
        except OSError:  # running, as another user
            pass


def _probe_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set (the band values a lookup probes, XORed in), ascending."""
    masks = np.arange(1 << _BAND_BITS, dtype=np.int64)
    return masks[np.bitwise_count(masks) <= radius]


class _Views:
    """Memoryviews of the sorted arrays, read element by element in Python by the probe (as Python ints)."""

    __slots__ = ("rows", "sorted_bytes", "starts")

    def __init__(self, starts: np.ndarray, sorted_: np.ndarray, rows: np.ndarray) -> None:
        self.starts = memoryview(starts.reshape(-1))
        self.sorted_bytes = memoryview(sorted_).cast("B")
        self.rows = memoryview(rows)


class SimhashIndex:
    """Near-duplicate candidates among many simhashes: multi-index hashing over 4 bands of 16 bits.

    Two hashes at most ``max_distance`` bits apart differ in at most ``r = max_distance // 4`` bits in at
    least one band (pigeonhole), so a lookup probes, in each band, the bucket of its own band value and of
    every value within ``r`` bits of it: 17 buckets per band for distances 4-7. Sharper: if they differ in
    more than ``r`` bits in three bands, they differ in at most ``t = max_distance - 3 (r + 1)`` bits in the
    fourth, whichever it is; so one band needs probing only within ``t`` bits (``t`` < ``r``: distances 4-6,
    8 and 9; at 6, its own bucket alone). A lookup thins the band whose left-out buckets hold the most rows:
    on templated hashes about 57% fewer values scanned (7,600 -> 3,300 per lookup at a million demo
    notices). Every hash within ``max_distance`` is found.

    Templated text (the notices of one office, the demo portal) does not spread hashes evenly: some bits are
    set in 97% of documents, so some buckets hold a hundred times their share. The probed buckets' values
    (and the tail's) are therefore gathered as bytes and scanned in C by one numpy pass (XOR and popcount
    over all of them at once), never Python loops over entries: at a million stored demo notices a lookup
    scans about 8,000 values in about 75 µs warm, 130-150 µs inside a crawl. Each probed bucket is read up to
    ``bucket_cap`` entries (its newest ones); a capped read is counted in ``capped``.

    Entries are row numbers into one growing array of values; rows added since the last rebuild sit in an
    unsorted tail, scanned whole, and are folded into the sorted buckets when the tail outgrows a fraction
    of the index. An entry may carry an ``_id`` (items of this run) or not (hashes loaded from the store,
    where the ``_id`` is looked up by value only for the few hashes that match).
    """

    def __init__(self, max_distance: int = MAX_DISTANCE, *, bucket_cap: int = 8192) -> None:
        if not 0 <= max_distance <= MAX_INDEX_DISTANCE:
            raise ValueError(f"max_distance must be between 0 and {MAX_INDEX_DISTANCE}, not {max_distance}")
        self.max_distance = max_distance
        self.bucket_cap = bucket_cap
        self.capped = 0
        radius = max_distance // _BANDS
        masks = _probe_masks(radius)
        self._masks: list[int] = masks.tolist()
        # The positions in _masks of the probes one band can leave out (see the class docstring); none when
        # it cannot leave out any.
        thin = max(0, max_distance - 3 * (radius + 1))
        self._thin_out: list[int] = np.flatnonzero(np.bitwise_count(masks) > thin).tolist()
        self._values = np.zeros(1024, dtype=np.uint64)
        self._seconds = np.zeros(1024, dtype=np.uint64)  # second fingerprint per row, NO_SECOND if unknown
        self._size = 0  # rows used in _values
        self._base = 0  # rows [0, _base) are in the sorted buckets, [_base, _size) in the tail
        # The 4 bands' copies of the base rows end to end: band b holds positions [b * _base, (b + 1) * _base).
        self._rows = np.zeros(0, dtype=np.int64)  # per band: base rows ordered by band value (then row)
        self._sorted = np.zeros(0, dtype=np.uint64)  # their values in that order
        self._starts = np.zeros((_BANDS, _BAND_MASK + 2), dtype=np.int64)  # bucket offsets into the two above
        self._views = _Views(self._starts, self._sorted, self._rows)
        self._ids: dict[int, str] = {}  # row -> _id, for rows added with one
        self._row_of: dict[str, int] = {}  # _id -> its current row
        self._dead: set[int] = set()  # rows replaced by a newer value of the same _id
        # The sorted bands are an index file's content (mapped from it, or just written to it): save() is idle.
        self.bands_from_file = False

    def __len__(self) -> int:
        return self._size - len(self._dead)

    def _grow(self, need: int) -> None:
        """Room for ``need`` rows (rows past ``_size`` are never read: new arrays are not filled)."""
        if need > len(self._values):
            size, used = max(need, 2 * len(self._values)), self._size
            values, seconds = np.empty(size, dtype=np.uint64), np.empty(size, dtype=np.uint64)
            values[:used], seconds[:used] = self._values[:used], self._seconds[:used]
            self._values, self._seconds = values, seconds

    def add(self, _id: str | None, value: int, second: int | None = None) -> None:
        """Index ``value`` (signed or unsigned 64-bit) with its second fingerprint (None: unknown); ``_id``
        None for a stored hash known by value only."""
        value = to_unsigned64(value)
        second = NO_SECOND if second is None else to_unsigned64(second)
        if _id is not None:
            old = self._row_of.get(_id)
            if old is not None:
                if int(self._values[old]) == value and int(self._seconds[old]) == second:
                    return
                self._dead.add(old)
                del self._ids[old]
        self._grow(self._size + 1)
        row = self._size
        self._values[row], self._seconds[row] = value, second
        self._size += 1
        if _id is not None:
            self._ids[row] = _id
            self._row_of[_id] = row
        if self._size - self._base > max(4096, self._base // 8):
            self._rebuild()

    def load(self, pairs: Iterable[tuple[int, int]], stop: threading.Event | None = None) -> int | None:
        """Bulk-add (simhash, second fingerprint) pairs known by value only (the store's, NO_SECOND for a
        document stored without a second fingerprint): ``load_blocks`` of ``pair_blocks(pairs)``."""
        return self.load_blocks(pair_blocks(pairs), stop)

    def load_blocks(self, blocks: Iterable[np.ndarray], stop: threading.Event | None = None, *,
                    file: Path | None = None) -> int | None:
        """Bulk-add pairs given as blocks (flat int64 arrays ``simhash, second, simhash, second, ...``, signed
        as the store keeps them); returns how many pairs, or None when ``stop`` was set (checked between
        blocks). All or nothing: a failed or stopped read adds none.

        ``file``: an index file written by ``save`` for these pairs. Into an empty index, when it holds exactly
        the first pairs loaded (the same values, in the same order), its sorted bands are used as they are,
        mapped read-only from the file (nothing sorted, nothing copied; the pages are read as lookups touch
        them), and up to ``_FILE_TAIL`` pairs after them stay in the unsorted tail. Any other file (missing,
        truncated, of other pairs or another layout) is ignored and the bands are sorted as without one."""
        chunks = []  # all read before the arrays grow, once and to their size (no doubling, no copies)
        for block in blocks:
            if stop is not None and stop.is_set():
                return None
            if block.dtype != np.int64 or block.ndim != 1 or len(block) % 2:
                raise ValueError(f"a block of simhash pairs must be a flat int64 array of even length, "
                                 f"not {block.dtype} of shape {block.shape}")
            chunks.append(block.view(np.uint64))  # the same 64 bits, read as unsigned
        loaded = sum(len(chunk) for chunk in chunks) // 2
        if not loaded:
            return 0
        end = self._size
        from_file = file is not None and not end and self._map_file(file, loaded)
        self._grow(end + loaded)
        for chunk in chunks:
            n = len(chunk) // 2
            self._values[end:end + n] = chunk[0::2]
            self._seconds[end:end + n] = chunk[1::2]
            end += n
        self._size = end
        if not (from_file and self._adopt_file(*from_file)) or end - self._base > _FILE_TAIL:
            self._rebuild()
        return loaded

    def save(self, path: Path) -> bool:
        """Write the sorted bands to ``path`` (a new file renamed over it, so a reader sees the old file or the
        new one, never a part) for a later ``load_blocks(..., file=path)``. False, nothing written, when a file
        would not help: an index small enough to be scanned whole, one holding rows added with an ``_id`` (this
        run's items) or in its unsorted tail, or one whose bands are already a file's content. Raises OSError."""
        size = self._size
        if size <= _SCAN_ALL or self._base != size or self._ids or self._dead or self.bands_from_file:
            return False
        header = _FILE_HEADER.pack(_FILE_MAGIC, size, _BANDS, _BAND_BITS)
        header += struct.pack("<I", zlib.crc32(header))
        _remove_abandoned(path)
        temporary = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            with open(temporary, "wb") as out:
                out.write(header.ljust(_FILE_START, b"\0"))
                for array in (self._values[:size], self._seconds[:size], self._starts, self._rows, self._sorted):
                    out.write(memoryview(np.ascontiguousarray(array)).cast("B"))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        self.bands_from_file = True
        return True

    @staticmethod
    def _file_layout(rows: int) -> tuple[tuple[type, int], ...]:
        """(dtype, count) of the arrays of an index file of ``rows`` rows, in the order ``save`` writes them:
        values, seconds, starts, rows, sorted (8 bytes each)."""
        return ((np.uint64, rows), (np.uint64, rows), (np.int64, _BANDS * _BAND_WIDTH), (np.int64, _BANDS * rows),
                (np.uint64, _BANDS * rows))

    @classmethod
    def _file_arrays(cls, buffer: mmap.mmap, rows: int) -> tuple[np.ndarray, ...]:
        """(values, seconds, starts, rows, sorted) of an index file of ``rows`` rows, views of ``buffer``."""
        offset, arrays = _FILE_START, []
        for dtype, count in cls._file_layout(rows):
            arrays.append(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))
            offset += 8 * count
        return tuple(arrays)

    def _map_file(self, path: Path, loaded: int) -> tuple[mmap.mmap, int] | None:
        """(the file mapped read-only, its rows) when ``path`` is an index file of this layout, of at most
        ``loaded`` rows and of its full size; else None."""
        try:
            with open(path, "rb") as source:
                head = source.read(_FILE_HEADER.size + 4)
                if len(head) < _FILE_HEADER.size + 4:
                    return None
                magic, rows, bands, bits = _FILE_HEADER.unpack_from(head)
                (crc,) = struct.unpack_from("<I", head, _FILE_HEADER.size)
                if (magic != _FILE_MAGIC or crc != zlib.crc32(head[:_FILE_HEADER.size]) or bands != _BANDS
                        or bits != _BAND_BITS or not _SCAN_ALL < rows <= loaded):
                    return None
                size = _FILE_START + 8 * sum(count for _dtype, count in self._file_layout(rows))
                if os.fstat(source.fileno()).st_size != size:
                    return None
                return mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ), rows
        except (OSError, ValueError):
            return None

    def _adopt_file(self, buffer: mmap.mmap, rows: int) -> bool:
        """Use the mapped file's bands for rows [0, rows) when its values and seconds are exactly those rows', its
        bucket offsets and row numbers are in range, and a sample of its sorted values are the values of their
        rows (a file of other pairs, or damaged where these checks see it, is not used)."""
        values, seconds, starts, order, sorted_ = self._file_arrays(buffer, rows)
        starts = starts.reshape(_BANDS, _BAND_WIDTH)
        bands = np.arange(_BANDS, dtype=np.int64)
        if not (np.array_equal(values, self._values[:rows]) and np.array_equal(seconds, self._seconds[:rows])
                and np.array_equal(starts[:, 0], bands * rows) and np.array_equal(starts[:, -1], (bands + 1) * rows)
                and bool((np.diff(starts, axis=1) >= 0).all()) and int(order.min()) >= 0
                and int(order.max()) < rows):
            return False
        sample = np.linspace(0, _BANDS * rows - 1, _FILE_SAMPLE, dtype=np.int64)  # the sorted copies, spot-checked
        if not np.array_equal(sorted_[sample], values[order[sample]]):
            return False
        self._rows, self._sorted, self._starts = order, sorted_, starts
        self._views = _Views(self._starts, self._sorted, self._rows)
        self._base = rows
        self.bands_from_file = True
        return True

    def _rebuild(self) -> None:
        size = self._size
        values = self._values[:size]
        self._rows = np.empty(_BANDS * size, dtype=np.int64)
        self._sorted = np.empty(_BANDS * size, dtype=np.uint64)
        self._starts = np.zeros((_BANDS, _BAND_MASK + 2), dtype=np.int64)
        for band in range(_BANDS):
            # 16-bit keys: numpy's stable sort is a radix sort for them, several times faster than on int64
            # (a million rows: about 15 ms per band instead of 90), same order.
            keys = (values >> np.uint64(band * _BAND_BITS)).astype(np.uint16)
            order = np.argsort(keys, kind="stable")
            counts = np.bincount(keys, minlength=_BAND_MASK + 1)
            np.cumsum(counts, out=self._starts[band, 1:])
            self._starts[band] += band * size
            self._rows[band * size:(band + 1) * size] = order
            np.take(values, order, out=self._sorted[band * size:(band + 1) * size])
        self._views = _Views(self._starts, self._sorted, self._rows)
        self._base = size
        self.bands_from_file = False

    def candidates(self, value: int, exclude: str | None = None) -> list[tuple[int, int]]:
        """(distance, row) of every indexed hash within max_distance of ``value``, nearest first, then oldest."""
        value = to_unsigned64(value)
        size, base = self._size, self._base
        if size <= min(self.bucket_cap, _SCAN_ALL) or not base:
            # A small index (or one not yet sorted) is scanned whole, cheaper than probing 68 buckets; the same
            # hashes are found (no bucket can hold more than bucket_cap entries, so none would be capped).
            firsts, ends, parts, base = [], [], [], 0
        else:
            firsts, ends, parts = self._probe(value)
        if size > base:  # the unsorted tail (or the whole index), scanned whole in the same pass
            parts.append(memoryview(self._values).cast("B")[8 * base:8 * size])
        if not parts:
            return []
        # One part (a small index, or the tail alone) is read in place; several are joined into one copy.
        values = np.frombuffer(parts[0] if len(parts) == 1 else b"".join(parts), dtype=np.uint64)
        distances = np.bitwise_count(values ^ np.uint64(value))
        close = np.flatnonzero(distances <= self.max_distance)
        if not len(close):
            return []
        sorted_end = ends[-1] if ends else 0
        rows = self._views.rows
        found = set()  # a row close in several bands is found once per band: distinct (distance, row)
        for position, distance in zip(close.tolist(), distances[close].tolist(), strict=True):
            if position >= sorted_end:
                found.add((distance, base + position - sorted_end))
            else:
                bucket = bisect_right(ends, position)
                found.add((distance, rows[firsts[bucket] + position - (ends[bucket - 1] if bucket else 0)]))
        excluded = self._row_of.get(exclude) if exclude is not None else None
        dead = self._dead
        return [(d, r) for d, r in sorted(found) if r not in dead and r != excluded]

    def _probe(self, value: int) -> tuple[list[int], list[int], list[memoryview]]:
        """The sorted rows' part of candidates(): (first position of each non-empty probed bucket in the bands'
        sorted copies, the running total of their lengths, their values as bytes).

        The bookkeeping of the 68 buckets is plain Python on memoryviews, the values scanned by numpy in one
        pass over all of them: inside a crawl each numpy call costs several microseconds (its code is out of
        the caches between two items), and the former all-numpy probe made about 25 of them per lookup."""
        views, masks, thin_out = self._views, self._masks, self._thin_out
        starts = views.starts
        los: list[int] = []
        his: list[int] = []
        for band, shift in enumerate(_SHIFTS):
            key, row = (value >> shift) & _BAND_MASK, band * _BAND_WIDTH
            for mask in masks:
                at = row + (key ^ mask)
                los.append(starts[at])
                his.append(starts[at + 1])
        if thin_out:  # the band whose left-out buckets hold the most rows (the first of equals) is thinned
            n = len(masks)
            held = [sum(his[o + j] - los[o + j] for j in thin_out) for o in range(0, len(los), n)]
            o = n * held.index(max(held))
            for j in thin_out:
                his[o + j] = los[o + j]
        cap, sorted_bytes = self.bucket_cap, views.sorted_bytes
        firsts: list[int] = []
        ends: list[int] = []
        parts: list[memoryview] = []
        total = 0
        for lo, hi in zip(los, his, strict=True):
            if hi - lo > cap:  # a crowded bucket is read up to its newest cap entries
                self.capped += 1
                lo = hi - cap
            if hi > lo:
                firsts.append(lo)
                total += hi - lo
                ends.append(total)
                parts.append(sorted_bytes[8 * lo:8 * hi])
        return firsts, ends, parts

    def id_of(self, row: int) -> str | None:
        return self._ids.get(row)

    def value_of(self, row: int) -> int:
        return int(self._values[row])

    def second_close(self, row: int, second: int, max_distance: int = MAX_SECOND_DISTANCE) -> bool:
        """Whether the row's second fingerprint is within ``max_distance`` bits of ``second`` (or unknown)."""
        stored = int(self._seconds[row])
        return stored == NO_SECOND or hamming(stored, second) <= max_distance

    def nearest(self, value: int, exclude: str | None = None) -> str | None:
        """The _id of the closest hash within max_distance (the earliest added on a tie), else None."""
        for _distance, row in self.candidates(value, exclude):
            _id = self._ids.get(row)
            if _id is not None and _id != exclude:
                return _id
        return None
