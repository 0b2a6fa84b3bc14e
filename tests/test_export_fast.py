"""`gongkai export --format jsonl` from SQLite writes from the stored JSON (one orjson decode and encode per
document); every filter, ``--fields`` and ``--with-attachment-text`` combination must give, byte for byte, what
the per-document path gives (every document decoded into Python datetimes, reduced, stripped, then encoded),
which is also what a MongoDB store's export writes; and both must hold the values pymongo's ``json_util``
writes."""

from __future__ import annotations

import argparse
import io
import itertools
import json
from datetime import UTC, date, datetime

import pytest
from bson import json_util
from test_store_backends import T0, T1, doc

from gongkai_spider.commands import export
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage.base import map_datetimes
from gongkai_spider.storage.sqlite import SQLiteStore

HARD_TEXT = "标题 \"引号\" \\ 反斜杠 \u2028 \x01 tab\t 😀 ＄．"


def hard_docs() -> list[dict]:
    """Documents that trip a shortcut: datetimes at every depth, attachments with and without text,
    unicode and escapes, int64 and wider ints, None, floats, strings that look like dates."""
    fetched = datetime(2024, 6, 1, 8, 30, 15, 123000, tzinfo=SHANGHAI)
    return [
        doc(1, site="a", publish_time=datetime(2024, 5, 20, 9, 0, 0, 250000, tzinfo=SHANGHAI),
            attachments=[{"name": "附件1.pdf", "url": "http://x/1.pdf", "downloaded_at": fetched, "text": "正文一"},
                         {"name": "附件2.doc", "text": HARD_TEXT, "pages": None},
                         "not an object", {"name": "no text", "size": 2**62}]),
        doc(2, site="b", publish_time=datetime(1965, 3, 1, 8, 0, tzinfo=SHANGHAI),  # before 1970: $numberLong
            summary="2024-05-20T09:00:00.000+08:00", read_count=10**25, simhash=-(2**63), title=HARD_TEXT),
        doc(3, site="a", publish_time=None, attachments={"text": "an object, not a list: kept"},
            doc_meta={"text": "a doc_meta key named text", "publish_time": "2024-05-20"},
            review={"released": True, "at": datetime(2024, 6, 2, 23, 59, 59, tzinfo=SHANGHAI),
                    "history": [datetime(2023, 1, 1, tzinfo=SHANGHAI), {"when": datetime(2022, 2, 2, tzinfo=SHANGHAI)}]}),
        doc(4, site="b", spam={"is_spam": False, "score": 0.1, "reasons": []},
            attachments=[{"name": "a", "text": "t", "ratio": 1.5e-7}]),
        doc(5, site="a", simhash=2**63 - 1, read_count=0, keywords=[], attachments=[], doc_meta={},
            body="", author=None, score=-0.0, ratio=1e300, small=5e-324),
        doc(6, site="b", publish_time=datetime(2024, 3, 6, 23, 59, 59, 999000, tzinfo=SHANGHAI),
            attachments=[{"name": "附件.pdf", "text": "x" * 5000, "downloaded_at": fetched},
                         {"name": "附件2.pdf", "text": "", "downloaded_at": fetched}]),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = SQLiteStore(tmp_path_factory.mktemp("fast") / "g.sqlite3")
    store.upsert_many(hard_docs(), now=T0)
    store.upsert_many([doc(2, site="b", publish_time=datetime(1965, 3, 1, 8, 0, tzinfo=SHANGHAI), title="changed", content_hash="c2",
                           summary="2024-05-20T09:00:00.000+08:00", read_count=10**25, simhash=-(2**63))], now=T1)
    store.upsert_many([doc(7, spam={"is_spam": True, "score": 3.5, "reasons": ["x"]},
                           attachments=[{"name": "q", "text": "隔离"}])], "quarantine", now=T0)
    yield store
    store.close()


def per_document(store, collection: str, fields, attachment_text: bool, **filters) -> bytes:
    out = io.BytesIO()
    docs = store.iter_docs(collection, fields=fields, **filters)
    export.write_jsonl(docs if attachment_text else map(export.without_attachment_text, docs), out)
    return out.getvalue()


def from_stored(store, collection: str, fields, attachment_text: bool, **filters) -> bytes:
    out = io.BytesIO()
    export.write_stored_jsonl(store.iter_json(collection, **filters), out, fields=fields,
                              attachment_text=attachment_text)
    return out.getvalue()


FILTERS = [{}, {"site": "a"}, {"since": date(2024, 5, 1)}, {"until": date(2024, 3, 6)},
           {"updated_since": T1}, {"updated_since": T0, "site": "b"},
           {"since": date(1960, 1, 1), "until": date(2024, 5, 20), "site": "b"}]
FIELDS = [None, ("_id", "title", "publish_time"), ("attachments",), ("review", "_id", "nonexistent_in_doc"),
          ("updated_at", "spam", "read_count", "simhash"), ("body",)]


@pytest.mark.parametrize("filters, fields, attachment_text",
                         list(itertools.product(FILTERS, FIELDS, (False, True))))
def test_stored_jsonl_is_byte_for_byte_the_per_document_path(store, filters, fields, attachment_text):
    want = per_document(store, "articles", fields, attachment_text, **filters)
    assert want  # never vacuous: every combination selects documents
    assert from_stored(store, "articles", fields, attachment_text, **filters) == want


def test_the_hard_cases_are_in_the_output(store):
    default = from_stored(store, "articles", None, False).decode("utf-8")
    assert '"text"' not in default.split('"attachments":{')[0]  # stripped from lists ...
    assert '"attachments":{"text":"an object, not a list: kept"}' in default  # ... not from other values
    assert '"doc_meta":{"text":"a doc_meta key named text"' in default
    assert '"publish_time":{"$date":{"$numberLong":"-152668800000"}}' in default
    assert '"downloaded_at":{"$date":"2024-06-01T00:30:15.123Z"}' in default
    assert '"read_count":10000000000000000000000000' in default and '"simhash":-9223372036854775808' in default
    assert '"summary":"2024-05-20T09:00:00.000+08:00"' in default  # looks like a date, is a string
    with_text = from_stored(store, "articles", None, True).decode("utf-8")
    assert "\\u2028" not in with_text and "\u2028" in with_text and "\\u0001" in with_text and "😀" in with_text
    assert '"text":"正文一"' in with_text and '"ratio":1.5e-7' in with_text


@pytest.mark.parametrize("collection", ["articles", "quarantine"])
def test_every_line_holds_what_json_util_writes(store, collection):
    # an independent writer: pymongo's relaxed Extended JSON of each document (datetimes in UTC), value for value
    lines = from_stored(store, collection, None, True).splitlines()
    docs = list(store.iter_docs(collection))
    assert len(lines) == len(docs) > 0
    for line, stored in zip(lines, docs, strict=True):
        reference = json_util.dumps(map_datetimes(stored, lambda d: d.astimezone(UTC)),
                                    json_options=json_util.RELAXED_JSON_OPTIONS, ensure_ascii=False)
        assert json.loads(line) == json.loads(reference)


@pytest.mark.parametrize("attachment_text", [False, True])
def test_nan_and_infinity_take_the_per_document_path(attachment_text):
    # SQLite 3.42+ reads NaN and Infinity in JSON (older ones refuse to store them): json would write them bare,
    # json_util as {"$numberDouble": ...}; such a document is written by the per-document path.
    text = (b'{"_id":"n","score":NaN,"spam":{"ratio":-Infinity},"publish_time":"2024-05-20T09:00:00.000+08:00",'
            b'"attachments":[{"text":"t","x":Infinity}]}')
    paths = '[["publish_time"]]'
    line = export.jsonl_from_stored(text, paths, None, attachment_text)
    assert line == export._jsonl_per_document(text, paths, None, attachment_text)
    assert b'"score":{"$numberDouble":"NaN"}' in line and b'{"$numberDouble":"-Infinity"}' in line
    assert (b'"text"' in line) is attachment_text
    assert export.jsonl_from_stored(text, paths, ("_id",), attachment_text) == b'{"_id":"n"}'


def test_a_long_run_of_digits_in_a_text_is_written_as_it_is():
    # orjson reads integers past 2**64 as floats, so 20 digits anywhere send a document the per-document way;
    # a long number inside a string (an account number, say) is written unchanged either way
    text = '{"_id":"d","title":"账号 123456789012345678901234","n":123456789012345678901234}'.encode()
    line = export.jsonl_from_stored(text, None)
    assert line == text


def test_quarantine_and_pending_collections(store):
    for attachment_text in (False, True):
        assert (from_stored(store, "quarantine", None, attachment_text)
                == per_document(store, "quarantine", None, attachment_text))
    assert from_stored(store, "pending", None, False) == per_document(store, "pending", None, False) == b""


def test_a_naive_stored_datetime_is_read_as_shanghai_time(tmp_path):
    # A stored datetime without an offset (a store written by hand or by an older tool): decode_doc reads it as
    # Asia/Shanghai, so the JSONL must too (datetime.astimezone would take the machine's time zone).
    store = SQLiteStore(tmp_path / "g.sqlite3")
    store.upsert_many([doc(1)], now=T0)
    store._conn.execute("UPDATE articles SET doc = replace(doc, '2024-05-24T09:14:00.000+08:00', '2024-05-24T09:14:00')")
    fast, slow = from_stored(store, "articles", None, False), per_document(store, "articles", None, False)
    store.close()
    assert fast == slow and b'"publish_time":{"$date":"2024-05-24T01:14:00Z"}' in fast


def test_command_takes_the_stored_json_path_for_every_jsonl_form(store, monkeypatch, capsysbinary):
    # every document but the one holding an integer wider than 64 bits (id0002), which orjson cannot read
    per_document, taken = export._jsonl_per_document, []

    def only_the_wide_integer(data: bytes, *rest):
        if b'"_id":"id0002"' not in data:
            pytest.fail("per-document path used")
        taken.append(data)
        return per_document(data, *rest)

    monkeypatch.setattr(export, "_jsonl_per_document", only_the_wide_integer)
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    for argv in ([], ["--site", "a", "--fields", "_id,title"], ["--updated-since", "2024-06-01T11:00:00+08:00"],
                 ["--until", "2024-03-06", "--with-attachment-text"]):
        assert export.run(parser.parse_args(["--db", str(store.path), *argv])) == 0
        out = capsysbinary.readouterr().out
        assert out.count(b"\n") >= 1
    assert taken  # the wide integer was exported, the per-document way


def test_write_happens_in_large_chunks(store):
    class Counting(io.BytesIO):
        writes = 0

        def write(self, text: bytes) -> int:
            Counting.writes += 1
            return super().write(text)

    out = Counting()
    rows = [row for _ in range(400) for row in store.iter_json("articles")]  # 2,400 rows
    assert export.write_stored_jsonl(rows, out) == 2400
    assert Counting.writes == 3 and out.getvalue().count(b"\n") == 2400


def test_other_bson_types_are_written_as_json_util_writes_them():
    # a MongoDB store's documents can hold what JSON has no type for (ObjectId, Decimal128, binary, SON)
    from bson import Decimal128, Int64, ObjectId
    from bson.son import SON

    doc = {"_id": ObjectId("65f000000000000000000001"), "price": Decimal128("1.50"), "raw": b"\x00\xff",
           "count": Int64(2**62), "meta": SON([("b", 1), ("a", datetime(2024, 5, 20, 9, 0, tzinfo=SHANGHAI))]),
           "nan": float("nan"), "wide": -(10**30), "when": datetime(2024, 5, 20, 9, 0, 0, 999999)}
    line = export.jsonl_line(doc)
    reference = json_util.dumps(map_datetimes(doc, lambda d: (d if d.tzinfo else d.replace(tzinfo=SHANGHAI))
                                              .astimezone(UTC)), json_options=json_util.RELAXED_JSON_OPTIONS)
    assert json.loads(line) == json.loads(reference)
    assert b'"meta":{"b":1,"a":{"$date":"2024-05-20T01:00:00Z"}}' in line  # order kept
    assert b'"when":{"$date":"2024-05-20T01:00:00.999Z"}' in line  # naive: Asia/Shanghai; ms cut, not rounded
    assert b'"wide":-1000000000000000000000000000000' in line
