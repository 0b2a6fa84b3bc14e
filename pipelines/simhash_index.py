"""The near-duplicate index of the dedup stage (pipelines/dedup.py): candidates among many simhashes.

Kept apart from dedup.py because it needs numpy, which the fingerprints alone (``gongkai extract``,
``pipelines.offline``) do not: dedup.py imports this module only when it builds an index.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

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
_LOAD_CHUNK = 1 << 16  # pairs read between two looks at load()'s stop event


def _probe_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set (the band values a lookup probes, XORed in), ascending."""
    masks = np.arange(1 << _BAND_BITS, dtype=np.int64)
    return masks[np.bitwise_count(masks) <= radius]


class SimhashIndex:
    """Near-duplicate candidates among many simhashes: multi-index hashing over 4 bands of 16 bits.

    Two hashes at most ``max_distance`` bits apart differ in at most ``r = max_distance // 4`` bits in at
    least one band (pigeonhole), so a lookup probes, in each band, the bucket of its own band value and of
    every value within ``r`` bits of it: 17 buckets per band for distances 4-7. Every hash within
    ``max_distance`` is found.

    Templated text (the notices of one office, the demo portal) does not spread hashes evenly: some bits are
    set in 97% of documents, so some buckets hold a hundred times their share. The buckets are therefore
    numpy arrays scanned in C (XOR and popcount over the whole bucket at once), never Python loops: a lookup
    at a million stored hashes costs tens of microseconds however crowded the buckets. Each probed bucket is
    read up to ``bucket_cap`` entries (its newest ones); a capped read is counted in ``capped``.

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
        self._masks = _probe_masks(max_distance // _BANDS)
        self._values = np.zeros(1024, dtype=np.uint64)
        self._seconds = np.zeros(1024, dtype=np.uint64)  # second fingerprint per row, NO_SECOND if unknown
        self._size = 0  # rows used in _values
        self._base = 0  # rows [0, _base) are in the sorted buckets, [_base, _size) in the tail
        self._rows: list[np.ndarray] = []  # per band: base rows ordered by band value (then row)
        self._sorted: list[np.ndarray] = []  # per band: their values in that order (scanned as contiguous slices)
        self._starts: list[np.ndarray] = []  # per band: 65537 offsets into _rows[band]
        self._ids: dict[int, str] = {}  # row -> _id, for rows added with one
        self._row_of: dict[str, int] = {}  # _id -> its current row
        self._dead: set[int] = set()  # rows replaced by a newer value of the same _id

    def __len__(self) -> int:
        return self._size - len(self._dead)

    def _grow(self, need: int) -> None:
        if need > len(self._values):
            size = max(need, 2 * len(self._values))
            self._values, self._seconds = np.resize(self._values, size), np.resize(self._seconds, size)

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
        document stored without a second fingerprint); returns how many, or None when ``stop`` was set
        (checked every ``_LOAD_CHUNK`` pairs). All or nothing: a failed or stopped read adds none."""
        values = itertools.chain.from_iterable(pairs)
        end = self._size  # rows are written from here on and counted in _size only once all are read
        while True:
            # Stored hashes are signed int64 (to_signed64): the same 64 bits, read as unsigned.
            chunk = np.fromiter(itertools.islice(values, 2 * _LOAD_CHUNK), dtype=np.int64).view(np.uint64)
            n = len(chunk) // 2
            self._grow(end + n)
            self._values[end:end + n] = chunk[0::2]
            self._seconds[end:end + n] = chunk[1::2]
            end += n
            if n < _LOAD_CHUNK:
                break
            if stop is not None and stop.is_set():
                return None
        loaded, self._size = end - self._size, end
        if loaded:
            self._rebuild()
        return loaded

    def _rebuild(self) -> None:
        values = self._values[:self._size]
        self._rows, self._sorted, self._starts = [], [], []
        for band in range(_BANDS):
            # 16-bit keys: numpy's stable sort is a radix sort for them, several times faster than on int64
            # (a million rows: about 15 ms per band instead of 90), same order.
            keys = (values >> np.uint64(band * _BAND_BITS)).astype(np.uint16)
            order = np.argsort(keys, kind="stable")
            counts = np.bincount(keys, minlength=_BAND_MASK + 1)
            starts = np.zeros(_BAND_MASK + 2, dtype=np.int64)
            np.cumsum(counts, out=starts[1:])
            self._rows.append(order)
            self._sorted.append(values[order])
            self._starts.append(starts)
        self._base = self._size

    def candidates(self, value: int, exclude: str | None = None) -> list[tuple[int, int]]:
        """(distance, row) of every indexed hash within max_distance of ``value``, nearest first, then oldest."""
        value = to_unsigned64(value)
        query = np.uint64(value)
        # Slices of the band-sorted value copies: contiguous memory, no gather; rows only when something is close.
        parts: list[tuple[int, int, int]] = []  # (band, lo, hi)
        if self._base:
            cap = self.bucket_cap
            for band in range(_BANDS):
                key = (value >> (band * _BAND_BITS)) & _BAND_MASK
                probes = key ^ self._masks
                starts = self._starts[band]
                for lo, hi in zip(starts[probes].tolist(), starts[probes + 1].tolist(), strict=True):
                    if hi > lo:
                        if hi - lo > cap:
                            self.capped += 1
                            lo = hi - cap
                        parts.append((band, lo, hi))
        arrays = [self._sorted[band][lo:hi] for band, lo, hi in parts]
        if self._size > self._base:
            arrays.append(self._values[self._base:self._size])
        if not arrays:
            return []
        values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        distances = np.bitwise_count(values ^ query)
        close = distances <= self.max_distance
        if not close.any():
            return []
        row_arrays = [self._rows[band][lo:hi] for band, lo, hi in parts]
        if self._size > self._base:
            row_arrays.append(np.arange(self._base, self._size))
        rows = np.concatenate(row_arrays) if len(row_arrays) > 1 else row_arrays[0]
        found = sorted(set(zip(distances[close].tolist(), rows[close].tolist(), strict=True)))
        excluded = self._row_of.get(exclude) if exclude is not None else None
        return [(d, r) for d, r in found if r not in self._dead and r != excluded]

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
