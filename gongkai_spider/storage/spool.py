"""Outage safety: batches the store cannot take now go to a local spool and are replayed later.

When MongoDB is unreachable (at open, or a bulk write fails mid-run), ``StorePipeline`` appends the batch
to a JSONL file in its store's folder under ``GONGKAI_SPOOL_DIR`` (default ``data/spool/``): one line per document,
``{"collection", "now", "doc"}`` in MongoDB Extended JSON, so datetimes and int64 survive exactly. The
spool is replayed at the next flush of the same run and when the next run opens the store. Replay is an
upsert keyed by ``_id`` with the original crawl time (``now``), so a batch that was half written before the
failure, or replayed twice, ends up stored once, with the same stamps; nothing is lost or duplicated.

One folder per store, ``store-<digest>/`` with the store's identity in ``store.json`` (``base.mongo_identity``:
scheme, hosts and database, no credentials; ``base.sqlite_identity``: the file's absolute path): a run replays only
the folder of its own store, so batches meant for one MongoDB never land in another store. Spool files left
directly in ``GONGKAI_SPOOL_DIR`` (written before per-store folders) are not replayed: move them into their
store's folder.

Files: ``spool-<time>-<pid>-<rand>.jsonl`` (pending; one per process, so workers sharing a folder never
write the same file), ``*.claimed-<pid>`` (being replayed; given back when replay fails or its process
died), ``rejected-*.jsonl`` (documents the store refused as bad data, with the error; never replayed:
inspect and delete them by hand).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage.base import OUTCOMES, Store, as_shanghai, is_outage, is_unusable, prepare_doc

logger = logging.getLogger(__name__)


def _json_options():
    from bson.json_util import JSONMode, JSONOptions

    return JSONOptions(json_mode=JSONMode.CANONICAL, tz_aware=True, tzinfo=SHANGHAI)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def upsert_or_reject(store: Store, docs: list[dict], collection: str, now: datetime,
                     on_reject: Callable[[dict, BaseException], None],
                     outcomes: dict[str, str] | None = None) -> dict[str, int]:
    """``store.upsert_many`` that isolates bad documents instead of failing the whole batch.

    Outages and an unusable store propagate (the caller spools). Any other error retries the batch one document
    at a time and
    hands each document that still fails to ``on_reject``, so one bad document never blocks the others.
    """
    try:
        return store.upsert_many(docs, collection, now=now, outcomes=outcomes)
    except Exception as exc:
        if is_outage(exc) or is_unusable(exc):
            raise
        logger.warning("store: batch of %d for %s failed (%r); retrying one by one", len(docs), collection, exc)
    counts: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    for doc in docs:
        try:
            counts.update(store.upsert_many([doc], collection, now=now, outcomes=outcomes))
        except Exception as exc:
            if is_outage(exc) or is_unusable(exc):
                raise
            on_reject(doc, exc)
            counts["rejected"] += 1
            if outcomes is not None and doc.get("_id"):
                outcomes[doc["_id"]] = "rejected"
    return {k: v for k, v in counts.items() if k in OUTCOMES or v}


IDENTITY_FILE = "store.json"


def store_folder(root: str | Path, identity: dict[str, str]) -> Path:
    """The spool folder of the store ``identity`` under ``root``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return Path(root) / f"store-{digest}"


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.strip())


def spool_summary(root: str | Path) -> list[dict[str, Any]]:
    """Every spool folder under ``root`` with documents waiting: {dir, store (identity or None), pending}.

    ``store`` None: files directly in ``root``, from before per-store folders (never replayed by themselves).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder in [root, *sorted(p for p in root.glob("store-*") if p.is_dir())]:
        pending = sum(_count_lines(p) for p in folder.glob("spool-*.jsonl*"))  # pending and being replayed
        if not pending:
            continue
        identity = None
        if folder != root:
            try:
                identity = json.loads((folder / IDENTITY_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                identity = {"unknown": folder.name}
        out.append({"dir": str(folder), "store": identity, "pending": pending})
    return out


class Spool:
    """Append-only JSONL spool; see the module docstring.

    ``identity`` given: the folder of that store under ``directory`` (``store_folder``); else ``directory`` itself.
    """

    def __init__(self, directory: str | Path, identity: dict[str, str] | None = None) -> None:
        self.root = Path(directory)
        self.identity = identity
        self.directory = store_folder(directory, identity) if identity else self.root
        self._file: IO[str] | None = None
        self._path: Path | None = None

    def _make_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.identity is not None:
            marker = self.directory / IDENTITY_FILE
            if not marker.exists():
                marker.write_text(json.dumps(self.identity, ensure_ascii=False, sort_keys=True) + "\n",
                                  encoding="utf-8")

    def legacy_files(self) -> list[Path]:
        """Spool files directly in the root, written before per-store folders: not replayed by any store."""
        if self.identity is None or not self.root.is_dir():
            return []
        return sorted(self.root.glob("spool-*.jsonl"))

    def _identity_matches(self) -> bool:
        if self.identity is None:
            return True
        try:
            stored = json.loads((self.directory / IDENTITY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            stored = None
        if stored != self.identity:
            logger.error("spool: %s belongs to %s, not to this store %s; not replayed",
                         self.directory, stored, self.identity)
            return False
        return True

    # -- writing --------------------------------------------------------------------------------------

    def _new_name(self, prefix: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        return self.directory / f"{prefix}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"

    def append(self, collection: str, docs: list[dict], now: datetime) -> int:
        """Write ``docs`` (to be stored in ``collection`` at crawl time ``now``); flushed to disk on return."""
        from bson import json_util

        if not docs:
            return 0
        if self._file is None:
            self._make_directory()
            self._path = self._new_name("spool")
            self._file = self._path.open("a", encoding="utf-8")
        options, now = _json_options(), as_shanghai(now)
        # prepare_doc escapes `$` keys first: Extended JSON would read them as type wrappers.
        lines = [json_util.dumps({"collection": collection, "now": now, "doc": prepare_doc(doc)},
                                 json_options=options, ensure_ascii=False) + "\n" for doc in docs]
        self._file.writelines(lines)
        self._file.flush()
        os.fsync(self._file.fileno())
        return len(docs)

    def reject(self, collection: str, doc: dict, error: BaseException) -> None:
        """Keep a document the store refused as bad data, with the error, for a human to look at."""
        from bson import json_util

        self._make_directory()
        record: dict[str, Any] = {"collection": collection, "error": repr(error)}
        try:
            record["doc"] = prepare_doc(doc)
            line = json_util.dumps(record, json_options=_json_options(), ensure_ascii=False)
        except Exception:  # not even serialisable: keep what we can
            line = json_util.dumps({**record, "doc": repr(doc)}, json_options=_json_options(), ensure_ascii=False)
        path = self.directory / f"rejected-{time.strftime('%Y%m%d')}-{os.getpid()}.jsonl"
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        logger.error("store: rejected %s for %s (%r); kept in %s", doc.get("_id"), collection, error, path)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._path = None, None

    # -- reading --------------------------------------------------------------------------------------

    def _pending_files(self) -> list[Path]:
        if not self.directory.is_dir() or not self._identity_matches():
            return []
        files = [p for p in self.directory.glob("spool-*.jsonl") if p != self._path]
        for claimed in self.directory.glob("spool-*.jsonl.claimed-*"):  # left by a replay that died
            pid = claimed.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                original = claimed.with_name(claimed.name.split(".claimed-")[0])
                os.replace(claimed, original)
                files.append(original)
        return sorted(files)

    def pending(self) -> int:
        """Documents waiting in the spool (all processes' files in the folder)."""
        self.close()
        return sum(_count_lines(path) for path in self._pending_files())

    def _read(self, path: Path) -> Iterator[tuple[str, datetime, dict]]:
        from bson import json_util

        options = _json_options()
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json_util.loads(line, json_options=options)
                except ValueError:  # a line cut short by a crash while writing
                    logger.error("spool: unreadable line %d of %s skipped", number, path)
                    continue
                yield record["collection"], record["now"], record["doc"]

    def replay(self, store: Store, batch_size: int = 200, outcomes: dict[str, str] | None = None,
               sites: dict[str, Any] | None = None,
               route: Callable[[str, list[dict]], dict[str, list[dict]]] | None = None) -> dict[str, int]:
        """Upsert every spooled document into ``store``; return counts (new/updated/unchanged/replayed).

        ``outcomes`` and ``sites``, when given, receive _id -> outcome and _id -> site of each document.
        ``route``, when given, decides the collection of each spooled batch again now that the store answers
        (``(collection, docs) -> {collection: docs}``): a batch spooled during an outage was never checked
        against what the store holds (pipelines/store.py keeps a page out of both collections at once).

        A file is deleted only after all its documents are stored. On an outage the file is given back
        and the error raised: the next replay starts it again (upserts, so the repeat is harmless).
        """
        self.close()  # our own file is replayed too
        totals: Counter[str] = Counter(dict.fromkeys((*OUTCOMES, "replayed"), 0))
        for path in self._pending_files():
            claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
            try:
                os.replace(path, claimed)
            except FileNotFoundError:  # another worker took it
                continue
            try:
                for collection, now, docs in self._batches(claimed, batch_size):
                    routed = route(collection, docs) if route is not None else {collection: docs}
                    for target, group in routed.items():
                        if group:
                            counts = upsert_or_reject(store, group, target, now,
                                                      lambda d, e, c=target: self.reject(c, d, e), outcomes)
                            totals.update(counts)
                    totals["replayed"] += len(docs)
                    if sites is not None:
                        sites.update((d["_id"], d.get("site")) for d in docs)
            except BaseException:
                os.replace(claimed, path)
                raise
            claimed.unlink()
            logger.info("spool: replayed %s", path.name)
        return dict(totals)

    def _batches(self, path: Path, batch_size: int) -> Iterator[tuple[str, datetime, list[dict]]]:
        key, batch = None, []
        for collection, now, doc in self._read(path):
            if batch and ((collection, now) != key or len(batch) >= batch_size):
                yield key[0], key[1], batch
                batch = []
            key = (collection, now)
            batch.append(doc)
        if batch:
            yield key[0], key[1], batch
