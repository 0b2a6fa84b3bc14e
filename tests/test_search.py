"""Full-text search on both stores: exactly the documents a scan finds, filters, quarantine kept apart, the index
kept in sync through updates, moves and deletes, and built for a store written before it existed."""

from __future__ import annotations

import argparse
import json
import sqlite3
import zlib
from datetime import date, datetime, timedelta

import pytest
from test_store_backends import BACKENDS, T0, T1, T2, doc, drop_store, make_store

from gongkai_spider.commands import search as search_command
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.search import QueryError, matches, parse_query, run_search, snippet
from gongkai_spider.search.mongo import TEXT_INDEX, build_query, grams, search_field, text_clause
from gongkai_spider.search.sqlite import OPTIONS, text_crc
from gongkai_spider.storage.mongo import MongoStore
from gongkai_spider.storage.query import DocFilter
from gongkai_spider.storage.sqlite import SQLiteStore, encode_doc

# Texts of our own, with the terms placed where the edge cases are: first and last character of a field,
# inside a longer word, in an attachment's text only, upper/lower case, punctuation around the term.
TEXTS = [
    ("关于做好2024年低保资格复核工作的通知", "各街道：\n为做好城乡低保复核，现将有关事项通知如下。\n请于6月底前报送。"),
    ("市民政局召开营商环境优化推进会", "会议强调，要持续优化营商环境。\n营商环境就是生产力"),
    ("安全生产检查情况通报", "安全生产检查发现隐患12处，已整改。"),
    ("关于开展安全生产大检查的通知", "各单位要开展安全生产检查，落实主体责任。\n安全"),
    ("低保", "正文只有两个字的标题。"),
    ("Smart City 建设方案", "推进smart city试点，建设数字政府。"),
    ("政府信息公开年度报告", "本报告由市政府办公室编制。", [{"name": "附件1.pdf", "url": "http://a/1.pdf",
                                                          "text": "附件中提到了营商环境评价和低保标准。"}]),
    ("文明城市创建工作推进", "生产安全检查与安全生产检查不同。"),
    ("春季森林防火部署", "防火期内严禁野外用火（含祭祀用火）。"),
    ("乡村振兴简报", "生产\n检查"),  # "生产检查" split over two lines is not one term
]
QUERIES = ["低保", "营商", "安全", "检查", "安全生", "营商环", "smart", "CITY", "安全生产检查", "营商环境优化",
           "低保资格复核", "生产检查", "两个", "（含", "用火）", "安全 通知", "低保 营商环境", "附件中", "查", "火",
           "不存在的词", "生产 检查 安全生产"]


def corpus() -> list[dict]:
    docs = []
    for n, (title, body, *rest) in enumerate(TEXTS, 1):
        site = "a" if n % 2 else "b"
        extra = {"attachments": rest[0]} if rest else {}
        docs.append(doc(n, title=title, body=body, site=site, content_hash=f"h{n}",
                        publish_time=datetime(2024, 1, n, 9, 0, tzinfo=SHANGHAI), **extra))
    return docs


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    store = make_store(request.param, tmp_path)
    store.upsert_many(corpus(), now=T0)
    store.upsert_many([doc(90, title="澳门博彩低保营商环境安全生产", body="低保 安全生产检查",
                           spam={"is_spam": True, "score": 3.0, "reasons": ["gambling"]})], "quarantine", now=T0)
    yield store
    drop_store(store)


def found(store, query: str, collection: str = "articles", filters: DocFilter | None = None) -> set[str]:
    return {_id for _id, _ in store.search_ids(parse_query(query), collection, filters, 1000)}


def expected(store, query: str, collection: str = "articles", filters: DocFilter | None = None) -> set[str]:
    terms, filters = parse_query(query), filters or DocFilter()
    return {d["_id"] for d in store.iter_docs(collection) if matches(d, terms) and filters.accepts(d)}


@pytest.mark.parametrize("query", QUERIES)
def test_finds_exactly_what_a_scan_finds(store, query):
    want = expected(store, query)
    assert found(store, query) == want
    assert "id0090" not in found(store, query)  # quarantine never shows in articles


def test_two_three_and_six_character_queries_have_hits(store):
    # the acceptance queries are not vacuous: each finds documents, and not all of them
    for query, n in (("低保", 3), ("安全生", 3), ("安全生产检查", 3)):
        assert len(found(store, query)) == n, query


def test_filters(store):
    for filters in (DocFilter(site="a"), DocFilter(since=date(2024, 1, 3)), DocFilter(until=date(2024, 1, 4)),
                    DocFilter(site="b", since=date(2024, 1, 2), until=date(2024, 1, 8)),
                    DocFilter(site="nowhere")):
        for query in ("低保", "安全生产检查", "营商环境", "查"):
            assert found(store, query, filters=filters) == expected(store, query, filters=filters), (filters, query)
    assert found(store, "安全生产", filters=DocFilter(until=date(2024, 1, 3))) == {"id0003"}


def test_quarantine_only_when_asked(store):
    assert found(store, "澳门博彩") == set()
    assert found(store, "澳门博彩", "quarantine") == {"id0090"}
    assert found(store, "低保", "quarantine") == {"id0090"}


def test_ranking_puts_title_hits_first(store):
    if isinstance(store, MongoStore) and not store._text_index.get("articles"):
        pytest.skip("mongomock-ng has no $text: no score to rank by")
    ranked = [i for i, _ in store.search_ids(["营商环境"], "articles", None, 10)]
    assert ranked[0] == "id0002"


def test_index_follows_updates_moves_and_deletes(store):
    store.upsert_many([doc(3, title="安全生产检查情况通报", body="改为消防演练内容。", content_hash="h3b",
                           publish_time=datetime(2024, 1, 3, 9, 0, tzinfo=SHANGHAI))], now=T1)
    assert "id0003" not in found(store, "隐患")
    assert found(store, "消防演练") == {"id0003"}
    assert found(store, "安全生产检查") == expected(store, "安全生产检查")
    # unchanged content (only last_seen moves) and a changed spam verdict with the same text
    store.upsert_many([doc(3, title="安全生产检查情况通报", body="改为消防演练内容。", content_hash="h3b",
                           publish_time=datetime(2024, 1, 3, 9, 0, tzinfo=SHANGHAI))], now=T2)
    assert found(store, "消防演练") == {"id0003"}
    assert store.move("id0003", "articles", "quarantine")
    assert found(store, "消防演练") == set() and found(store, "消防演练", "quarantine") == {"id0003"}
    assert store.move("id0003", "quarantine", "articles")
    assert found(store, "消防演练") == {"id0003"} and found(store, "消防演练", "quarantine") == set()
    assert store.delete("articles", "id0003")
    assert found(store, "消防演练") == set()
    for query in QUERIES:
        assert found(store, query) == expected(store, query), query


def test_candidates_holding_every_trigram_but_not_the_term_are_never_returned(store):
    """The SQLite text index keeps no positions: 安全生产 is looked up as 安全生 AND 全生产. Documents holding both
    trigrams apart (and written last, so the newest-first listing meets them first) are checked and dropped, and
    `limit` still brings back true hits."""
    store.upsert_many([doc(60 + k, title=f"第{k}号简报", body="居民安全生活有保障，全生产线复工。生产安全", content_hash=f"d{k}",
                           publish_time=datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI)) for k in range(30)], now=T1)
    want = expected(store, "安全生产")
    assert not any(i.startswith("id006") for i in want) and len(want) == 3
    assert found(store, "安全生产") == want
    for limit in (1, 2, 3):
        got = [i for i, _ in store.search_ids(["安全生产"], "articles", None, limit)]
        assert len(got) == limit and set(got) <= want
    assert found(store, "全生产线") == {f"id{60 + k:04d}" for k in range(30)}  # the decoys hold their own words
    assert found(store, "安全生产", filters=DocFilter(site="b")) == expected(store, "安全生产", filters=DocFilter(site="b"))
    assert found(store, "安全生产线") == set() == expected(store, "安全生产线")  # 安全生, 全生产, 生产线: all there


def test_terms_the_stored_json_escapes_or_cases_differently(store):
    store.upsert_many([doc(70, title="引号", body='他说"安全第一"四个字\\末尾', content_hash="q1"),
                       doc(71, title="大小写", body="Digital GOVERNMENT 试点", content_hash="q2")], now=T1)
    for query in ('"安全第一"', '字\\末尾', "government", "digital gov", "安全第一 试点"):
        assert found(store, query) == expected(store, query), query
    assert found(store, '"安全第一"') == {"id0070"} and found(store, "government") == {"id0071"}


def test_attachment_text_is_searched_when_present(store):
    assert found(store, "附件中提到") == {"id0007"}
    store.upsert_many([doc(7, title="政府信息公开年度报告", body="本报告由市政府办公室编制。", content_hash="h7b",
                           attachments=[{"name": "附件1.pdf", "url": "http://a/1.pdf"}])], now=T1)
    assert found(store, "附件中提到") == set()


def test_run_search_hits_and_snippet(store):
    hits = run_search(store, "营商环境", limit=10)
    assert {h["_id"] for h in hits} == expected(store, "营商环境")
    first = next(h for h in hits if h["_id"] == "id0002")
    assert first["url"].endswith("art_2.html") and first["site"] == "b" and first["title"] == "市民政局召开营商环境优化推进会"
    assert "[营商环境]" in first["snippet"] and "\n" not in first["snippet"]
    assert run_search(store, "营商环境", limit=1)[0]["_id"] in expected(store, "营商环境")


# -- the query and the snippet ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "   ", "\x00", " ".join(f"t{i}" for i in range(17)), "长" * 201])
def test_bad_queries_are_refused_with_a_reason(bad):
    with pytest.raises(QueryError):
        parse_query(bad)


def test_query_terms_are_folded_and_deduplicated():
    assert parse_query("  Smart  smart CITY\t低保 ") == ["smart", "city", "低保"]


def test_snippet_marks_every_hit_and_cuts_long_text():
    d = {"title": "标题", "body": "甲" * 200 + "安全生产" + "乙" * 10 + "安全" + "丙" * 200}
    text = snippet(d, ["安全生产", "安全"])
    assert text.startswith("…") and text.endswith("…")
    assert "[安全生产]" in text and "[安全]" in text and len(text) < 120
    assert snippet({"title": "Smart City", "body": ""}, ["city"]) == "Smart [City]"


# -- MongoDB: the query builder and the bigram field (mongomock-ng has no $text) ------------------------------


def test_bigram_field_holds_every_bigram_a_matching_term_needs():
    for d in corpus():
        field = search_field(d)
        tokens = set(field["title"].split()) | set(field["text"].split())
        for query in QUERIES:
            terms = parse_query(query)
            if matches(d, terms):
                clause = text_clause(terms)
                wanted = [] if clause is None else [p.strip('"') for p in clause["$search"].split()]
                assert set(wanted) <= tokens, (d["title"], query)


def test_grams_skip_punctuation_and_white_space_and_fold_case():
    assert grams("营商，环境 AB") == ["营商", "环境", "ab"]
    assert text_clause(["查"]) is None and text_clause(["（含"]) is None
    assert text_clause(["安全生产"]) == {"$search": '"安全" "全生" "生产"'}


def test_query_confirms_each_term_with_a_regex_and_keeps_filters():
    query = build_query(["a.b", "低保"], {"site": "x"})
    assert query["site"] == "x" and query["$text"] == {"$search": '"低保"'}
    regexes = [c["$or"][0]["title"]["$regex"] for c in query["$and"]]
    assert regexes == ["a\\.b", "低保"]
    assert "$text" not in build_query(["低保"], {}, use_text=False)


def test_text_index_options():
    keys, options = TEXT_INDEX
    assert keys == [("_search.title", "text"), ("_search.text", "text")]
    assert options["default_language"] == "none" and options["language_override"] != "language"


def test_search_field_is_stored_but_never_returned(tmp_path):
    store = make_store("mongomock", tmp_path)
    try:
        store.upsert_many(corpus()[:2], now=T0)
        raw = store._db["articles"].find_one({"_id": "id0001"})
        assert raw["_search"]["v"] == 1 and "低保" in raw["_search"]["title"].split()
        assert "_search" not in store.get("articles", "id0001")
        assert all("_search" not in d for d in store.iter_docs("articles"))
        # a document written before the field existed gets it on first use; later searches skip the check
        store._db["articles"].update_one({"_id": "id0002"}, {"$unset": {"_search": ""}})
        assert store.ensure_search_index("articles") == 1 and store.ensure_search_index("articles") == 0
        store._db["articles"].update_one({"_id": "id0001"}, {"$unset": {"_search": ""}})
        assert store.ensure_search_index("articles") == 0  # complete once: only older code writes without it
        assert store._db["articles"].find_one({"_id": "id0002"})["_search"] == search_field(corpus()[1])
    finally:
        drop_store(store)


# -- SQLite: a store written before the index existed, and a file edited behind the store's back ---------------

OLD_SCHEMA = """
CREATE TABLE {t} (_id TEXT PRIMARY KEY, url TEXT UNIQUE, site TEXT, publish_time TEXT, content_hash TEXT,
    simhash INTEGER, near_duplicate_of TEXT, last_seen TEXT, doc TEXT NOT NULL, datetime_paths TEXT);
CREATE INDEX {t}_site_publish_time ON {t} (site, publish_time);
"""


def old_store(path, docs: list[dict]) -> None:
    """A store file as the version before search wrote it (no index tables, no updated_at column)."""
    conn = sqlite3.connect(path)
    for t in ("articles", "quarantine"):
        conn.executescript(OLD_SCHEMA.format(t=t))
    for d in docs:
        d = {**d, "first_seen": T0, "last_seen": T0, "updated_at": T0, "version": 1}
        text, paths = encode_doc(d)
        conn.execute("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (d["_id"], d["url"], d["site"], d["publish_time"].astimezone(SHANGHAI).isoformat(),
                      d["content_hash"], None, None, None, text, paths))
    conn.commit()
    conn.close()


def test_store_from_before_the_index_is_indexed_on_first_use(tmp_path):
    path = tmp_path / "old.sqlite3"
    old_store(path, corpus())
    store = SQLiteStore(path)
    try:
        # writes before the first search are indexed at once; the rest on first use
        store.upsert_many([doc(50, title="新写入的低保文件", body="正文", content_hash="h50")], now=T1)
        assert store.ensure_search_index("articles") == len(TEXTS)
        assert store.ensure_search_index("articles") == 0
        for query in QUERIES:
            assert found(store, query) == expected(store, query), query
        assert "id0050" in found(store, "低保")
        # updated_at was filled from the stored documents: incremental pulls work on old rows too
        assert len(list(store.iter_docs("articles", updated_since=T0))) == len(TEXTS) + 1
        assert [d["_id"] for d in store.iter_docs("articles", updated_since=T0 + timedelta(minutes=1))] == ["id0050"]
    finally:
        store.close()
    reopened = SQLiteStore(path)  # a second open changes nothing
    try:
        assert reopened.ensure_search_index("articles") == 0 and found(reopened, "低保") == expected(reopened, "低保")
    finally:
        reopened.close()


def test_an_index_of_the_older_format_is_rebuilt(tmp_path):
    """A store indexed by the first format (one FTS5 table with positions, FTS_VERSION 1) gets the current
    tables when opened and is reindexed on first use; the old postings are gone."""
    path = tmp_path / "v1.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many(corpus(), now=T0)
    conn = store._conn
    for suffix in ("_fts", "_fts_title", "_fts_ids"):
        conn.execute(f"DROP TABLE articles{suffix}")
    conn.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(title, body, attachments, tokenize='trigram', "
                 "content='')")
    conn.execute("CREATE TABLE articles_fts_ids (id INTEGER PRIMARY KEY, _id TEXT NOT NULL UNIQUE, crc INTEGER NOT NULL)")
    conn.execute("INSERT INTO articles_fts_ids VALUES (1, 'id0001', 0)")  # one document, indexed as v1 did
    conn.execute("INSERT INTO articles_fts (rowid, title, body, attachments) VALUES (1, '低保\n\n', '', '')")
    conn.execute("UPDATE search_meta SET version=1, complete=1 WHERE collection='articles'")
    store.close()
    store = SQLiteStore(path)
    try:
        assert not store._search.is_complete("articles")
        store.upsert_many([doc(50, title="新写入的低保文件", body="安全生产月", content_hash="h50")], now=T1)
        assert store.ensure_search_index("articles") == len(TEXTS)
        sql = dict(store._conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'articles_fts%'"))
        assert "detail=none" in sql["articles_fts"] and "articles_fts_title" in sql
        for query in (*QUERIES, "安全生产月"):
            assert found(store, query) == expected(store, query), query
        assert store._conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        store.close()


def test_a_document_edited_outside_the_store_triggers_a_rebuild_not_corruption(tmp_path, caplog):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        store.upsert_many(corpus(), now=T0)
        store._conn.execute("UPDATE articles SET doc = replace(doc, '隐患12处', '问题12处') WHERE _id='id0003'")
        store.upsert_many([doc(3, title="安全生产检查情况通报", body="全新内容", content_hash="h3c",
                               publish_time=datetime(2024, 1, 3, 9, 0, tzinfo=SHANGHAI))], now=T1)
        assert "not what was indexed" in caplog.text
        assert not store._search.is_complete("articles")
        for query in ("隐患", "全新内容", *QUERIES):  # the next search rebuilds: right answers again
            assert found(store, query) == expected(store, query), query
        assert store._search.is_complete("articles")
        for fts in ("articles_fts", "articles_fts_title"):
            assert store._conn.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
    finally:
        store.close()


def test_text_crc_is_the_crc_of_the_joined_texts():
    """The CRCs stored in existing indexes are of the texts joined by \\x1f: however it is computed, the value
    must stay that (else every stored document would look edited and the index be rebuilt)."""
    for texts in (("标题\n\n正文\n\n\n\n", "标题\n\n"), ("", ""), ("a\ud800b", "x")):
        assert text_crc(texts) == zlib.crc32("\x1f".join(texts).encode("utf-8", "surrogatepass"))


def test_merge_options_are_set_on_an_existing_index_without_rebuilding_it(tmp_path):
    """An index created with other FTS5 merge options (FTS5's defaults, as the first releases left them) gets
    the current ones when the store opens; its postings stay and nothing is reindexed."""
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many(corpus(), now=T0)
    store._conn.execute("DELETE FROM articles_fts_config WHERE k IN ('automerge', 'crisismerge', 'hashsize')")
    store.close()
    store = SQLiteStore(path)
    try:
        config = dict(store._conn.execute("SELECT k, v FROM articles_fts_config"))
        assert {k: config.get(k) for k in OPTIONS} == OPTIONS and OPTIONS["crisismerge"] > OPTIONS["automerge"]
        assert store.ensure_search_index("articles") == 0
        for query in QUERIES:
            assert found(store, query) == expected(store, query), query
    finally:
        store.close()


def test_statistics_of_a_young_index_do_not_turn_its_merges_into_scans(tmp_path):
    """ANALYZE on a store whose index was empty left statistics under which SQLite planned FTS5's range delete
    on the index's pages (one per merged segment) as a scan of the whole index. The store drops them when it
    opens; the planner then takes the key, and the index still answers."""
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    store._conn.execute("ANALYZE")  # while the store is new: its index is two rows of FTS5's own records
    store.upsert_many(corpus(), now=T0)
    store.close()
    merge_delete = "EXPLAIN QUERY PLAN DELETE FROM articles_fts_data WHERE id>=? AND id<=?"
    with sqlite3.connect(path) as analyzed:
        assert "SCAN" in analyzed.execute(merge_delete, (1, 2)).fetchone()[3]  # what FTS5 would run
    store = SQLiteStore(path)
    try:
        assert "USING INTEGER PRIMARY KEY" in store._conn.execute(merge_delete, (1, 2)).fetchone()[3]
        assert store._conn.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl GLOB 'articles_fts*'").fetchone()[0] == 0
        assert store._conn.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl='search_meta'").fetchone()[0] == 1  # kept
        for query in QUERIES:
            assert found(store, query) == expected(store, query), query
    finally:
        store.close()
    with sqlite3.connect(path) as reopened:  # and for every connection opened after
        assert "USING INTEGER PRIMARY KEY" in reopened.execute(merge_delete, (1, 2)).fetchone()[3]


def test_one_batch_of_new_changed_and_unchanged_texts(tmp_path):
    """The index entries of a batch are written together: new documents, a changed text, a metadata-only
    change, and a new document taking the place of the newest one deleted (its index rowid is free again)."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        store.upsert_many(corpus(), now=T0)
        assert store.delete("articles", f"id{len(TEXTS):04d}")
        store.upsert_many([doc(2, title=TEXTS[1][0], body="营商环境改成了别的说法", content_hash="h2b", site="b",
                               publish_time=datetime(2024, 1, 2, 9, 0, tzinfo=SHANGHAI)),
                           doc(4, title=TEXTS[3][0], body=TEXTS[3][1], content_hash="h4", site="b", author="改",
                               publish_time=datetime(2024, 1, 4, 9, 0, tzinfo=SHANGHAI)),
                           doc(70, title="新的低保文件", body="安全生产检查", content_hash="h70"),
                           doc(71, title="另一份", body="营商环境优化", content_hash="h71")], now=T1)
        assert found(store, "别的说法") == {"id0002"} and found(store, "营商环境优化") == {"id0002", "id0071"}
        for query in QUERIES:
            assert found(store, query) == expected(store, query), query
        for fts in ("articles_fts", "articles_fts_title"):
            assert store._conn.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
        ids = store._conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM articles_fts_ids").fetchone()
        assert ids == (store.count("articles"),) * 2
    finally:
        store.close()


def test_index_survives_vacuum(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        store.upsert_many(corpus(), now=T0)
        store.delete("articles", "id0001")
        store._conn.execute("VACUUM")
        store.upsert_many([doc(2, title="市民政局召开营商环境优化推进会", body="换成别的", content_hash="h2b")], now=T1)
        for query in QUERIES:
            assert found(store, query) == expected(store, query), query
    finally:
        store.close()


# -- the command ----------------------------------------------------------------------------------------------


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    search_command.add_arguments(parser)
    return search_command.run(parser.parse_args(list(argv)))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many(corpus(), now=T0)
    store.upsert_many([doc(90, title="澳门博彩营商环境", spam={"is_spam": True, "score": 3.0, "reasons": []})],
                      "quarantine", now=T0)
    store.close()
    return str(path)


def test_command_prints_ranked_hits(db, capsysbinary):
    assert run_command("营商环境", "--db", db) == 0
    out, err = capsysbinary.readouterr()
    text = out.decode()
    assert text.startswith("1. 市民政局召开营商环境优化推进会\n   b  2024-01-02  http://www.example.gov.cn/art/2024/6/1/art_2.html\n")
    assert "[营商环境]" in text and "澳门" not in text and b"2 hits in articles" in err


def test_command_json_filters_and_quarantine(db, capsysbinary):
    assert run_command("营商环境", "--db", db, "--json", "--site", "a", "--until", "2024-01-07") == 0
    lines = [json.loads(x) for x in capsysbinary.readouterr()[0].decode().splitlines()]
    assert [h["_id"] for h in lines] == ["id0007"] and lines[0]["publish_time"] == "2024-01-07T09:00:00+08:00"
    assert run_command("营商环境", "--db", db, "--json", "--collection", "quarantine") == 0
    assert [json.loads(x)["_id"] for x in capsysbinary.readouterr()[0].decode().splitlines()] == ["id0090"]


@pytest.mark.parametrize("argv, message", [
    (("   ",), "empty query"),
    (("低保", "--limit", "0"), "--limit must be at least 1"),
    (("低保", "--since", "2024-02-01", "--until", "2024-01-01"), "is before --since"),
])
def test_command_refuses_bad_input_in_one_line(db, capsys, argv, message):
    assert run_command(*argv, "--db", db) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_command_without_a_store(tmp_path, capsys):
    assert run_command("低保", "--db", str(tmp_path / "missing.sqlite3")) == 2
    assert "no store at" in capsys.readouterr().err


def test_many_hits_rank_title_hits_then_the_newest(tmp_path):
    """Title hits come first, ranked, unless more than RANK_MAX titles hold the terms: then every hit is listed
    newest first. Either way the result is exactly the matching documents."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        store.upsert_many(corpus(), now=T0)
        for query in QUERIES:
            full = store.search_ids(parse_query(query), "articles", None, 1000)
            store._search.rank_max = 1
            capped = store.search_ids(parse_query(query), "articles", None, 1000)
            store._search.rank_max = 10_000
            assert sorted(capped) != [] or not full
            assert {i for i, _ in capped} == {i for i, _ in full} == expected(store, query), query
            assert len(capped) == len({i for i, _ in capped})  # no document twice
        store._search.rank_max = 2  # 2 title hits: ranked, then the body-only one
        hits = [i for i, _ in store.search_ids(["安全生产"], "articles", None, 10)]
        assert set(hits[:2]) == {"id0003", "id0004"}  # the two title hits first, then the body-only one
        assert hits[2] == "id0008"
        assert [i for i, _ in store.search_ids(["安全生产"], "articles", None, 1)] in (["id0003"], ["id0004"])
        store._search.rank_max = 1  # title hits too many: the newest first
        assert [i for i, _ in store.search_ids(["安全生产"], "articles", None, 10)] == ["id0008", "id0004", "id0003"]
        assert {i for i, _ in store.search_ids(["安全"], "articles", DocFilter(site="b"), 10)} == \
            expected(store, "安全", filters=DocFilter(site="b"))
    finally:
        store.close()


def test_an_index_is_built_in_transactions_of_one_crawl_batch(tmp_path):
    """Built for existing documents, the index is written as a crawl writes it (200 documents per transaction):
    built 2,000 at a time, its segments cost the crawls that followed seconds of merging per batch at 1M."""
    from gongkai_spider.search.sqlite import BUILD_CHUNK

    path = tmp_path / "old.sqlite3"
    store = SQLiteStore(path)
    store.upsert_many([doc(n, content_hash=f"h{n}") for n in range(1, 451)], now=T0)
    store._conn.execute("UPDATE search_meta SET version=0, complete=0 WHERE collection='articles'")
    store.close()
    store = SQLiteStore(path)  # an index of another format: recreated empty, built on first use
    try:
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        assert store.ensure_search_index("articles") == 450
        chunks = sum(1 for s in statements if s.startswith("SELECT rowid, _id, doc FROM articles"))
        assert BUILD_CHUNK == 200 and chunks == 4  # 200, 200, 50, and the empty read that ends the build
        assert statements.count("COMMIT") == chunks
        assert found(store, "低保") == expected(store, "低保")
    finally:
        store.close()
