"""Dedup pipeline: content fingerprints and near-duplicate detection.

Every item gets
- ``content_hash``: sha1 hex of ``normalize_for_hash(title) + "\\n" + normalize_for_hash(body)``, followed by
  ``"\\n"`` and the sorted sha1s of the stored attachment files when there are any (a changed file is a new
  version; pages without files keep their hash); the store
  compares it to decide new / updated / unchanged, so this normalisation must never change silently.
- ``simhash``: 64-bit simhash of the character 3-grams of the normalised title + body + attachment text, as a
  SIGNED int64
  (MongoDB and SQLite integers are signed).
- ``simhash2``: a second simhash of the same 3-grams with other hash tables (independent of the first), signed.
- ``near_duplicate_of``: the ``_id`` of a stored or earlier-seen article that this one copies, else None.
  Nothing is dropped: near copies (the same notice reposted on several portals) stay, marked.

Normalisation (``normalize_for_hash``): every whitespace character removed, zero-width characters removed,
NFKC (full-width ``，：（`` become ``,:(``). Only the text matters, not its layout.

A near duplicate takes three steps. (1) Candidates: articles whose simhash is within ``max_distance`` bits
(default 6, ``GONGKAI_NEAR_DUP_DISTANCE``), from SimhashIndex (pipelines/simhash_index.py): the stored
articles' hashes (read from the store's (simhash, simhash2) index, values only, from ``open_spider`` on) plus
this run's items. (2) In memory: a candidate whose ``simhash2`` is more than ``MAX_SECOND_DISTANCE`` (10) bits away
is refused; one stored without a ``simhash2`` (before it existed) goes on to the text. (3) The content check:
the Jaccard similarity of the character 3-gram sets of both normalised texts must reach ``min_similarity``
(default 0.6, ``GONGKAI_NEAR_DUP_SIMILARITY``); the candidate's text comes from this run's recent items or,
for the few hashes that matched, from the store (``store.dedup_texts``). Spam is looked up, never indexed.
Texts whose normalised body is shorter than ``min_chars`` (default 100, ``GONGKAI_NEAR_DUP_MIN_CHARS``) are
neither looked up nor indexed: a one-line "详见附件" body says nothing about whether two notices are the same.

Why both steps (measured with benchmarks/near_dups.py on notices generated from the demo portal's phrase
tables, bodies of 150-800 characters): templated notices of one office are as close as 2-3 bits of 64
(at 60k articles a 3-bit match alone marked 53 of them, none a copy), while a copy with 5 edited characters
is more than 3 bits away in 44% of cases. Simhash alone cannot separate the two; text can: distinct
notices within 10 bits have 3-gram Jaccard <= 0.45, copies with <= 20 edits >= 0.57, with <= 5 edits >= 0.83.
So the hash is a wide net (6 bits: 96% of 1-5-edit copies are candidates) and the Jaccard check at 0.6
decides. Result on 3,000 notices + 6,000 copies and reposts: precision 1.0, recall 0.96 for 1-5 edits;
over 60,000 demo articles: 5,494 candidates, all refused, no article marked.

Why the second fingerprint: at a million stored templated notices almost two of them lie within 6 bits of any
new one by chance, and reading each one's text from the store to refuse it cost more than the rest of the stage.
Two texts that are really close are close on any simhash; a chance collision on the first is no closer than
chance on the second. Measured on the candidates within 6 bits: copies with <= 5 edits are within 10 bits on
the second hash in 99.5% of cases, reposts in 96%, chance candidates among demo articles in 3%. The text check
still confirms whatever passes, so precision does not depend on it.

Hashing cost: about 0.1 ms per 1,000 characters on one core (``simhash_unsigned``); both fingerprints in one
pass (``simhash_pair_unsigned``) about 1.9 times that.

Stats: ``gongkai/dedup/near_duplicate``, ``gongkai/dedup/rejected_candidate`` (simhash candidates the text
check refused), ``gongkai/dedup/rejected_fingerprint`` (simhash candidates the second fingerprint refused, no
text read), ``gongkai/dedup/index_loaded`` (fingerprints read from the store; set when the load ends, absent
when the crawl closed before any item needed them), ``gongkai/dedup/index_error`` (the store could not be
read; the run continues without the stored fingerprints, and says so in a warning).

Loading at a 1M-document store takes about 0.01-0.04 s when the SQLite store has its binary snapshot of the
pairs (gongkai_spider/storage/simhash_snapshot.py; 0.02 s to read) and the sorted index of the last load in
the file beside it (``StoreCandidates.index_file``, ``SimhashIndex.save``: mapped, not sorted again, when it
holds exactly the pairs read); 0.1-0.25 s when the bands must be sorted (no file yet, or more than
``_FILE_TAIL`` rows written since it: the load then writes it anew, about 0.2 s for 80 MB); about 0.3 s more
when the pairs must be read from the rows (the first run on a store of an older release). When
the store can open a second connection to itself (SQLite: ``reopener``) the load runs in a thread of its own
from ``open_spider``, so the crawl starts meanwhile; the first item that needs the index waits for the rest
(blocking the reactor that once), and a crawl that closes first stops it. Otherwise (MongoDB) it runs in
``open_spider``.

In a crawl with extraction workers on an SQLite store the stored side moves out of the crawl's process
(``WorkerLookup``): each worker loads the stored fingerprints itself and answers, with each article page it
extracts, which stored articles the page near-duplicates (probe, second fingerprint, text check); the crawl's
dedup stage looks the item up among this run's items and takes the better of both. Articles whose text the
worker did not see (several pages, attachment text joined) are sent to a worker for their lookup
(``gongkai/dedup/asked_workers``). At a 1M-document store this took the bucket probes and the text reads
(about 0.5 s of the crawl thread's CPU per 5,000 pages) off the thread that bounds a crawl's pace
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gongkai_spider.stats import CounterStats, Stats
from pipelines.common import attachment_sha1s, attachment_text, fields

if TYPE_CHECKING:
    from pipelines.simhash_index import SimhashIndex

logger = logging.getLogger(__name__)

MAX_DISTANCE = 6
MIN_CHARS = 100
MIN_SIMILARITY = 0.6
# Second-fingerprint bits beyond which a simhash candidate is refused without reading its text (measured with
# benchmarks/near_dups.py: of the candidates within 6 bits, 99.5% of copies with <= 5 edits and 96% of reposts
# are within 10 bits on the second hash, 3% of chance candidates among demo articles).
MAX_SECOND_DISTANCE = 10
NO_SECOND = 0  # second fingerprint of a document stored without one (older stores): never refuses
MAX_CONFIRMED = 16  # simhash candidates whose text is compared, per item (nearest first)
TEXT_CACHE = 4096  # normalised texts of this run's items kept for the content check
SHINGLE = 3
MAX_INDEX_DISTANCE = 11  # the banded index finds every hash within this many bits (pipelines/simhash_index.py)
_MASK64 = (1 << 64) - 1


def __getattr__(name: str) -> Any:
    # SimhashIndex needs numpy, which fingerprints alone (gongkai extract) do not: imported on first use.
    if name == "SimhashIndex":
        from pipelines.simhash_index import SimhashIndex

        return SimhashIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
_TABLES = (_LOW, _HIGH)
# The second fingerprint's tables: other pseudo-random bytes, so its bits are other random hyperplanes over the
# same 3-grams. Two unrelated texts that collide on the first hash are no closer than chance on the second.
_TABLES2 = (tuple(_table(f"second-low{p}") for p in range(8)), tuple(_table(f"second-high{p}") for p in range(8)))


def simhash_unsigned(text: str) -> int:
    """64-bit simhash (0 <= h < 2**64) of the 3-grams of ``text`` (pass normalised text).

    Features are the 3-grams of UTF-16 code units (= characters for all of CJK), each weighing 1. Written for
    CPython speed: no per-character Python code. The byte planes of the per-unit values come from
    ``bytes.translate``; they are combined into the byte planes of the 3-gram hashes with big-integer shifts
    and XORs (one 8-bit lane per 3-gram), and bit ``8p + b`` of the simhash is the majority of bit ``b`` over
    plane ``p``, counted with ``int.bit_count``. About 0.1 ms per 1,000 characters.
    """
    return _simhashes(text, (_TABLES,))[0]


def simhash_pair_unsigned(text: str) -> tuple[int, int]:
    """(simhash, second simhash) of ``text``: the same 3-grams hashed with two independent table sets.

    The second value is the in-memory check that refuses chance candidates (templated notices whose first
    hashes happen to lie within a few bits) without reading their text from the store. One pass: the text is
    encoded and split once.
    """
    if text and "numpy" in sys.modules:  # the crawl, where the index has imported numpy: 2-3x faster
        first, second = _simhash_pair_numpy(text)
    else:  # gongkai extract and other one-page uses, which must not pay numpy's import for one page
        first, second = _simhashes(text, (_TABLES, _TABLES2))
    return first, second


_NUMPY_TABLES: Any = None


def _numpy_tables() -> Any:
    """(per-unit values of both table sets, 65536 x 2 uint64; the plane offsets; the 256 x 8 bit matrix)."""
    global _NUMPY_TABLES
    if _NUMPY_TABLES is None:
        import numpy as np

        units = np.arange(65536)

        def values(lows: tuple[bytes, ...], highs: tuple[bytes, ...]) -> Any:
            low = np.frombuffer(b"".join(lows), np.uint8).reshape(8, 256)
            high = np.frombuffer(b"".join(highs), np.uint8).reshape(8, 256)
            planes = low[:, units & 255] ^ high[:, units >> 8]  # byte p of v(u), for every unit u
            return np.ascontiguousarray(planes.T).view("<u8").ravel()

        bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # bit b of each byte value
        _NUMPY_TABLES = (np.stack([values(*_TABLES), values(*_TABLES2)], axis=1),
                         (np.arange(16) * 256).astype(np.uint16), bits)
    return _NUMPY_TABLES


def _simhash_pair_numpy(text: str) -> tuple[int, int]:
    """``_simhashes(text, (_TABLES, _TABLES2))`` computed with numpy (the same values; tests compare them):
    per-unit values looked up for both table sets at once, the 3-gram hashes by rotating bytes of 64-bit
    words, and each bit's majority from one bincount of the 16 byte planes times the byte-to-bits matrix."""
    import numpy as np

    table, offsets, bits = _numpy_tables()
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), "<u2")
    if len(units) < SHINGLE:
        units = np.concatenate([units, np.zeros(SHINGLE - len(units), "<u2")])
    values = table[units]
    second, third = values[1:-1], values[2:]
    # byte p of a 3-gram's hash: byte p of u0, byte p+1 of u1, byte p+3 of u2 (_ROTATIONS)
    hashes = (values[:-2] ^ ((second >> np.uint64(8)) | (second << np.uint64(56)))
              ^ ((third >> np.uint64(24)) | (third << np.uint64(40))))
    shingles = hashes.shape[0]
    planes = hashes.view(np.uint8).reshape(shingles, 16) + offsets  # 8 byte planes per table set
    counts = np.bincount(planes.ravel(), minlength=16 * 256).reshape(16, 256) @ bits
    packed = np.packbits(counts * 2 > shingles, axis=1, bitorder="little").tobytes()
    return int.from_bytes(packed[:8], "little"), int.from_bytes(packed[8:], "little")


def _simhashes(text: str, table_sets: tuple[tuple[tuple[bytes, ...], tuple[bytes, ...]], ...]) -> list[int]:
    if not text:
        return [0] * len(table_sets)
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) < 2 * SHINGLE:
        units = units.ljust(2 * SHINGLE, b"\x00")
    shingles = len(units) // 2 - SHINGLE + 1
    low, high = units[0::2], units[1::2]
    keep = (1 << (8 * shingles)) - 1
    ones = int.from_bytes(b"\x01" * shingles, "little")
    bit_masks = [ones << b for b in range(8)]
    results = []
    for lows, highs in table_sets:
        planes = [int.from_bytes(low.translate(lows[p]), "little") ^ int.from_bytes(high.translate(highs[p]), "little")
                  for p in range(8)]
        result = 0
        for p in range(8):
            plane = planes[p]
            for k in range(1, SHINGLE):  # unit i+k lands in lane i: shift right by k lanes of 8 bits
                plane ^= planes[(p + _ROTATIONS[k]) % 8] >> (8 * k)
            plane &= keep
            for b, mask in enumerate(bit_masks):
                if 2 * (plane & mask).bit_count() > shingles:
                    result |= 1 << (8 * p + b)
        results.append(result)
    return results


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
# Content check
# ---------------------------------------------------------------------------------------------------------


def shingles(text: str) -> set[str]:
    """The character 3-grams of normalised text (the simhash's features, as a set)."""
    return {text[i:i + SHINGLE] for i in range(max(len(text) - SHINGLE + 1, 1))}


def similarity(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two shingle sets."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


# ---------------------------------------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------------------------------------


def _fingerprint(title: str | None, body: str | None, attachments_text: str = "",
                 sha1s: Iterable[str] = (), computed: Any = None) -> tuple[str, int, int, str, int]:
    """(content_hash, signed simhash, normalised body length, normalised text, signed second fingerprint).

    ``computed``: ``page_fingerprint`` of the page's title and body, worked out elsewhere (the extraction
    worker). Its simhashes are taken when the content hash comes out the same and nothing joins the text:
    the same hash means the same normalised title and body (no whitespace is left in them to blur where the
    title ends), so the same text and the same simhashes, without hashing its 3-grams again."""
    norm_title, norm_body = normalize_for_hash(title), normalize_for_hash(body)
    hashed = norm_title + "\n" + norm_body
    sha1s = sorted(sha1s)
    if sha1s:
        hashed += "\n" + "\n".join(sha1s)
    digest = hashlib.sha1(hashed.encode("utf-8")).hexdigest()
    if attachments_text:
        norm_body += normalize_for_hash(attachments_text)
    text = norm_title + norm_body
    if _reusable(computed, digest, attachments_text, sha1s):
        first, second = computed[1], computed[2]
    else:
        first, second = simhash_pair_unsigned(text)
    return digest, to_signed64(first), len(norm_body), text, to_signed64(second)


def _reusable(computed: Any, digest: str, attachments_text: str, sha1s: Iterable[str]) -> bool:
    """Whether ``computed`` (a ``page_fingerprint``) holds for an article of this content hash: nothing joined
    the page's own title and body, and the hash is the same."""
    return (not attachments_text and not sha1s and isinstance(computed, (tuple, list)) and len(computed) == 3
            and computed[0] == digest)


def page_fingerprint(title: str | None, body: str | None) -> tuple[str, int, int]:
    """(content hash, signed simhash, signed second simhash) of a page's own title and body, for
    ``_fingerprint``'s ``computed``."""
    digest, first, _chars, _text, second = _fingerprint(title, body)
    return digest, first, second


def fingerprint(title: str | None, body: str | None, attachments_text: str = "",
                sha1s: Iterable[str] = ()) -> tuple[str, int, int]:
    """(content_hash, signed simhash, length of the normalised text): the pure part of the pipeline.

    ``attachments_text`` (the attachments' text) joins the body for the simhash, the near-duplicate text and
    the length; ``sha1s`` (the stored attachment files) join the content hash, so a changed file is a changed
    article. Without attachments all are exactly what they were before attachments were downloaded.
    """
    return _fingerprint(title, body, attachments_text, sha1s)[:3]


def fingerprint_fields(title: str | None, body: str | None, attachments_text: str = "",
                       sha1s: Iterable[str] = ()) -> dict[str, Any]:
    """The stored fingerprint fields (``content_hash``, ``simhash``, ``simhash2``) of an article."""
    digest, first, _chars, _text, second = _fingerprint(title, body, attachments_text, sha1s)
    return {"content_hash": digest, "simhash": first, "simhash2": second}


def _is_spam(value: Any) -> bool:
    return bool(isinstance(value, Mapping) and value.get("is_spam"))


class CandidateSource(Protocol):
    """What the pipeline reads from the store: hashes at start, and the text of the few that match.

    A source may also offer ``simhash_reader()``: None, or a function returning a context manager that opens
    a connection of its own, gives the same pairs as ``simhashes()`` in blocks (flat int64 arrays
    ``simhash, simhash2, simhash, ...``: ``SimhashIndex.load_blocks``) and closes it on leaving, usable from
    another thread (the pipeline then loads the index in a thread of its own; see StoreCandidates).
    """

    def simhashes(self) -> Iterable[tuple[int, int]]: ...  # (simhash, simhash2 or NO_SECOND)
    def texts(self, *, ids: Iterable[str] = (), simhashes: Iterable[int] = ()) -> list[tuple[str, int, str, str]]: ...


SimhashReader = Callable[[], AbstractContextManager[Iterable[Any]]]  # blocks: numpy int64 arrays
# (text, simhash, second) -> WorkerLookups.look_up's answer, or None: the spider's ``stored_near``
AskWorkers = Callable[[str, int, int], Awaitable["tuple | None"]]


class StoreCandidates:
    """CandidateSource on the crawl's shared store (``store.iter_simhashes`` / ``store.dedup_texts``), or on
    ``store`` (an extraction worker's own connection)."""

    def __init__(self, crawler: Any = None, *, store: Any = None) -> None:
        self.crawler = crawler
        self.store = store

    def _store(self) -> Any:
        if self.store is not None:
            return self.store
        from gongkai_spider.storage import store_for_crawler

        return store_for_crawler(self.crawler)

    def simhashes(self) -> Iterable[tuple[int, int]]:
        return self._store().iter_simhash_pairs("articles")

    def index_file(self) -> Path | None:
        """Where the store keeps the sorted index of its fingerprints between runs (``SimhashIndex.save``), or
        None (``fingerprint_index_path``: MongoDB, an in-memory SQLite file)."""
        where = getattr(self._store(), "fingerprint_index_path", None)
        return where() if callable(where) else None

    def simhash_reader(self) -> SimhashReader | None:
        """``simhashes()`` on another connection to the store, for a thread of its own, in blocks
        (``SimhashIndex.load_blocks``); None when the store cannot open one (``reopener``: MongoDB, an
        in-memory SQLite file)."""
        reopener = getattr(self._store(), "reopener", None)
        opener = reopener() if callable(reopener) else None
        if opener is None:
            return None

        @contextmanager
        def blocks() -> Iterator[Iterable[Any]]:
            from pipelines.simhash_index import pair_blocks

            store = opener()
            try:
                scan = getattr(store, "scan_simhash_blocks", None)
                yield scan("articles") if scan is not None else pair_blocks(store.iter_simhash_pairs("articles"))
            finally:
                store.close()

        return blocks

    def texts(self, *, ids: Iterable[str] = (), simhashes: Iterable[int] = ()) -> list[tuple[str, int, str, str]]:
        """(_id, simhash, title, body) of the candidates; the body followed by the text of the article's
        attachments when it has some (the simhash was computed over both, so the confirmation compares both).
        One query: the attachments come with the title and body, never the whole document."""
        rows = self._store().dedup_texts("articles", ids=list(ids), simhashes=list(simhashes))
        out = []
        for _id, value, title, body, attachments in rows:
            extra = attachment_text({"attachments": attachments}) if attachments else ""
            out.append((_id, value, title, f"{body or ''}\n{extra}" if extra else body))
        return out


class _IndexLoad:
    """The stored fingerprints read into an index by a thread of its own (sqlite3 releases the GIL while it
    steps, numpy while it sorts): the crawl starts meanwhile. ``wait()`` joins it; ``wait(stop=True)`` first
    asks it to give up (the crawl is closing and no item needed the index)."""

    def __init__(self, index: SimhashIndex, reader: SimhashReader, file: Path | None = None) -> None:
        self.loaded: int | None = 0  # None: stopped
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(index, reader, file), name="gongkai-dedup-index",
                                        daemon=True)
        self._thread.start()

    def _run(self, index: SimhashIndex, reader: SimhashReader, file: Path | None) -> None:
        started = time.perf_counter()
        try:
            with reader() as blocks:
                self.loaded = index.load_blocks(blocks, stop=self._stop, file=file)
        except BaseException as exc:  # handed to the reactor's thread by wait()
            self.error = exc
        if file is not None and self.loaded:
            save_index_file(index, file)
        self.seconds = time.perf_counter() - started

    def wait(self, *, stop: bool = False) -> None:
        if stop:
            self._stop.set()
        self._thread.join()


def save_index_file(index: SimhashIndex, file: Path) -> None:
    """The index's sorted bands written to ``file`` for the next run's load (``SimhashIndex.save``), when they
    were sorted here; a failure (a read-only folder, a full disk) is logged, the run goes on."""
    try:
        if index.save(file):
            logger.debug("near-duplicate index: %d stored fingerprints sorted into %s", len(index), file)
    except OSError as exc:
        logger.warning("near-duplicate index: could not write %s (%s); the next run sorts the fingerprints again",
                       file, exc)


class DedupPipeline:
    """Sets content_hash, simhash and near_duplicate_of; never drops.

    ``near_duplicate_of`` is set only when a simhash candidate (within ``max_distance`` bits) is confirmed
    by its text: the Jaccard similarity of the 3-gram sets of both normalised texts is at least
    ``min_similarity``. Candidates are confirmed nearest first, at most ``MAX_CONFIRMED`` per item; the
    most similar confirmed one wins (ties: the nearer hash, then the earlier seen).

    ``near_duplicates=False``: fingerprints only (no index, ``near_duplicate_of`` always None), for a
    document processed alone (pipelines.offline: nothing to compare it with). The index is built on first
    use, so numpy is imported only by a pipeline that looks something up.

    ``ask_workers`` (the crawl's extraction workers look texts up among the stored articles: ``WorkerLookup``):
    the stored fingerprints are not loaded here, and this process looks items up among this run's items only.
    An item brings the lookup its worker made of the page (``_page_stored_near``); one whose text no worker saw
    (an article of several pages, attachment text joined) is looked up by a worker now: ``ask_workers(text,
    simhash, second)``, awaited (``process_item`` then returns a coroutine). When that gives None (the workers
    given up, a worker that could not read the store), the stored fingerprints are loaded here after all, and
    from then on every lookup is made here, as without workers.
    """

    def __init__(self, stats: Stats | None = None, max_distance: int = MAX_DISTANCE, min_chars: int = MIN_CHARS,
                 *, min_similarity: float = MIN_SIMILARITY, store: CandidateSource | None = None,
                 max_second_distance: int = MAX_SECOND_DISTANCE, near_duplicates: bool = True,
                 ask_workers: AskWorkers | None = None) -> None:
        if not 0 <= max_distance <= MAX_INDEX_DISTANCE:
            raise ValueError(f"max_distance must be between 0 and {MAX_INDEX_DISTANCE}, not {max_distance}")
        self.stats = stats if stats is not None else CounterStats()
        self.max_distance = max_distance
        self.min_chars = min_chars
        self.max_second_distance = max_second_distance
        self.min_similarity = min_similarity
        self.near_duplicates = near_duplicates
        self._index: SimhashIndex | None = None
        self._load: _IndexLoad | None = None
        self._store = store
        self._ask_workers = ask_workers if store is not None else None
        # Normalised texts of this run's recent items: most candidates among them need no store read.
        self._texts: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupPipeline:
        settings = crawler.settings
        store = None
        if settings.getbool("GONGKAI_DEDUP_LOAD_INDEX", True) and not settings.getbool("GONGKAI_READ_ONLY"):
            store = StoreCandidates(crawler)
        # The spider's extraction workers look texts up among the stored articles when it gave them a WorkerLookup
        # (the spider is built before the pipelines).
        spider = getattr(crawler, "spider", None)
        ask = spider.stored_near if getattr(spider, "dedup_in_workers", False) else None
        return cls(crawler.stats, max_distance=settings.getint("GONGKAI_NEAR_DUP_DISTANCE", MAX_DISTANCE),
                   min_chars=settings.getint("GONGKAI_NEAR_DUP_MIN_CHARS", MIN_CHARS),
                   min_similarity=settings.getfloat("GONGKAI_NEAR_DUP_SIMILARITY", MIN_SIMILARITY), store=store,
                   ask_workers=ask)

    @property
    def index(self) -> SimhashIndex:
        """This run's and the stored fingerprints; waits for the stored ones while they are loading."""
        if self._load is not None:
            self._finish_load()
        if self._index is None:
            from pipelines.simhash_index import SimhashIndex

            self._index = SimhashIndex(self.max_distance)
        return self._index

    def open_spider(self) -> None:
        """Load the stored fingerprints: in a thread of its own when the store can open a second connection
        (the first lookup waits for it), else here. A store that cannot be read is logged, the run goes on.
        Not at all when the extraction workers look texts up among the stored articles (``ask_workers``)."""
        if self._store is None or not self.near_duplicates or self._ask_workers is not None:
            return
        self._load_here()

    def _load_here(self) -> None:
        assert self._store is not None
        index = self.index  # built here, on the reactor's thread, before any thread uses it
        try:
            make_reader = getattr(self._store, "simhash_reader", None)
            reader = make_reader() if callable(make_reader) else None
            if reader is not None:
                index_file = getattr(self._store, "index_file", None)
                self._load = _IndexLoad(index, reader, index_file() if callable(index_file) else None)
                return
            loaded = index.load(self._store.simhashes())
        except Exception as exc:
            self._load_failed(exc)
            loaded = 0
        self.stats.set_value("gongkai/dedup/index_loaded", loaded)

    def close_spider(self) -> None:
        """A load still running is stopped (no item needs the index any more) and waited for."""
        self._finish_load(stop=True)

    def _finish_load(self, *, stop: bool = False) -> None:
        load, self._load = self._load, None
        if load is None:
            return
        started = time.monotonic()
        load.wait(stop=stop)
        if not stop:  # how long the first item that needed the index waited for the rest of the load
            self.stats.set_value("gongkai/dedup/index_wait_ms", round(1000 * (time.monotonic() - started)))
        if load.error is not None:
            self._load_failed(load.error)
            self.stats.set_value("gongkai/dedup/index_loaded", 0)
        elif load.loaded is None:
            logger.debug("near-duplicate index: load stopped, the crawl closed before an item needed it")
        else:
            logger.debug("near-duplicate index: %d stored fingerprints loaded in %.2f s", load.loaded, load.seconds)
            self.stats.set_value("gongkai/dedup/index_loaded", load.loaded)

    def _load_failed(self, exc: BaseException) -> None:
        from gongkai_spider.storage.base import is_outage, is_unusable, one_line

        self.stats.inc_value("gongkai/dedup/index_error")
        known = is_outage(exc) or is_unusable(exc)  # the store pipeline reports those; a traceback adds nothing
        logger.warning("near-duplicate index: could not read stored fingerprints (none loaded; %s); "
                       "continuing without them", one_line(exc), exc_info=None if known else exc)

    def _remember(self, _id: str, text: str) -> None:
        self._texts[_id] = text
        self._texts.move_to_end(_id)
        if len(self._texts) > TEXT_CACHE:
            self._texts.popitem(last=False)

    def _candidate_texts(self, found: list[tuple[int, int]], own_id: Any) -> list[tuple[int, int, str, str]]:
        """(distance, order, _id, normalised text) of the candidates, read from the run or the store."""
        out: list[tuple[int, int, str, str]] = []
        missing_ids: dict[str, tuple[int, int]] = {}
        by_value: dict[int, int] = {}  # unsigned value -> distance, for hashes known by value only
        index = self.index
        for distance, row in found:
            _id = index.id_of(row)
            if _id is None:
                by_value.setdefault(index.value_of(row), distance)
            elif _id in self._texts:
                out.append((distance, row, _id, self._texts[_id]))
            else:
                missing_ids[_id] = (distance, row)
        if (missing_ids or by_value) and self._store is not None:
            try:
                rows = self._store.texts(ids=missing_ids, simhashes=[to_signed64(v) for v in by_value])
            except Exception:
                self.stats.inc_value("gongkai/dedup/index_error")
                logger.warning("near-duplicate check: could not read candidate texts", exc_info=True)
                rows = []
            seen = {c[2] for c in out}
            for _id, value, title, body in rows:
                if _id == own_id or _id in seen:
                    continue
                seen.add(_id)
                if _id in missing_ids:
                    distance, order = missing_ids[_id]
                else:  # a stored hash: older than anything of this run
                    distance, order = by_value.get(to_unsigned64(value), self.max_distance), -1
                out.append((distance, order, _id, normalize_for_hash(title) + normalize_for_hash(body)))
        return out

    def _confirmed(self, text: str, found: list[tuple[int, int]], second: int,
                   own_id: Any) -> list[tuple[float, int, int, str]]:
        """(similarity, distance, order, _id) of the simhash candidates ``found`` that pass the second
        fingerprint and the text check; the refused ones counted."""
        index = self.index
        # Chance candidates (templated notices a few bits apart) are refused here, in memory; only those close on
        # the second fingerprint too (or stored without one) have their text compared, nearest first.
        close = [c for c in found if index.second_close(c[1], second, self.max_second_distance)]
        if len(close) < len(found):
            self.stats.inc_value("gongkai/dedup/rejected_fingerprint", len(found) - len(close))
        candidates = self._candidate_texts(close[:MAX_CONFIRMED], own_id) if close else []
        if not candidates:
            return []
        mine = shingles(text)
        confirmed = []
        for distance, order, _id, other in candidates:
            score = similarity(mine, shingles(other))
            if score < self.min_similarity:
                self.stats.inc_value("gongkai/dedup/rejected_candidate")
            else:
                confirmed.append((score, distance, order, _id))
        return confirmed

    def stored_matches(self, text: str, simhash: int, second: int) -> list[tuple[float, int, str]]:
        """(similarity, distance, _id) of the stored articles that ``text`` near-duplicates: what an extraction
        worker's pipeline (``WorkerLookup``, which holds the stored fingerprints alone) hands the crawl's."""
        return [(score, distance, _id) for score, distance, _order, _id
                in self._confirmed(text, self.index.candidates(simhash), second, None)]

    def _from_worker(self, stored: tuple[int | None, int, int, list], own_id: Any) -> list[tuple[float, int, int, str]]:
        """``_page_stored_near`` (``WorkerLookup.page``) as ``_confirmed`` gives candidates, its counts added."""
        loaded, refused_fingerprint, refused_text, matches = stored
        if refused_fingerprint:
            self.stats.inc_value("gongkai/dedup/rejected_fingerprint", refused_fingerprint)
        if refused_text:
            self.stats.inc_value("gongkai/dedup/rejected_candidate", refused_text)
        if loaded is not None:
            self.stats.set_value("gongkai/dedup/index_loaded", loaded)
        # a stored article is older than anything of this run (order -1), as in _candidate_texts
        return [(score, distance, -1, _id) for score, distance, _id in matches if _id != own_id]

    def process_item(self, item: Any) -> Any:
        adapter = fields(item)
        attachments, sha1s = attachment_text(adapter), attachment_sha1s(adapter)
        computed = adapter.get("_page_fingerprint")
        digest, signed, body_chars, text, second = _fingerprint(adapter.get("title"), adapter.get("body"),
                                                                attachments, sha1s, computed)
        adapter["content_hash"] = digest
        adapter["simhash"] = signed
        adapter["simhash2"] = second
        if body_chars < self.min_chars or not self.near_duplicates:
            return self._decided(adapter, item, None)
        stored = None
        if self._ask_workers is not None:
            # the page's lookup is of its own title and body: only when that is what was hashed here
            stored = adapter.get("_page_stored_near") if _reusable(computed, digest, attachments, sha1s) else None
            if stored is None:
                return self._asking_workers(adapter, item, text, signed, second)
        return self._decided(adapter, item, self._near(adapter, text, signed, second, stored))

    async def _asking_workers(self, adapter: Any, item: Any, text: str, signed: int, second: int) -> Any:
        assert self._ask_workers is not None
        self.stats.inc_value("gongkai/dedup/asked_workers")
        stored = await self._ask_workers(text, signed, second)
        if stored is None and self._ask_workers is not None:
            self._ask_workers = None
            logger.info("near-duplicate index: the extraction workers could not look %s up among the stored "
                        "articles; the stored fingerprints are loaded here and looked up here from now on",
                        adapter.get("url"))
            self._load_here()
        return self._decided(adapter, item, self._near(adapter, text, signed, second, stored))

    def _near(self, adapter: Any, text: str, signed: int, second: int, stored: tuple | None) -> str | None:
        """The item's near_duplicate_of; the item joins this run's index."""
        _id = adapter.get("_id")
        index = self.index
        found = index.candidates(signed, exclude=_id)
        confirmed = self._confirmed(text, found, second, _id) if found else []
        if stored is not None and self._ask_workers is not None:  # else the index here holds the stored ones
            confirmed += self._from_worker(stored, _id)
        if _id and not _is_spam(adapter.get("spam")):
            index.add(_id, signed, second)
            self._remember(_id, text)
        if not confirmed:
            return None
        return min(confirmed, key=lambda c: (-c[0], c[1], c[2]))[3]  # the most similar; then nearer, then older

    def _decided(self, adapter: Any, item: Any, near: str | None) -> Any:
        adapter["near_duplicate_of"] = near
        if near is not None:
            self.stats.inc_value("gongkai/dedup/near_duplicate")
            logger.debug("near duplicate: %s of %s", adapter.get("url"), near)
        return item


@dataclass(frozen=True)
class WorkerLookup:
    """The stored articles' side of the near-duplicate lookup, made by an extraction worker (its own process)
    instead of the crawl's thread. Picklable: the worker gets it at start (gongkai_spider/extract_workers.py).

    The worker holds the stored fingerprints in an index of its own, loaded from the SQLite file on a
    connection of its own, and for each article page returns, with the page's fingerprint, the stored articles
    it near-duplicates and what it refused: the bucket probe, the second-fingerprint filter and the reads of
    the candidates' texts all leave the crawl's thread, whose pace bounds a crawl's (docs/PERFORMANCE.md). The
    crawl's DedupPipeline (``ask_workers``) then looks the item up among this run's items only.

    Only for an SQLite file (``gongkai_spider.storage.sqlite_file``): another process can open it, and its
    readers never wait for the crawl's writer (WAL).
    """

    db: str
    max_distance: int = MAX_DISTANCE
    min_chars: int = MIN_CHARS
    min_similarity: float = MIN_SIMILARITY

    @classmethod
    def from_crawler(cls, crawler: Any) -> WorkerLookup | None:
        """The crawl's lookup for its workers; None when its dedup stage loads no stored fingerprints, the
        store is not an SQLite file, or ``GONGKAI_DEDUP_IN_WORKERS`` is off."""
        from gongkai_spider.storage import sqlite_file

        settings = crawler.settings
        if (not settings.getbool("GONGKAI_DEDUP_IN_WORKERS", True) or not settings.getbool("GONGKAI_DEDUP_LOAD_INDEX", True)
                or settings.getbool("GONGKAI_READ_ONLY")):
            return None
        db = sqlite_file(settings)
        if db is None:
            return None
        return cls(db, max_distance=settings.getint("GONGKAI_NEAR_DUP_DISTANCE", MAX_DISTANCE),
                   min_chars=settings.getint("GONGKAI_NEAR_DUP_MIN_CHARS", MIN_CHARS),
                   min_similarity=settings.getfloat("GONGKAI_NEAR_DUP_SIMILARITY", MIN_SIMILARITY))

    def open(self) -> WorkerLookups:
        """In the worker: the store opened and its fingerprints loading (in a thread; the first page waits)."""
        return WorkerLookups(self)


class WorkerLookups:
    """A worker's side of ``WorkerLookup``: a DedupPipeline on the store's fingerprints alone."""

    def __init__(self, lookup: WorkerLookup) -> None:
        from gongkai_spider.storage.sqlite import SQLiteStore

        self.min_chars = lookup.min_chars
        self.stats = CounterStats()
        self.pipeline: DedupPipeline | None = None
        try:
            store = SQLiteStore(lookup.db)
        except Exception as exc:  # the crawl's own pipeline looks the pages up (and reports what is wrong)
            logger.warning("near-duplicate lookups in the extraction worker: cannot open %s (%s)", lookup.db, exc)
            return
        self.pipeline = DedupPipeline(self.stats, lookup.max_distance, lookup.min_chars,
                                      min_similarity=lookup.min_similarity, store=StoreCandidates(store=store))
        self.pipeline.open_spider()

    def page(self, title: str | None, body: str | None) -> tuple[tuple[str, int, int], tuple | None]:
        """(``page_fingerprint``, ``look_up`` of its text) of a page the worker extracted."""
        digest, first, chars, text, second = _fingerprint(title, body)
        if chars < self.min_chars:  # as the crawl's dedup stage, which looks such a text up nowhere
            return (digest, first, second), (None, 0, 0, [])
        return (digest, first, second), self.look_up(text, first, second)

    def look_up(self, text: str, simhash: int, second: int) -> tuple | None:
        """The lookup of a normalised text among the stored articles, for ``_page_stored_near``: (stored
        fingerprints loaded, candidates refused by the second fingerprint, refused by the text check,
        [(similarity, distance, _id) of the stored articles confirmed]). None when the store could not be read:
        the crawl's pipeline then looks the item up itself."""
        pipeline = self.pipeline
        if pipeline is None:
            return None
        stats = self.stats
        errors = stats.get_value("gongkai/dedup/index_error", 0)
        refused = (stats.get_value("gongkai/dedup/rejected_fingerprint", 0),
                   stats.get_value("gongkai/dedup/rejected_candidate", 0))
        matches = pipeline.stored_matches(text, simhash, second)
        if stats.get_value("gongkai/dedup/index_error", 0) != errors:  # the load or a text read failed
            if stats.get_value("gongkai/dedup/index_loaded") == 0:  # the load: no later page can be looked up
                self.pipeline = None
            return None
        return (stats.get_value("gongkai/dedup/index_loaded"),
                stats.get_value("gongkai/dedup/rejected_fingerprint", 0) - refused[0],
                stats.get_value("gongkai/dedup/rejected_candidate", 0) - refused[1], matches)
