"""Dedup pipeline: content fingerprints and near-duplicate detection.

Every item gets
- ``content_hash``: sha1 hex of ``normalize_for_hash(title) + "\\n" + normalize_for_hash(body)``, followed by
  ``"\\n"`` and the sorted sha1s of the stored attachment files when there are any (a changed file is a new
  version; pages without files keep their hash); the store
  compares it to decide new / updated / unchanged, so this normalisation must never change silently.
- ``simhash``: 64-bit simhash of the character 3-grams of the normalised title + body + attachment text, as a
  SIGNED int64
  (MongoDB and SQLite integers are signed).
- ``near_duplicate_of``: the ``_id`` of a stored or earlier-seen article whose simhash is within
  ``max_distance`` bits (default 3, setting ``GONGKAI_NEAR_DUP_DISTANCE``), else None. Nothing is dropped:
  near copies (the same notice reposted on several portals) stay, marked.

Normalisation (``normalize_for_hash``): every whitespace character removed, zero-width characters removed,
NFKC (full-width ``，：（`` become ``,:(``). Only the text matters, not its layout.

Near-duplicate index: simhashes of non-spam articles, loaded at ``open_spider`` from the store
(``store.iter_fingerprints("articles")``) plus the items of this run; see SimhashIndex (4 bands of 16 bits
for the default distance, so a lookup stays O(1) at 100k documents). Texts whose normalised body is shorter
than ``min_chars`` (default 100, ``GONGKAI_NEAR_DUP_MIN_CHARS``) are neither looked up nor indexed: a one-line
"详见附件" body says nothing about whether two notices are the same.

Why 3 bits: on 18 real Chinese article pages (shared corpus, measured, not stored here) unrelated pages are
18-21 bits apart at the closest, 32 on median; the demo portal's generated, templated notices come as close
as 9 bits. At 3 bits a copy is found when it differs by whitespace,
punctuation width or layout (distance 0), and for a 1,000-character page by up to ~5 changed characters
(64% of 5-edit copies, 98% of 1-edit copies); a 300-character page tolerates about one edit (62%). Raising
``GONGKAI_NEAR_DUP_DISTANCE`` to 5-6 catches looser copies of short pages but starts to approach templated
notices of one office, and fills the index buckets.

Hashing cost: about 0.1 ms per 1,000 characters on one core (``simhash_unsigned``).

Stats: ``gongkai/dedup/near_duplicate``, ``gongkai/dedup/index_loaded`` (fingerprints read from the store),
``gongkai/dedup/index_error`` (the store could not be read; the run continues with what was loaded).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gongkai_spider.stats import CounterStats, Stats
from pipelines.common import attachment_sha1s, attachment_text, fields

logger = logging.getLogger(__name__)

MAX_DISTANCE = 3
MIN_CHARS = 100
SHINGLE = 3
_MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------------

_INVISIBLE_RE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200d\u2060\ufeff]+")
# The full-width forms Chinese text is full of; replacing them first lets most pages skip the (slow) full
# NFKC pass. The result is the same as NFKC, which maps each of them to exactly this ASCII character.
_COMMON_FULLWIDTH = (("，", ","), ("：", ":"), ("；", ";"), ("（", "("), ("）", ")"), ("！", "!"), ("？", "?"))


def normalize_for_hash(text: str | None) -> str:
    """The text as fingerprints see it: no whitespace, no zero-width characters, NFKC."""
    if not text:
        return ""
    text = "".join(str(text).split())
    if not unicodedata.is_normalized("NFKC", text):
        for full, half in _COMMON_FULLWIDTH:
            if full in text:
                text = text.replace(full, half)
        if not unicodedata.is_normalized("NFKC", text):
            text = "".join(unicodedata.normalize("NFKC", text).split())
    if _INVISIBLE_RE.search(text):
        text = _INVISIBLE_RE.sub("", text)
    return text


def content_hash(title: str | None, body: str | None) -> str:
    """sha1 hex of the normalised title and body, joined by a newline."""
    joined = normalize_for_hash(title) + "\n" + normalize_for_hash(body)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Simhash
# ---------------------------------------------------------------------------------------------------------


def _table(tag: str) -> bytes:
    # 256 fixed pseudo-random bytes: the same in every process and release (the simhash is stored).
    return hashlib.shake_256(b"gongkai-simhash/" + tag.encode("ascii")).digest(256)


# Tabulation hashing over UTF-16 code units (every CJK character is one unit): byte p of the value of a unit
# with low byte l and high byte h is _LOW[p][l] ^ _HIGH[p][h]. bytes.translate applies a table to a whole
# byte string in C, so the 8 byte planes of the per-unit values cost 16 translate calls, not a Python loop.
_LOW = tuple(_table(f"low{p}") for p in range(8))
_HIGH = tuple(_table(f"high{p}") for p in range(8))
# Shingle hash = v(u0) ^ rotbytes(v(u1), 1) ^ rotbytes(v(u2), 3), so (a, b, c) and (b, a, c) differ: byte p
# of it takes byte p of u0, byte p+1 of u1 and byte p+3 of u2.
_ROTATIONS = (0, 1, 3)


def simhash_unsigned(text: str) -> int:
    """64-bit simhash (0 <= h < 2**64) of the 3-grams of ``text`` (pass normalised text).

    Features are the 3-grams of UTF-16 code units (= characters for all of CJK), each weighing 1. Written for
    CPython speed: no per-character Python code. The byte planes of the per-unit values come from
    ``bytes.translate``; they are combined into the byte planes of the 3-gram hashes with big-integer shifts
    and XORs (one 8-bit lane per 3-gram), and bit ``8p + b`` of the simhash is the majority of bit ``b`` over
    plane ``p``, counted with ``int.bit_count``. About 0.1 ms per 1,000 characters.
    """
    if not text:
        return 0
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) < 2 * SHINGLE:
        units = units.ljust(2 * SHINGLE, b"\x00")
    shingles = len(units) // 2 - SHINGLE + 1
    low, high = units[0::2], units[1::2]
    planes = [int.from_bytes(low.translate(_LOW[p]), "little") ^ int.from_bytes(high.translate(_HIGH[p]), "little")
              for p in range(8)]
    keep = (1 << (8 * shingles)) - 1
    ones = int.from_bytes(b"\x01" * shingles, "little")
    bit_masks = [ones << b for b in range(8)]
    result = 0
    for p in range(8):
        plane = planes[p]
        for k in range(1, SHINGLE):  # unit i+k lands in lane i: shift right by k lanes of 8 bits
            plane ^= planes[(p + _ROTATIONS[k]) % 8] >> (8 * k)
        plane &= keep
        for b, mask in enumerate(bit_masks):
            if 2 * (plane & mask).bit_count() > shingles:
                result |= 1 << (8 * p + b)
    return result


def to_signed64(value: int) -> int:
    """The unsigned 64-bit value as a signed int64 (what MongoDB and SQLite store)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned64(value: int) -> int:
    return value & _MASK64


def simhash(text: str) -> int:
    """Signed int64 simhash of already-normalised text."""
    return to_signed64(simhash_unsigned(text))


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & _MASK64).bit_count()


# ---------------------------------------------------------------------------------------------------------
# Banded index
# ---------------------------------------------------------------------------------------------------------


class SimhashIndex:
    """Near-duplicate lookup over many simhashes, banded: ``max_distance + 1`` bands (at least 4).

    Two hashes at most ``max_distance`` bits apart agree exactly on at least one of ``max_distance + 1``
    disjoint bands (pigeonhole), so a lookup reads one bucket per band. The default (3) gives 4 bands of 16
    bits: at 100k uniformly spread documents a bucket holds ~1.5 entries, so a lookup is a handful of
    comparisons. Larger distances mean more, narrower bands and fuller buckets (6 -> 7 bands of 9-10 bits,
    ~150 entries per bucket at 100k).
    """

    def __init__(self, max_distance: int = MAX_DISTANCE) -> None:
        if not 0 <= max_distance <= 15:
            raise ValueError(f"max_distance must be between 0 and 15, not {max_distance}")
        self.max_distance = max_distance
        count = max(4, max_distance + 1)
        widths = [64 // count + (1 if i < 64 % count else 0) for i in range(count)]
        shifts = [sum(widths[:i]) for i in range(count)]
        self._bands_spec = [(shift, (1 << width) - 1) for shift, width in zip(shifts, widths, strict=True)]
        # Buckets hold distinct hash values, and each value maps to the ids that have it: a site serving the
        # same body under thousands of URLs makes one long id list, not thousands of comparisons per lookup.
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(count)]
        self._ids: dict[int, list[str]] = {}  # hash -> ids in insertion order
        self._hash: dict[str, int] = {}  # id -> hash
        self._seq: dict[str, int] = {}  # id -> insertion order, to prefer the earliest on a tie

    def __len__(self) -> int:
        return len(self._hash)

    def _bands(self, value: int) -> list[int]:
        return [(value >> shift) & mask for shift, mask in self._bands_spec]

    def add(self, _id: str, value: int) -> None:
        value = to_unsigned64(value)
        old = self._hash.get(_id)
        if old == value:
            return
        if old is not None:
            self._discard(_id, old)
        self._hash[_id] = value
        self._seq.setdefault(_id, len(self._seq))
        ids = self._ids.get(value)
        if ids is not None:
            ids.append(_id)
            return
        self._ids[value] = [_id]
        for bucket, band in zip(self._buckets, self._bands(value), strict=True):
            bucket.setdefault(band, []).append(value)

    def _discard(self, _id: str, value: int) -> None:
        ids = self._ids[value]
        ids.remove(_id)
        if not ids:
            del self._ids[value]
            for bucket, band in zip(self._buckets, self._bands(value), strict=True):
                bucket[band].remove(value)

    def nearest(self, value: int, exclude: str | None = None) -> str | None:
        """The _id closest to ``value`` within max_distance (earliest added on a tie), else None."""
        value = to_unsigned64(value)
        best: tuple[int, int] | None = None  # (distance, insertion order)
        best_id = None
        for bucket, band in zip(self._buckets, self._bands(value), strict=True):
            for other in bucket.get(band, ()):
                distance = (other ^ value).bit_count()
                if distance > self.max_distance:
                    continue
                ids = self._ids[other]
                candidate = ids[0] if ids[0] != exclude else (ids[1] if len(ids) > 1 else None)
                if candidate is None:
                    continue
                key = (distance, self._seq[candidate])
                if best is None or key < best:
                    best, best_id = key, candidate
        return best_id


# ---------------------------------------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------------------------------------


def fingerprint(title: str | None, body: str | None, attachments_text: str = "",
                sha1s: Iterable[str] = ()) -> tuple[str, int, int]:
    """(content_hash, signed simhash, length of the normalised text): the pure part of the pipeline.

    ``attachments_text`` (the attachments' text) joins the body for the simhash and the length; ``sha1s`` (the
    stored attachment files) join the content hash, so a changed file is a changed article. Without
    attachments both are exactly what they were before attachments were downloaded.
    """
    norm_title, norm_body = normalize_for_hash(title), normalize_for_hash(body)
    hashed = norm_title + "\n" + norm_body
    sha1s = sorted(sha1s)
    if sha1s:
        hashed += "\n" + "\n".join(sha1s)
    digest = hashlib.sha1(hashed.encode("utf-8")).hexdigest()
    if attachments_text:
        norm_body += normalize_for_hash(attachments_text)
    return digest, to_signed64(simhash_unsigned(norm_title + norm_body)), len(norm_body)


def _is_spam(value: Any) -> bool:
    return bool(isinstance(value, Mapping) and value.get("is_spam"))


FingerprintSource = Callable[[], Iterable[tuple[str, int]]]


def store_fingerprints(crawler: Any) -> Iterable[tuple[str, int]]:
    """(_id, simhash) of the stored articles, from the crawl's shared store (storage.Store.iter_fingerprints)."""
    try:
        from gongkai_spider.storage import store_for_crawler
    except ImportError:
        store_for_crawler = None
    if store_for_crawler is not None:
        yield from store_for_crawler(crawler).iter_fingerprints("articles")
        return
    from gongkai_spider.storage import open_store

    store = open_store(crawler.settings)
    try:
        yield from store.iter_fingerprints("articles")
    finally:
        store.close()


class DedupPipeline:
    """Sets content_hash, simhash and near_duplicate_of; never drops."""

    def __init__(self, stats: Stats | None = None, max_distance: int = MAX_DISTANCE, min_chars: int = MIN_CHARS,
                 fingerprints: FingerprintSource | None = None) -> None:
        self.stats = stats if stats is not None else CounterStats()
        self.min_chars = min_chars
        self.index = SimhashIndex(max_distance)
        self._fingerprints = fingerprints

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupPipeline:
        settings = crawler.settings
        source = None
        if settings.getbool("GONGKAI_DEDUP_LOAD_INDEX", True) and not settings.getbool("GONGKAI_READ_ONLY"):
            def source() -> Iterable[tuple[str, int]]:
                return store_fingerprints(crawler)
        return cls(crawler.stats, max_distance=settings.getint("GONGKAI_NEAR_DUP_DISTANCE", MAX_DISTANCE),
                   min_chars=settings.getint("GONGKAI_NEAR_DUP_MIN_CHARS", MIN_CHARS), fingerprints=source)

    def open_spider(self) -> None:
        """Load the stored fingerprints; a store that cannot be read is logged and the run goes on."""
        if self._fingerprints is None:
            return
        loaded = 0
        try:
            for _id, value in self._fingerprints():
                if _id and value is not None:
                    self.index.add(str(_id), int(value))
                    loaded += 1
        except Exception:
            self.stats.inc_value("gongkai/dedup/index_error")
            logger.warning("near-duplicate index: could not read stored fingerprints (%d loaded); "
                           "continuing without the rest", loaded, exc_info=True)
        self.stats.set_value("gongkai/dedup/index_loaded", loaded)

    def process_item(self, item: Any) -> Any:
        adapter = fields(item)
        digest, signed, body_chars = fingerprint(adapter.get("title"), adapter.get("body"),
                                                 attachment_text(adapter), attachment_sha1s(adapter))
        adapter["content_hash"] = digest
        adapter["simhash"] = signed
        near = None
        _id = adapter.get("_id")
        if body_chars >= self.min_chars:
            near = self.index.nearest(signed, exclude=_id)
            if _id and not _is_spam(adapter.get("spam")):
                self.index.add(_id, signed)
        adapter["near_duplicate_of"] = near
        if near is not None:
            self.stats.inc_value("gongkai/dedup/near_duplicate")
            logger.debug("near duplicate: %s of %s", adapter.get("url"), near)
        return item
