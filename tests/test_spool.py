"""Outage safety: spooled batches survive, replay stores each document exactly once, bad data is set aside."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, ServerSelectionTimeoutError
from test_store_backends import BACKENDS, T0, T1, doc, drop_store, make_store

from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage.base import StoreUnavailable, is_outage
from gongkai_spider.storage.mongo import MongoStore
from gongkai_spider.storage.spool import Spool


class FlakyStore:
    """Wraps a real store; its next ``failures`` upserts raise AutoReconnect, optionally after writing
    the first half of the batch (an unordered bulk write that died half way)."""

    def __init__(self, inner, failures: int = 0, *, partial: bool = False, bad_ids: tuple[str, ...] = ()) -> None:
        self.inner, self.failures, self.partial, self.bad_ids = inner, failures, partial, bad_ids
        self.calls = 0

    def upsert_many(self, docs, collection="articles", *, now=None, outcomes=None):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            if self.partial:
                self.inner.upsert_many(docs[: len(docs) // 2], collection, now=now)
            raise AutoReconnect("simulated: connection reset by peer")
        if any(d["_id"] in self.bad_ids for d in docs):
            raise ValueError("simulated: document the server refuses")
        return self.inner.upsert_many(docs, collection, now=now, outcomes=outcomes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)


def test_spool_preserves_documents_exactly(tmp_path, store):
    spool = Spool(tmp_path / "spool")
    original = doc(1, publish_time=datetime(2024, 5, 24, 1, 14, 0, 250000, tzinfo=UTC), simhash=-(2**63),
                   doc_meta={"$x": "a.b"}, _page_signals={"html_title": "x"})
    assert spool.append("quarantine", [original], T0) == 1
    assert spool.pending() == 1
    counts = spool.replay(store)
    assert counts == {"new": 1, "updated": 0, "unchanged": 0, "replayed": 1}
    stored = store.get("quarantine", "id0001")
    assert stored["publish_time"] == datetime(2024, 5, 24, 9, 14, 0, 250000, tzinfo=SHANGHAI)
    assert stored["simhash"] == -(2**63)
    assert stored["doc_meta"] == {"＄x": "a.b"}
    assert "_page_signals" not in stored
    assert stored["first_seen"] == T0  # the crawl time, not the replay time
    assert spool.pending() == 0 and not list((tmp_path / "spool").iterdir())


def test_replay_after_outage_loses_and_duplicates_nothing(tmp_path, store):
    spool = Spool(tmp_path / "spool")
    store.upsert_many([doc(1)], now=T0)
    spool.append("articles", [doc(1, content_hash="changed"), *[doc(i) for i in range(2, 12)]], T1)
    flaky = FlakyStore(store, failures=2, partial=True)  # dies half way through, twice
    for _ in range(2):
        with pytest.raises(AutoReconnect):
            spool.replay(flaky, batch_size=4)
        assert spool.pending() == 11  # the file is given back whole
    counts = spool.replay(flaky, batch_size=4)
    assert counts["replayed"] == 11
    assert store.count("articles") == 11
    assert [d["_id"] for d in store.iter_docs("articles")] == [f"id{i:04d}" for i in range(1, 12)]
    one = store.get("articles", "id0001")
    assert (one["content_hash"], one["version"], one["first_seen"]) == ("changed", 2, T0)  # bumped once, not twice
    assert all(d["version"] == 1 and d["first_seen"] == T1 for d in store.iter_docs("articles") if d["_id"] != "id0001")
    assert spool.pending() == 0
    assert spool.replay(store) == {"new": 0, "updated": 0, "unchanged": 0, "replayed": 0}


def test_bad_documents_are_set_aside_not_replayed_forever(tmp_path, store):
    spool = Spool(tmp_path / "spool")
    spool.append("articles", [doc(1), doc(2), doc(3)], T0)
    counts = spool.replay(FlakyStore(store, bad_ids=("id0002",)))
    assert counts == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 1, "replayed": 3}
    assert spool.pending() == 0
    rejected = list((tmp_path / "spool").glob("rejected-*.jsonl"))
    assert len(rejected) == 1
    record = json.loads(rejected[0].read_text(encoding="utf-8"))
    assert record["doc"]["_id"] == "id0002" and "ValueError" in record["error"]


def test_cut_line_and_dead_claims(tmp_path, store):
    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.append("articles", [doc(1), doc(2)], T0)
    spool.close()
    (path,) = directory.glob("spool-*.jsonl")
    with path.open("a", encoding="utf-8") as f:
        f.write('{"collection": "articles", "now": {"$da')  # the process died mid-line
    # a replay by a process that has died since left its claim behind
    dead_pid = 2**22 + 12345
    path.rename(path.with_name(f"{path.name}.claimed-{dead_pid}"))
    assert Spool(directory).replay(store)["replayed"] == 2
    assert store.count("articles") == 2
    assert not list(directory.iterdir())


def test_outage_classification():
    assert is_outage(AutoReconnect("x"))
    assert is_outage(ServerSelectionTimeoutError("x"))
    dup = {"writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000"}], "writeConcernErrors": []}
    assert not is_outage(BulkWriteError(dup))
    other = {"writeErrors": [{"index": 0, "code": 11600, "errmsg": "interrupted at shutdown"}], "writeConcernErrors": []}
    assert is_outage(BulkWriteError(other))
    assert not is_outage(ValueError("x"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mongodb_raises_an_outage_quickly(tmp_path):
    """Real pymongo against a closed local port: the error the pipeline spools on."""
    store = MongoStore(f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true", "gongkai",
                       server_selection_timeout_ms=300, retry_seconds=60)
    started = datetime.now()
    with pytest.raises(ServerSelectionTimeoutError) as info:
        store.upsert_many([doc(1)], now=T0)
    assert is_outage(info.value)
    assert datetime.now() - started < timedelta(seconds=5)
    # circuit breaker: while it is known to be down, other users of the store fail at once
    started = datetime.now()
    with pytest.raises(StoreUnavailable, match="ServerSelectionTimeoutError"):
        store.existing_ids(["id0001"])
    with pytest.raises(StoreUnavailable):
        list(store.iter_fingerprints())
    assert datetime.now() - started < timedelta(seconds=0.2)
    store.retry_seconds, store._down_until = 0, 0.0  # breaker off: each call tries the server again
    with pytest.raises(ServerSelectionTimeoutError):
        store.count("articles")
    store.close()


def test_spool_files_are_per_process(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("articles", [doc(1)], T0)
    (path,) = (tmp_path / "spool").glob("spool-*.jsonl")
    assert f"-{os.getpid()}-" in path.name
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["collection"] == "articles" and first["now"] == {"$date": {"$numberLong": str(int(T0.timestamp() * 1000))}}
