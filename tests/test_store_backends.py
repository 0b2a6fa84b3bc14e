"""The Store protocol: the same tests against SQLite, MongoDB via mongomock-ng, and a real MongoDB server
when TEST_MONGO_URI is set (otherwise that backend is skipped with the reason)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage import open_store
from gongkai_spider.storage.mongo import MongoStore
from gongkai_spider.storage.sqlite import SQLiteStore

BACKENDS = [
    "sqlite",
    "mongomock",
    pytest.param("mongo", marks=pytest.mark.skipif(not os.environ.get("TEST_MONGO_URI"),
                                                   reason="TEST_MONGO_URI not set: no MongoDB server")),
]

T0 = datetime(2024, 6, 1, 10, 0, 0, tzinfo=SHANGHAI)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


def make_store(kind: str, tmp_path):
    """A fresh, empty store of ``kind``; the caller closes it (and drops a real server's database)."""
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "db" / "gongkai.sqlite3")
    if kind == "mongomock":
        import mongomock_ng

        return MongoStore("mongodb://mock", "gongkai_test", client_factory=mongomock_ng.MongoClient)
    store = MongoStore(os.environ["TEST_MONGO_URI"], f"gongkai_test_{uuid.uuid4().hex[:12]}",
                       server_selection_timeout_ms=3000)
    store.ensure_ready()
    return store


def drop_store(store) -> None:
    if isinstance(store, MongoStore) and store.uri == os.environ.get("TEST_MONGO_URI"):
        store._client.drop_database(store.database_name)
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)


def doc(n: int = 1, **overrides) -> dict:
    """A cleaned document as the dedup pipeline hands it to the store."""
    base = {
        "_id": f"id{n:04d}",
        "url": f"http://www.example.gov.cn/art/2024/6/1/art_{n}.html",
        "site": "example",
        "list_url": "http://www.example.gov.cn/col/col1/index.html",
        "title": f"关于开展第{n}次安全检查的通知",
        "publish_time": datetime(2024, 5, 24, 9, 14, tzinfo=SHANGHAI),
        "read_count": None,
        "author": "办公室",
        "source": "市应急管理局",
        "summary": None,
        "keywords": ["安全", "检查"],
        "body": "第一段。\n第二段。",
        "attachments": [{"name": "附件1.pdf", "url": "http://www.example.gov.cn/att/1.pdf"}],
        "doc_meta": {"index_no": "11330100002489/2024-00018", "issuer": "市应急管理局"},
        "spam": {"is_spam": False, "score": 0.0, "reasons": []},
        "content_hash": f"hash{n}",
        "simhash": -(n * 7919),
        "raw": {"title": f"关于开展第{n}次安全检查的通知_市应急管理局", "publish_time": "2024-05-24 09:14"},
    }
    base.update(overrides)
    return base


def without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# -- upsert semantics -------------------------------------------------------------------------------------


def test_new_document_is_stored_with_stamps(store):
    assert store.upsert_many([doc(1)], now=T0) == {"new": 1, "updated": 0, "unchanged": 0}
    stored = store.get("articles", "id0001")
    assert without(stored, "first_seen", "last_seen", "updated_at", "version") == doc(1)
    assert stored["first_seen"] == stored["last_seen"] == stored["updated_at"] == T0
    assert stored["version"] == 1
    assert list(stored)[:3] == ["_id", "url", "site"]  # schema order in both backends


def test_same_content_again_only_moves_last_seen(store):
    store.upsert_many([doc(1)], now=T0)
    # read_count ticked up, but content_hash is the same: nothing but last_seen changes
    counts = store.upsert_many([doc(1, read_count=99)], now=T1)
    assert counts == {"new": 0, "updated": 0, "unchanged": 1}
    stored = store.get("articles", "id0001")
    assert stored["last_seen"] == T1
    assert stored["first_seen"] == stored["updated_at"] == T0
    assert stored["version"] == 1
    assert stored["read_count"] is None


def test_changed_content_replaces_fields_and_bumps_version(store):
    store.upsert_many([doc(1, near_duplicate_of="id0999")], now=T0)
    changed = without(doc(1, title="关于开展安全检查的通知（更正）", content_hash="hash1b"), "near_duplicate_of")
    assert store.upsert_many([changed], now=T1) == {"new": 0, "updated": 1, "unchanged": 0}
    stored = store.get("articles", "id0001")
    assert stored["title"] == "关于开展安全检查的通知（更正）"
    assert "near_duplicate_of" not in stored  # fields replaced: keys the new version lacks are gone
    assert (stored["version"], stored["first_seen"], stored["updated_at"], stored["last_seen"]) == (2, T0, T1, T1)
    store.upsert_many([doc(1, content_hash="hash1c")], now=T2)
    assert store.get("articles", "id0001")["version"] == 3


def test_mixed_batch_counts_and_repeated_ids(store):
    store.upsert_many([doc(1), doc(2)], now=T0)
    batch = [doc(1), doc(2, content_hash="changed"), doc(3), doc(3), doc(4), doc(4, content_hash="v2")]
    outcomes: dict[str, str] = {}
    counts = store.upsert_many(batch, now=T1, outcomes=outcomes)
    # doc 3 twice with the same content: new then unchanged; doc 4: new then updated within one batch
    assert counts == {"new": 2, "updated": 2, "unchanged": 2}
    assert outcomes == {"id0001": "unchanged", "id0002": "updated", "id0003": "unchanged", "id0004": "updated"}
    assert store.count("articles") == 4
    four = store.get("articles", "id0004")
    assert (four["content_hash"], four["first_seen"], four["updated_at"]) == ("v2", T1, T1)


def test_documents_without_content_hash_compare_field_by_field(store):
    plain = without(doc(1), "content_hash")
    store.upsert_many([plain], now=T0)
    assert store.upsert_many([plain], now=T1)["unchanged"] == 1
    assert store.upsert_many([{**plain, "body": "新正文"}], now=T2)["updated"] == 1


def test_url_is_unique(store):
    store.upsert_many([doc(1)], now=T0)
    clash = doc(2, url=doc(1)["url"])
    outcomes: dict[str, str] = {}
    counts = store.upsert_many([clash, doc(3)], now=T1, outcomes=outcomes)
    assert counts == {"new": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert outcomes == {"id0002": "rejected", "id0003": "new"}
    assert store.get("articles", "id0002") is None
    assert store.get("articles", "id0001")["title"] == doc(1)["title"]
    assert store.count("articles") == 2


def test_url_clash_inside_one_batch(store):
    """Two new documents with one url in the same batch: the first is stored, the second rejected, and the
    rows written with it are all there (SQLite inserts a batch's new rows in one statement, redone row by row
    when one of them breaks the constraint)."""
    url = doc(1)["url"]
    outcomes: dict[str, str] = {}
    counts = store.upsert_many([doc(1), doc(2, url=url), doc(3)], now=T0, outcomes=outcomes)
    assert counts == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert outcomes == {"id0001": "new", "id0002": "rejected", "id0003": "new"}
    assert store.get("articles", "id0002") is None
    assert sorted(d["_id"] for d in store.iter_docs("articles")) == ["id0001", "id0003"]
    if isinstance(store, SQLiteStore):
        assert sorted(i for i, _score in store.search_ids(["安全检查"])) == ["id0001", "id0003"]


def test_url_clash_beside_an_update_keeps_the_update(store):
    """A batch redone row by row after a url clash still updates its stored documents in place."""
    store.upsert_many([doc(1), doc(4)], now=T0)
    rowid = store._conn.execute("SELECT rowid FROM articles WHERE _id='id0004'").fetchone()[0] \
        if isinstance(store, SQLiteStore) else None
    outcomes: dict[str, str] = {}
    changed = {**doc(4), "body": "新正文", "content_hash": "h4b"}
    counts = store.upsert_many([doc(2, url=doc(1)["url"]), changed], now=T1, outcomes=outcomes)
    assert counts == {"new": 0, "updated": 1, "unchanged": 0, "rejected": 1}
    assert outcomes == {"id0002": "rejected", "id0004": "updated"}
    assert store.get("articles", "id0004")["body"] == "新正文"
    assert store.count("articles") == 2
    if isinstance(store, SQLiteStore):
        assert store._conn.execute("SELECT rowid FROM articles WHERE _id='id0004'").fetchone()[0] == rowid


def test_stale_replay_never_overwrites_newer_data(store):
    store.upsert_many([doc(1, content_hash="new")], now=T2)
    assert store.upsert_many([doc(1, content_hash="old")], now=T1) == {"new": 0, "updated": 0, "unchanged": 1}
    stored = store.get("articles", "id0001")
    assert (stored["content_hash"], stored["last_seen"]) == ("new", T2)


# -- values -----------------------------------------------------------------------------------------------


def test_datetimes_round_trip_tz_aware(store):
    utc_given = datetime(2024, 5, 24, 1, 14, 30, 123456, tzinfo=UTC)
    naive = datetime(2024, 5, 25, 8, 0)  # taken as Shanghai time, like normalize.parse_datetime
    extra = {"checked": [datetime(2023, 1, 2, 3, 4, 5, tzinfo=SHANGHAI)]}
    store.upsert_many([doc(1, publish_time=utc_given, extra=extra, raw={"publish_time": "2024-05-24T09:14:00+08:00"}),
                       doc(2, publish_time=naive)], now=T0)
    one, two = store.get("articles", "id0001"), store.get("articles", "id0002")
    assert one["publish_time"] == datetime(2024, 5, 24, 9, 14, 30, 123000, tzinfo=SHANGHAI)  # ms precision
    assert one["publish_time"].utcoffset() == timedelta(hours=8)
    assert one["extra"] == extra and one["extra"]["checked"][0].utcoffset() == timedelta(hours=8)
    assert one["raw"]["publish_time"] == "2024-05-24T09:14:00+08:00"  # a date-like string stays a string
    assert two["publish_time"] == datetime(2024, 5, 25, 8, 0, tzinfo=SHANGHAI)
    assert one["first_seen"].tzinfo is not None


def test_dollar_and_dot_keys_are_escaped_the_same_way(store):
    meta = {"$where": "1", "发文.字号": "浙政办〔2024〕3号", "nested": {"a.b": [{"$gt": 1}]}}
    store.upsert_many([doc(1, doc_meta=meta, **{"odd.top": 1})], now=T0)
    stored = store.get("articles", "id0001")
    assert stored["doc_meta"] == {"＄where": "1", "发文．字号": "浙政办〔2024〕3号", "nested": {"a．b": [{"＄gt": 1}]}}
    assert stored["odd．top"] == 1
    # and what the database itself holds has no `$` or `.` in any key
    if isinstance(store, MongoStore):
        raw = store._db["articles"].find_one({"_id": "id0001"})
    else:
        raw = json.loads(store._conn.execute("SELECT doc FROM articles").fetchone()[0])

    def keys(value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from keys(v)
        elif isinstance(value, list):
            for v in value:
                yield from keys(v)

    assert not [k for k in keys(raw) if "$" in k or "." in k]


def test_simhash_keeps_the_signed_64_bit_range(store):
    store.upsert_many([doc(1, simhash=-(2**63), simhash2=2**63 - 1), doc(2, simhash=2**63 - 1, simhash2=-(2**63)),
                       doc(3, simhash=None), doc(4, simhash=5)], now=T0)
    assert sorted(store.iter_fingerprints()) == [("id0001", -(2**63)), ("id0002", 2**63 - 1), ("id0004", 5)]
    assert store.get("articles", "id0001")["simhash"] == -(2**63)
    assert store.get("articles", "id0001")["simhash2"] == 2**63 - 1
    # a document without a second fingerprint (written before it existed) pairs with 0
    assert sorted(store.iter_simhash_pairs()) == [(-(2**63), 2**63 - 1), (5, 0), (2**63 - 1, -(2**63))]


def test_simhash2_follows_an_update(store):
    store.upsert_many([doc(1, simhash=3, simhash2=4)], now=T0)
    store.upsert_many([doc(1, simhash=3, simhash2=6, body="改过的正文。", content_hash="changed")], now=T0 + timedelta(hours=1))
    assert list(store.iter_simhash_pairs()) == [(3, 6)]


def test_dedup_texts_by_id_and_by_simhash(store):
    files = [{"name": "名单.xlsx", "url": "http://www.example.gov.cn/att/2.xlsx", "text": "名单正文"},
             {"name": "说明.pdf", "url": "http://www.example.gov.cn/att/3.pdf", "text": "说明正文"}]
    store.upsert_many([doc(1, simhash=-5), doc(2, simhash=7, attachments=[]), doc(3, simhash=7, attachments=files),
                       doc(4, simhash=9)], now=T0)
    by_value = sorted(store.dedup_texts(simhashes=[7, 8]))
    assert [(r[0], r[1]) for r in by_value] == [("id0002", 7), ("id0003", 7)]
    assert by_value[0][2:] == (doc(2)["title"], doc(2)["body"], None)  # no attachments: none read
    assert [a["text"] for a in by_value[1][4]] == ["名单正文", "说明正文"]  # in the same query as the text
    assert [r[0] for r in store.dedup_texts(ids=["id0001", "nope"])] == ["id0001"]
    assert len(store.dedup_texts(simhashes=[7], limit=1)) == 1
    assert store.dedup_texts() == []


# -- reads ------------------------------------------------------------------------------------------------


def test_iter_docs_since_filters_on_publish_time(store):
    days = [datetime(2024, 5, d, 23, 30, tzinfo=SHANGHAI) for d in (20, 21, 22)]
    store.upsert_many([doc(i, publish_time=t) for i, t in enumerate(days)] + [doc(9, publish_time=None)], now=T0)
    assert [d["_id"] for d in store.iter_docs("articles")] == ["id0000", "id0001", "id0002", "id0009"]
    assert [d["_id"] for d in store.iter_docs("articles", since=date(2024, 5, 21))] == ["id0001", "id0002"]
    # a datetime in UTC: 2024-05-21 15:30Z is 23:30 Shanghai
    since = datetime(2024, 5, 21, 15, 30, tzinfo=UTC)
    assert [d["_id"] for d in store.iter_docs("articles", since=since)] == ["id0001", "id0002"]
    assert list(store.iter_docs("quarantine")) == []


def test_counts_ids_and_site_summary(store):
    store.upsert_many([doc(1), doc(2, site="other", publish_time=datetime(2024, 6, 3, tzinfo=SHANGHAI)), doc(3)],
                      now=T0)
    store.upsert_many([doc(4, spam={"is_spam": True, "score": 3.0, "reasons": ["brand"]})], "quarantine", now=T1)
    assert store.count("articles") == 3 and store.count("quarantine") == 1
    assert store.count_by_site("articles") == {"example": 2, "other": 1}
    assert store.existing_ids(["id0001", "id0004", "nope", "id0001"]) == {"id0001"}
    assert store.existing_ids(["id0004"], "quarantine") == {"id0004"}
    assert store.existing_ids([]) == set()
    assert store.site_summary("articles") == {
        "example": {"count": 2, "newest_publish_time": datetime(2024, 5, 24, 9, 14, tzinfo=SHANGHAI), "last_seen": T0},
        "other": {"count": 1, "newest_publish_time": datetime(2024, 6, 3, tzinfo=SHANGHAI), "last_seen": T0},
    }


def test_existing_ids_in_large_chunks(store):
    store.upsert_many([doc(i) for i in range(50)], now=T0)
    wanted = [f"id{i:04d}" for i in range(2500)]
    assert store.existing_ids(wanted) == {f"id{i:04d}" for i in range(50)}


def test_move_and_delete(store):
    spam = doc(1, spam={"is_spam": True, "score": 2.0, "reasons": ["brand_in_title"]})
    store.upsert_many([spam], "quarantine", now=T0)
    assert store.move("id0001", "quarantine", "articles") is True
    assert store.get("quarantine", "id0001") is None
    moved = store.get("articles", "id0001")
    assert (moved["first_seen"], moved["version"], moved["spam"]) == (T0, 1, spam["spam"])  # stamps kept
    assert store.move("id0001", "quarantine", "articles") is False
    assert store.delete("articles", "id0001") is True
    assert store.delete("articles", "id0001") is False
    assert store.count("articles") == 0


def test_open_store_picks_the_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("MONGO_URI", raising=False)
    sqlite = open_store({"GONGKAI_DB": str(tmp_path / "a" / "b" / "x.sqlite3")})
    assert isinstance(sqlite, SQLiteStore) and (tmp_path / "a" / "b" / "x.sqlite3").exists()
    assert sqlite._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sqlite.close()
    mongo = open_store({"MONGO_URI": "mongomock://open-test", "MONGO_DATABASE": "db1"})
    assert isinstance(mongo, MongoStore) and mongo.database_name == "db1"
    mongo.upsert_many([doc(1)], now=T0)
    again = open_store({"MONGO_URI": "mongomock://open-test", "MONGO_DATABASE": "db1"})
    assert again.count("articles") == 1  # same in-memory server for the same mongomock URI
    assert set(again._db["articles"].index_information()) >= {"url_unique", "site_publish_time", "content_hash",
                                                             "simhash_simhash2", "near_duplicate_of"}
    mongo.close()
    again.close()


def test_mongo_uri_password_is_redacted():
    from gongkai_spider.storage.mongo import redact_uri

    assert redact_uri("mongodb://crawler:s3cret@db1:27017,db2/gongkai") == "mongodb://crawler:***@db1:27017,db2/gongkai"
    assert redact_uri("mongodb://localhost") == "mongodb://localhost"
