"""Incremental pulls: `gongkai export --site --since --until --updated-since --fields` on both stores."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from test_export import run_export
from test_store_backends import BACKENDS, T0, T1, doc, drop_store, make_store

from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage.query import DocFilter
from gongkai_spider.storage.sqlite import SQLiteStore


def docs() -> list[dict]:
    return [doc(n, site="a" if n % 2 else "b", content_hash=f"h{n}",
                publish_time=datetime(2024, 3, n, 23, 30, tzinfo=SHANGHAI) if n != 5 else None) for n in range(1, 9)]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    store.upsert_many(docs(), now=T0)
    store.upsert_many([doc(2, site="b", content_hash="changed", publish_time=datetime(2024, 3, 2, 23, 30, tzinfo=SHANGHAI)),
                       doc(9, site="a", content_hash="h9", publish_time=datetime(2024, 3, 9, tzinfo=SHANGHAI))], now=T1)
    yield store
    drop_store(store)


@pytest.mark.parametrize("filters", [
    DocFilter(site="a"),
    DocFilter(since=date(2024, 3, 3), until=date(2024, 3, 6)),  # until: the whole day (23:30 included)
    DocFilter(until=date(2024, 3, 2)),
    DocFilter(updated_since=T1),
    DocFilter(updated_since=T0 + timedelta(minutes=30)),
    DocFilter(site="b", since=date(2024, 3, 1), updated_since=T0),
    DocFilter(since=datetime(2024, 3, 4, 23, 30, tzinfo=SHANGHAI), until=datetime(2024, 3, 6, 23, 30, tzinfo=SHANGHAI)),
])
def test_filters_select_what_the_definition_accepts(store, filters):
    every = list(store.iter_docs("articles"))
    if filters.updated_since is not None:  # an incremental pull comes in updated_at order
        every.sort(key=lambda d: (d["updated_at"], d["_id"]))
    want = [d["_id"] for d in every if filters.accepts(d)]
    got = [d["_id"] for d in store.iter_docs("articles", since=filters.since, until=filters.until, site=filters.site,
                                             updated_since=filters.updated_since)]
    assert got == want and want  # never vacuous


def test_updated_since_is_the_changed_and_new_documents(store):
    assert [d["_id"] for d in store.iter_docs("articles", updated_since=T1)] == ["id0002", "id0009"]


def test_fields_projection_in_the_order_given(store):
    rows = list(store.iter_docs("articles", site="b", fields=("title", "url", "updated_at")))
    assert [list(r) for r in rows] == [["title", "url", "updated_at"]] * 4
    assert rows[0]["updated_at"] == T1 and "_id" not in rows[0]
    assert list(next(store.iter_docs("articles", fields=("_id", "version")))) == ["_id", "version"]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many(docs(), now=T0)
    store.upsert_many([doc(3, site="a", content_hash="new3", publish_time=datetime(2024, 3, 3, 23, 30, tzinfo=SHANGHAI))],
                      now=T1)
    store.close()
    return str(path)


def test_command_incremental_csv_pull(db, capsysbinary):
    assert run_export("--db", db, "--format", "csv", "--no-bom", "--site", "a", "--updated-since",
                      "2024-06-01T10:30:00", "--fields", "url,version,updated_at") == 0
    out, err = capsysbinary.readouterr()
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert rows == [["url", "version", "updated_at"],
                    ["http://www.example.gov.cn/art/2024/6/1/art_3.html", "2", "2024-06-01T11:00:00+08:00"]]
    assert b"1 documents" in err


def test_command_jsonl_until_and_updated_since_in_utc(db, capsysbinary):
    assert run_export("--db", db, "--until", "2024-03-02", "--updated-since", "2024-06-01T02:00:00Z",
                      "--fields", "_id,title") == 0
    lines = [json.loads(x) for x in capsysbinary.readouterr()[0].decode().splitlines()]
    assert lines == [{"_id": "id0001", "title": doc(1)["title"]}, {"_id": "id0002", "title": doc(2)["title"]}]


@pytest.mark.parametrize("argv, message", [
    (("--fields", " , "), "no field given"),
    (("--updated-since", "yesterday"), "not a date or ISO 8601 time"),
    (("--until", "2024-13-01"), "not a date"),
])
def test_command_refuses_bad_options(db, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        run_export("--db", db, *argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (("--since", "2024-03-05", "--until", "2024-03-01"), "is before --since"),
    (("--fields", "title,nonsense"), "unknown field 'nonsense' of articles"),
    (("--collection", "pending", "--fields", "title"), "unknown field 'title' of pending"),
])
def test_command_refuses_bad_combinations_in_one_line(db, capsys, argv, message):
    assert run_export("--db", db, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
