"""`gongkai export`: JSONL that mongoimport loads unchanged, CSV for Excel and pandas, --since, --output."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, datetime

import pytest
from bson import json_util
from test_store_backends import T0, doc

from gongkai_spider.commands import export
from gongkai_spider.items import DOCUMENT_FIELDS
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage import open_store
from gongkai_spider.storage.base import map_datetimes
from gongkai_spider.storage.sqlite import SQLiteStore


def run_export(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    return export.run(parser.parse_args(list(argv)))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "gongkai.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many([doc(1, publish_time=datetime(2024, 5, 20, 9, 0, tzinfo=SHANGHAI)),
                       doc(2, read_count=1024, body="第一段，含\"引号\"。\n第二段"),
                       doc(3, publish_time=None, doc_meta={"$bad.key": "x"})], now=T0)
    store.upsert_many([doc(4, spam={"is_spam": True, "score": 3.0, "reasons": ["brand_in_title"]})],
                      "quarantine", now=T0)
    store.close()
    return str(path)


def test_jsonl_is_extended_json_that_loads_back_unchanged(db, capsysbinary):
    assert run_export("--db", db) == 0
    out, err = capsysbinary.readouterr()
    lines = out.decode("utf-8").splitlines()
    assert len(lines) == 3 and b"3 documents from articles" in err
    first = json.loads(lines[0])
    assert first["publish_time"] == {"$date": "2024-05-20T01:00:00Z"}  # UTC, as mongoimport expects
    assert first["first_seen"] == {"$date": "2024-06-01T02:00:00Z"}
    assert first["title"] == "关于开展第1次安全检查的通知"  # UTF-8 text, not \u escapes
    assert first["simhash"] == -7919
    # what mongoimport would insert: the stored document, dates as BSON dates
    store = SQLiteStore(db)
    for line, stored in zip(lines, store.iter_docs("articles"), strict=True):
        loaded = json_util.loads(line, json_options=json_util.JSONOptions(tz_aware=True, tzinfo=SHANGHAI))
        assert loaded == stored
    store.close()
    assert json.loads(lines[2])["doc_meta"] == {"＄bad．key": "x"}


def test_quarantine_since_and_output_file(db, tmp_path):
    target = tmp_path / "out" / "q.jsonl"
    target.parent.mkdir()
    assert run_export("--db", db, "--collection", "quarantine", "--output", str(target)) == 0
    (line,) = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["spam"]["reasons"] == ["brand_in_title"]
    assert run_export("--db", db, "--since", "2024-05-21", "--output", str(target)) == 0
    assert [json.loads(x)["_id"] for x in target.read_text(encoding="utf-8").splitlines()] == ["id0002"]


def test_csv_fixed_columns_with_bom(db, tmp_path):
    target = tmp_path / "a.csv"
    assert run_export("--db", db, "--format", "csv", "--output", str(target)) == 0
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(DOCUMENT_FIELDS)
    two = rows[1]
    assert two["_id"] == "id0002" and two["read_count"] == "1024"
    assert two["body"] == "第一段，含\"引号\"。\n第二段"
    assert two["publish_time"] == "2024-05-24T09:14:00+08:00"
    assert json.loads(two["keywords"]) == ["安全", "检查"]
    assert json.loads(two["attachments"]) == [{"name": "附件1.pdf", "url": "http://www.example.gov.cn/att/1.pdf"}]
    assert json.loads(two["spam"]) == {"is_spam": False, "score": 0.0, "reasons": []}
    assert two["summary"] == "" and two["near_duplicate_of"] == ""  # null -> empty cell
    assert rows[2]["publish_time"] == ""
    assert two["first_seen"] == "2024-06-01T10:00:00+08:00" and two["version"] == "1"


def test_csv_to_stdout_without_bom(db, capsysbinary):
    assert run_export("--db", db, "--format", "csv", "--no-bom", "--since", "2024-05-21") == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"_id,url,site,")
    assert len(list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))) == 2


def test_export_from_mongodb_settings(monkeypatch, capsysbinary):
    monkeypatch.setenv("MONGO_URI", "mongomock://export-test")
    store = open_store({"MONGO_URI": "mongomock://export-test"})
    store.upsert_many([doc(7)], now=T0)
    assert run_export() == 0
    (line,) = capsysbinary.readouterr().out.decode("utf-8").splitlines()
    assert json.loads(line)["_id"] == "id0007"
    store.close()


def test_clear_errors(tmp_path, capsys):
    assert run_export("--db", str(tmp_path / "missing.sqlite3")) == 2
    assert "no store at" in capsys.readouterr().err
    assert not (tmp_path / "missing.sqlite3").exists()  # a reading command creates nothing
    with pytest.raises(SystemExit):
        run_export("--since", "yesterday")


def test_jsonl_fast_path_writes_exactly_what_the_document_path_wrote(tmp_path):
    # The SQLite fast path rewrites only the recorded datetime paths of the stored JSON; the result must be
    # byte for byte what decoding every document and encoding it gave: ms and whole seconds, a date before
    # 1970 ($numberLong), datetimes nested in lists and objects, a string that only looks like a date.
    store = SQLiteStore(tmp_path / "g.sqlite3")
    store.upsert_many([
        doc(1, publish_time=datetime(2024, 5, 20, 9, 0, 0, 250000, tzinfo=SHANGHAI)),
        doc(2, publish_time=datetime(1965, 3, 1, 8, 0, tzinfo=SHANGHAI), summary="2024-05-20T09:00:00+08:00"),
        doc(3, publish_time=None, attachments=[{"name": "a.pdf", "fetched": datetime(2024, 6, 1, tzinfo=SHANGHAI)}],
            review={"released": True, "at": datetime(2024, 6, 2, 23, 59, 59, tzinfo=SHANGHAI)}),
        doc(4, title="标题 \"引号\" \\ 反斜杠\u2028", simhash=-(2**63)),
    ], now=T0)
    slow, fast = io.BytesIO(), io.BytesIO()
    docs = list(store.iter_docs("articles"))
    assert export.write_jsonl(docs, slow) == 4
    assert export.write_stored_jsonl(store.iter_json("articles"), fast) == 4
    store.close()
    assert fast.getvalue() == slow.getvalue()
    assert b'{"$numberLong":' in fast.getvalue() and b'.250Z"}' in fast.getvalue()
    # and it is what pymongo's own Extended JSON writer gives (datetimes in UTC), value for value
    for line, stored in zip(fast.getvalue().splitlines(), docs, strict=True):
        in_utc = map_datetimes(stored, lambda d: d.astimezone(UTC))
        reference = json_util.dumps(in_utc, json_options=json_util.RELAXED_JSON_OPTIONS)
        assert json.loads(line) == json.loads(reference)


def test_jsonl_export_uses_the_fast_path_on_sqlite(db, capsysbinary, monkeypatch):
    monkeypatch.setattr(export, "jsonl_line", lambda _doc: pytest.fail("per-document path used"))
    assert run_export("--db", db, "--with-attachment-text") == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert len(lines) == 3 and json_util.loads(lines[0])["_id"] == "id0001"


def test_csv_leaves_attachment_text_out_unless_asked(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many([doc(1, attachments=[{"name": "附件.pdf", "text": "附件正文"}])], now=T0)
    store.close()
    target = tmp_path / "a.csv"
    for argv, want in (([], [{"name": "附件.pdf"}]),
                       (["--with-attachment-text"], [{"name": "附件.pdf", "text": "附件正文"}])):
        assert run_export("--db", str(path), "--format", "csv", "--output", str(target), *argv) == 0
        (row,) = csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"), newline=""))
        assert json.loads(row["attachments"]) == want
