"""Bad input (issue 5, part 5): one crawl of a local portal whose listing links to broken pages.

Each bad page must end in a stored document with the right values or a counted, logged reason — never a crash,
never garbage in the store. Pages (tests/fixtures/bad_input/): a good article (the baseline), truncated and
malformed HTML, a 0-byte body, a page over DOWNLOAD_MAXSIZE, GBK bytes declared as UTF-8, a redirect loop, an
off-site link, a PDF at a detail URL, and metadata labels/values with ``$`` and ``.`` (never MongoDB keys).
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from crawl_support import FIXTURES, html, run_scrapy, serve

from gongkai_spider.extract import extract_detail
from gongkai_spider.normalize import canonical_url, doc_id

BAD = FIXTURES / "bad_input"
TITLES = {
    "good": "关于做好2024年度政务公开工作的通知",
    "truncated": "市财政局关于预算执行情况的报告",
    "truncated2": "市审计局关于2023年度审计整改情况的报告",
    "cut": "关于征集2024年民生实事项目的公告",
    "gbk": "关于开展安全生产大检查的通知",
    "huge": "2023年度市本级决算公开",
    "malformed": "关于公布第二批市级非物质文化遗产名录的通知",
    "labels": "关于印发财政专项资金管理办法的通知",
}
PARAGRAPH_1 = "各区县人民政府，市政府各部门、各直属机构：为深入贯彻落实政府信息公开条例，进一步提升政务公开质量和实效，现就有关事项通知如下。"
MAXSIZE = 128 * 1024


def article(name: str, date: str = "2024-05-24") -> str:
    return (BAD / "article.html").read_text(encoding="utf-8").replace("{title}", TITLES[name]).replace("{date}", date)


def cut_after(page: str, text: str) -> bytes:
    """The page's UTF-8 bytes up to and including ``text``."""
    data = page.encode("utf-8")
    return data[: data.index(text.encode("utf-8")) + len(text.encode("utf-8"))]


def redirect(to: str):
    return 302, [("Location", to), ("Content-Type", "text/html")], b""


def stored_docs(db_path) -> dict[str, dict]:
    """Stored articles by URL path, each the document as the store returns it (JSON)."""
    with sqlite3.connect(db_path) as db:
        columns = [row[1] for row in db.execute("pragma table_info(articles)")]
        column = "doc" if "doc" in columns else next(c for c in columns if c in ("document", "data", "json"))
        rows = db.execute(f"select url, {column} from articles").fetchall()
    return {url.split("/", 3)[3]: json.loads(doc) for url, doc in rows}


def all_keys(value) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k2 for v in value.values() for k2 in all_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in all_keys(v)]
    return []


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    good = article("good").encode("utf-8")
    with serve({"/art/reprint.html": html(good)}) as offsite:
        listing = (BAD / "listing.html").read_text(encoding="utf-8").replace(
            "{offsite}", offsite.base.replace("127.0.0.1", "localhost"))
        routes = {
            "/list/index.html": html(listing),
            "/art/good.html": html(good),
            # a truncated file: cut mid-paragraph (on a character boundary / inside a 3-byte character)
            "/art/truncated.html": html(cut_after(article("truncated", "2024-05-23"), "围绕稳增长、促改革、调结构")),
            "/art/truncated2.html": html(cut_after(article("truncated2", "2024-05-23"), "围绕稳增长、促改革、调结构")[:-1]),
            # a truncated transfer: Content-Length promises more than arrives before the connection closes
            "/art/cut.html": (200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "9000"),
                                    ("Connection", "close")], article("cut").encode("utf-8")[:1200]),
            "/art/malformed.html": html((BAD / "malformed.html").read_bytes()),
            "/art/empty.html": html(b""),
            "/art/huge.html": html(article("huge", "2024-05-20").replace(
                "</body>", "<!-- " + "填充" * MAXSIZE + " --></body>").encode("utf-8")),
            # header and <meta> both say UTF-8, the bytes are GBK
            "/art/gbk.html": html(article("gbk", "2024-05-19").encode("gbk")),
            "/loop/a.html": redirect("/loop/b.html"),
            "/loop/b.html": redirect("/loop/a.html"),
            # a detail URL that serves a PDF
            "/art/report7.html": (200, [("Content-Type", "application/pdf")], (BAD / "report.pdf").read_bytes()),
            "/art/labels.html": html((BAD / "labels.html").read_bytes()),
        }
        with serve(routes) as server:
            result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/list/index.html",
                                 "-s", f"DOWNLOAD_MAXSIZE={MAXSIZE}", "-s", "REDIRECT_MAX_TIMES=5"], tmp)
            hits = {path: server.hits(path) for path in routes}
        offsite_hits = len(offsite.seen)
    return {"result": result, "stats": result.stats, "docs": stored_docs(tmp / "store.sqlite3"), "hits": hits,
            "offsite_hits": offsite_hits, "quarantine_db": tmp / "store.sqlite3"}


def test_the_run_survives_every_bad_page(crawl):
    result, stats = crawl["result"], crawl["stats"]
    assert stats, result.log[-4000:]
    assert "Traceback" not in result.log, result.log[-4000:]
    assert "spider_exceptions" not in json.dumps(sorted(stats)), result.log[-4000:]
    assert stats["finish_reason"] == "finished"


def test_good_article_is_stored_exactly(crawl):
    doc = crawl["docs"]["art/good.html"]
    assert doc["title"] == TITLES["good"]
    assert doc["publish_time"].startswith("2024-05-24T09:30:00") and doc["publish_time"].endswith("+08:00")
    assert doc["source"] == "市人民政府办公室"
    assert doc["body"].splitlines()[0] == PARAGRAPH_1 and len(doc["body"].splitlines()) == 5


def test_truncated_html_keeps_what_arrived(crawl):
    doc = crawl["docs"]["art/truncated.html"]
    assert doc["title"] == TITLES["truncated"]
    assert doc["body"].splitlines()[0] == PARAGRAPH_1
    assert doc["body"].endswith("围绕稳增长、促改革、调结构") and "<" not in doc["body"]


def test_truncated_inside_a_character_stores_no_replacement_character(crawl):
    doc = crawl["docs"]["art/truncated2.html"]
    assert doc["body"].endswith("促改革、调结") and "\ufffd" not in doc["body"]


def test_truncated_transfer_is_a_counted_failure(crawl):
    assert "art/cut.html" not in crawl["docs"]
    failed = {k: v for k, v in crawl["stats"].items() if k.startswith("gongkai/fetch/failed/detail/")}
    assert len(failed) >= 2, failed  # the cut transfer and the oversized page, each under its own reason


def test_malformed_html_is_parsed_leniently(crawl):
    doc = crawl["docs"]["art/malformed.html"]
    assert doc["title"] == TITLES["malformed"]
    assert doc["publish_time"].startswith("2024-05-22T10:00:00")
    assert "市政府批准公布第二批市级非物质文化遗产代表性项目名录" in doc["body"]
    assert "请各地认真组织实施，确保项目保护工作取得实效。" in doc["body"]


def test_zero_byte_page_is_counted_not_stored(crawl):
    assert "art/empty.html" not in crawl["docs"]
    assert crawl["stats"]["gongkai/extract/skipped/empty"] == 1
    assert "not an article (empty)" in crawl["result"].log and "empty.html" in crawl["result"].log


def test_page_over_maxsize_is_counted_not_stored(crawl):
    assert "art/huge.html" not in crawl["docs"]
    assert crawl["stats"]["gongkai/fetch/failed/detail/downloadcancelled"] == 1
    assert "larger than download max size" in crawl["result"].log and "huge.html" in crawl["result"].log


def test_gbk_bytes_declared_utf8_are_decoded_right(crawl):
    doc = crawl["docs"]["art/gbk.html"]
    assert doc["title"] == TITLES["gbk"]
    assert doc["body"].splitlines()[0] == PARAGRAPH_1 and "\ufffd" not in doc["body"]


def test_redirect_loop_is_counted_not_followed_forever(crawl):
    assert not any(path.startswith("loop/") for path in crawl["docs"])
    assert crawl["hits"]["/loop/a.html"] == 1 and crawl["hits"]["/loop/b.html"] == 1
    assert crawl["stats"]["gongkai/fetch/redirect_loop"] == 1
    assert crawl["stats"]["gongkai/fetch/failed/detail/ignored"] >= 1
    assert "redirect loop, giving up" in crawl["result"].log


def test_offsite_link_is_not_fetched(crawl):
    assert crawl["offsite_hits"] == 0
    assert crawl["stats"]["gongkai/listing/offsite"] == 1


def test_pdf_detail_is_not_stored_as_html_text(crawl):
    assert crawl["hits"]["/art/report7.html"] == 1
    assert not any("%PDF" in (doc.get("body") or "") or "endobj" in (doc.get("body") or "")
                   for doc in crawl["docs"].values())


def test_pdf_detail_is_recorded_as_an_attachment(crawl):
    doc = crawl["docs"]["art/report7.html"]
    assert doc["title"] == "2024年一季度经济运行情况"
    [attachment] = doc["attachments"]
    assert {k: attachment[k] for k in ("name", "url")} == {"name": "2024年一季度经济运行情况", "url": doc["url"]}
    # the file fetched as the detail page is kept and read, not downloaded a second time (hits == 1 above)
    assert attachment["status"] == "downloaded" and attachment["format"] == "pdf" and attachment["sha1"]
    assert doc["publish_time"].startswith("2024-05-16")
    assert doc["body"] == "" and doc["raw"]["title"] == "2024年一季度经济运行情况"
    stats = crawl["stats"]
    assert stats["gongkai/detail/file_pages"] == 1
    assert stats["gongkai/validate/attachment_only"] == 1  # kept by validate although body-less


def test_labels_with_dollar_and_dot_never_become_keys(crawl):
    doc = crawl["docs"]["art/labels.html"]
    assert doc["title"] == TITLES["labels"]
    assert not [k for k in all_keys(doc) if "$" in k or "." in k]
    assert "单笔支出超过$5.0万元的须经集体研究" in doc["body"]  # values keep their $ and .
    assert doc["doc_meta"]["doc_no"] == "测财预〔2024〕$12号"


def test_labels_with_dollar_and_dot_in_mongodb(tmp_path):
    """The same page through extraction, the offline pipeline chain and the MongoDB store (mongomock-ng)."""
    from gongkai_spider.storage import open_store
    from pipelines.offline import process_offline

    url = "http://127.0.0.1/art/labels.html"
    raw = extract_detail((BAD / "labels.html").read_bytes(), url)
    item = {k: raw[k] for k in ("title", "publish_time", "read_count", "author", "source", "summary", "keywords",
                                "body", "attachments", "doc_meta")}
    doc = process_offline({**item, "url": url, "site": "bad_input", "list_url": url,
                           "_page_signals": raw["signals"], "_page_host": "127.0.0.1"})
    # A site override or a future extractor could turn raw labels into keys: the store must escape them too.
    doc["doc_meta"] = {**doc["doc_meta"], "主题.分类": "财政.金融", "$where": "1", "a.b$c": "$where.value"}
    store = open_store({"MONGO_URI": "mongomock://bad-input-labels", "MONGO_DATABASE": "t"})
    try:
        assert store.upsert_many([doc])["new"] == 1
        back = store.get("articles", doc_id(canonical_url(url)))
        raw_mongo = store._col("articles").find_one({"_id": back["_id"]})
    finally:
        store.close()
    for stored in (back, raw_mongo):
        assert not [k for k in all_keys(stored) if "$" in k or "." in k]
    assert back["doc_meta"]["doc_no"] == "测财预〔2024〕$12号"
    assert "财政.金融" in back["doc_meta"].values() and "$where.value" in back["doc_meta"].values()
