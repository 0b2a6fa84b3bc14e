"""The gongkai spider's callbacks on in-memory responses: arguments, requests and their meta, items, stats."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from crawl_support import callback_output
from scrapy import Request
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, Response, XmlResponse
from scrapy.utils.misc import is_generator_with_return_value
from scrapy.utils.request import request_from_dict
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from gongkai_spider.demo import build_portal
from gongkai_spider.demo.portal import Portal
from gongkai_spider.errors import BadArgument
from gongkai_spider.items import ArticleItem
from gongkai_spider.spiders.gongkai import _CALLBACKS, GongkaiSpider

BASE = "http://127.0.0.1:8765"


def make_spider(**args: Any) -> GongkaiSpider:
    crawler = get_crawler(GongkaiSpider, settings_dict={"GONGKAI_MAX_PAGES": 0})
    return GongkaiSpider.from_crawler(crawler, **args)


def stat(spider: GongkaiSpider, key: str) -> Any:
    return spider.crawler.stats.get_value(key)


def response_for(portal: Portal, path: str, request: Request | None = None) -> Response:
    method, sent = (request.method, request.body) if request is not None else ("GET", b"")
    status, body, content_type = portal.respond(method, path, sent, dict(request.headers.to_unicode_dict())
                                                if request is not None else {})
    assert status == 200, (method, path)
    cls = XmlResponse if content_type.startswith("text/xml") else HtmlResponse
    return cls(BASE + path, body=body, headers={"Content-Type": content_type}, request=request)


def start_requests(spider: GongkaiSpider) -> list[Request]:
    async def collect() -> list[Request]:
        return [r async for r in spider.start()]

    return asyncio.run(collect())


@pytest.fixture(scope="module")
def portal() -> Portal:
    return build_portal({"seed": 25, "trs": 45, "hanweb": 50}, spam=1)


# ----------------------------------------------------------------------------------------------- arguments


def test_demo_site_joins_start_urls_to_base_url_and_allows_its_host() -> None:
    spider = make_spider(site="demo", base_url=BASE)
    assert spider.site_id == "demo"
    assert spider.start_urls == [BASE + "/xxgk/index.html", BASE + "/zwgk/tzgg/index.html",
                                 BASE + "/col/col282/index.html", BASE + "/col/col283/index.html",
                                 BASE + "/jpaas/col/index.html", BASE + "/gkmlpt/index", BASE + "/zcjd/index.html"]
    assert spider.allowed_domains == ["127.0.0.1"]
    requests = start_requests(spider)
    # the configured JSON API column starts at its first API request, not at its start URL
    assert [r.url for r in requests] == [*spider.start_urls[:-1], BASE + "/api/news/list"]
    assert requests[-1].method == "POST" and requests[-1].meta["gongkai"]["column"] == spider.start_urls[-1]
    assert requests[0].meta["gongkai"] == {"kind": "listing", "site": "demo", "column": requests[0].url, "page": 1}


def test_start_url_argument_crawls_one_column_of_its_host() -> None:
    spider = make_spider(start_url="http://www.example.gov.cn/zwgk/tzgg/index.html", max_pages="2",
                         since="2024-05-01", refresh="1")
    assert (spider.site_id, spider.allowed_domains) == ("www.example.gov.cn", ["www.example.gov.cn"])
    assert (spider.max_pages, spider.since, spider.refresh) == (2, date(2024, 5, 1), True)


def test_unknown_site_closes_with_site_config_missing(caplog: pytest.LogCaptureFixture) -> None:
    spider = make_spider(site="no_such_portal")
    with pytest.raises(CloseSpider) as closed:
        start_requests(spider)
    assert closed.value.reason == "site_config_missing"
    assert "no site config 'no_such_portal'" in caplog.text


def test_broken_site_config_closes_with_site_config_invalid(tmp_path) -> None:
    (tmp_path / "broken.yaml").write_text("start_urls: [http://x.gov.cn/\n", encoding="utf-8")
    spider = make_spider(site="broken", sites_dir=str(tmp_path))
    with pytest.raises(CloseSpider) as closed:
        start_requests(spider)
    assert closed.value.reason == "site_config_invalid"


@pytest.mark.parametrize(("args", "message"), [
    ({}, "needs -a site=NAME or -a start_url=URL"),
    ({"site": "demo"}, "pass -a base_url="),
    ({"start_url": "www.example.gov.cn/list"}, "absolute http(s) URL"),
    ({"start_url": "http://a.gov.cn/", "max_pages": "ten"}, "max_pages must be a whole number"),
    ({"start_url": "http://a.gov.cn/", "since": "24/05/2024"}, "since must be a date YYYY-MM-DD"),
    ({"start_url": "http://a.gov.cn/", "refresh": "maybe"}, "refresh must be 1 or 0"),
])
def test_bad_arguments_are_clear_errors(args: dict, message: str) -> None:
    with pytest.raises(BadArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_spider(**args)


def test_max_pages_comes_from_argument_then_site_then_setting() -> None:
    assert make_spider(site="mof").max_pages == 5
    assert make_spider(site="mof", max_pages="0").max_pages == 0
    crawler = get_crawler(GongkaiSpider, settings_dict={"GONGKAI_MAX_PAGES": 7})
    assert GongkaiSpider.from_crawler(crawler, start_url="http://a.gov.cn/").max_pages == 7


# ----------------------------------------------------------------------------------------------- listing


def test_listing_yields_detail_requests_then_next_pages(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(spider)[1]  # the TRS column
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    kinds = [r.meta["gongkai"]["kind"] for r in out]
    assert kinds == ["detail"] * 20 + ["listing"] * 2
    first = out[0].meta["gongkai"]
    assert first == {"kind": "detail", "site": "demo", "column": BASE + "/zwgk/tzgg/index.html",
                     "list_url": BASE + "/zwgk/tzgg/index.html", "pinned": False, "list_date": "2024-06-28",
                     "list_title": "市教育局关于公共文化服务有关事项的公示", "link": out[0].url}
    assert [(r.url, r.meta["gongkai"]["page"]) for r in out[-2:]] == [
        (BASE + "/zwgk/tzgg/index_1.html", 2), (BASE + "/zwgk/tzgg/index_2.html", 3)]
    assert out[0].callback == spider.parse_detail and out[-1].callback == spider.parse_listing
    assert (stat(spider, "gongkai/listing/pages"), stat(spider, "gongkai/listing/links")) == (1, 20)


def test_requests_share_one_callback_object_per_method(portal: Portal) -> None:
    """Scrapy's generator-return check caches its verdict per callback object, weakly: the spider's requests must
    all carry the one bound method the spider holds, or the check re-parses the callback's source (ast)."""
    spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(spider)[1]
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    assert start.callback is spider.parse_listing and start.errback is spider.request_failed
    assert all(r.callback is spider.parse_detail for r in out[:20])
    assert all(r.callback is spider.parse_listing and r.errback is spider.request_failed for r in out[-2:])
    for name in _CALLBACKS:  # and what the check would find stays true, checked here once instead
        assert not is_generator_with_return_value(getattr(spider, name)), name
    assert request_from_dict(out[0].to_dict(spider=spider), spider=spider).callback is spider.parse_detail


def test_listing_pages_are_scheduled_once_per_column(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(spider)[1]
    callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    page_two = Request(BASE + "/zwgk/tzgg/index_1.html", meta={"gongkai": {
        "kind": "listing", "site": "demo", "column": start.url, "page": 2}})
    again = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index_1.html", page_two)))
    assert [r for r in again if r.meta["gongkai"]["kind"] == "listing"] == []


def test_max_pages_limits_listing_pages_per_column(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE, max_pages="2")
    start = start_requests(spider)[1]
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    assert [r.url for r in out if r.meta["gongkai"]["kind"] == "listing"] == [BASE + "/zwgk/tzgg/index_1.html"]
    assert stat(spider, "gongkai/listing/max_pages_reached") == 1


def test_pinned_and_off_site_links(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(spider)[0]  # the seed-template column
    out = callback_output(spider.parse_listing(response_for(portal, "/xxgk/index.html", start)))
    details = [r for r in out if r.meta["gongkai"]["kind"] == "detail"]
    assert details[0].meta["gongkai"]["pinned"] is True
    assert not any("gov.cn" in r.url for r in out)
    assert stat(spider, "gongkai/listing/offsite") == 1
    assert out[-1].url == BASE + "/xxgk/list_2.html"


def test_hanweb_column_and_dataproxy_group(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(spider)[2]
    out = callback_output(spider.parse_listing(response_for(portal, "/col/col282/index.html", start)))
    assert len([r for r in out if r.meta["gongkai"]["kind"] == "detail"]) == 45
    group = out[-1]
    assert "dataproxy.jsp?startrecord=46&endrecord=90" in group.url
    # asked for the way jpage.js does: POST, the column's fields as a form, XHR, the column page as Referer
    assert group.method == "POST" and b"columnid=282" in group.body and b"unitid=62345" in group.body
    assert group.headers[b"X-Requested-With"] == b"XMLHttpRequest"
    assert group.headers[b"Referer"] == (BASE + "/col/col282/index.html").encode()
    path = group.url[len(BASE):]
    more = callback_output(spider.parse_listing(response_for(portal, path, group)))
    assert [r.url.rsplit("/", 1)[1] for r in more] == [f"art_282_{200046 + i}.html" for i in range(5)]


def test_empty_listing_is_counted(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    empty = build_portal({"trs": 0})
    out = callback_output(spider.parse_listing(response_for(empty, "/zwgk/tzgg/index.html", start_requests(spider)[1])))
    assert out == [] and stat(spider, "gongkai/listing/empty") == 1


# ----------------------------------------------------------------------------------------------- detail


def _detail_request(spider: GongkaiSpider, url: str) -> Request:
    return spider._request(url, "detail", column=BASE + "/zwgk/tzgg/index.html",
                           list_url=BASE + "/zwgk/tzgg/index.html", pinned=False, list_date="2024-06-28")


def test_detail_page_becomes_one_item(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    article = next(a for a in portal.expected if a["column"] == "hanweb")
    (item,) = callback_output(spider.parse_detail(response_for(portal, article["url"], _detail_request(spider, BASE + article["url"]))))
    assert isinstance(item, ArticleItem)
    assert item["url"] == BASE + article["url"] and item["site"] == "demo"
    assert item["list_url"] == BASE + "/zwgk/tzgg/index.html"
    assert item["title"] == article["title"]
    assert item["body"].splitlines()[0] == article["body_first"]
    assert item["_page_host"] == "127.0.0.1" and isinstance(item["_page_signals"], dict)
    assert stat(spider, "gongkai/detail/items") == 1


def test_multi_page_article_fetches_continuations_in_order_and_joins_bodies(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    article = next(a for a in portal.expected if a["column"] == "trs" and a["paragraphs"] == 9)
    (request,) = callback_output(spider.parse_detail(response_for(portal, article["url"], _detail_request(spider, BASE + article["url"]))))
    assert request.url == BASE + article["url"].replace(".html", "_1.html")
    assert request.meta["gongkai"]["kind"] == "continuation" and request.dont_filter
    (request2,) = callback_output(spider.parse_continuation(response_for(portal, request.url[len(BASE):], request), **request.cb_kwargs))
    assert request2.url.endswith("_2.html")
    (item,) = callback_output(spider.parse_continuation(response_for(portal, request2.url[len(BASE):], request2), **request2.cb_kwargs))
    lines = item["body"].splitlines()
    assert (len(lines), lines[0], lines[-1]) == (9, article["body_first"], article["body_last"])
    assert item["url"] == BASE + article["url"]
    assert stat(spider, "gongkai/detail/continuation_pages") == 2


def test_failed_continuation_keeps_the_pages_fetched(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    article = next(a for a in portal.expected if a["column"] == "trs" and a["paragraphs"] == 9)
    (request,) = callback_output(spider.parse_detail(response_for(portal, article["url"], _detail_request(spider, BASE + article["url"]))))
    failure = Failure(ConnectionRefusedError("refused"))
    failure.request = request
    (item,) = request.errback(failure)
    assert len(item["body"].splitlines()) == 3
    assert stat(spider, "gongkai/detail/continuation_failed") == 1


def test_not_an_article_is_skipped_with_its_reason(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    listing = response_for(portal, "/zwgk/tzgg/index.html", _detail_request(spider, BASE + "/zwgk/tzgg/index.html"))
    assert callback_output(spider.parse_detail(listing)) == []
    skipped = {k: v for k, v in spider.crawler.stats.get_stats().items() if k.startswith("gongkai/extract/skipped/")}
    assert skipped == {"gongkai/extract/skipped/listing": 1}


def test_start_url_that_is_an_article_is_extracted(portal: Portal) -> None:
    article = next(a for a in portal.expected if a["column"] == "seed")
    spider = make_spider(start_url=BASE + article["url"])
    (item,) = callback_output(spider.parse_listing(response_for(portal, article["url"], start_requests(spider)[0])))
    assert item["title"] == article["title"] and item["list_url"] is None


# ----------------------------------------------------------------------------------------------- files


PDF_TITLE = "2024年一季度经济运行情况"


def _file_request(spider: GongkaiSpider, url: str, title: str | None = PDF_TITLE) -> Request:
    return spider._request(url, "detail", column=BASE + "/zwgk/tzgg/index.html",
                           list_url=BASE + "/zwgk/tzgg/index.html", list_date="2024-05-16", list_title=title)


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
    ("application/octet-stream", b"PK\x03\x04\x14\x00\x06\x00word/document.xml"),  # a .docx, generic type
    ("text/html; charset=utf-8", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"),  # a .doc labelled as a page
    ("application/vnd.ms-excel", b"\x09\x08\x10\x00\x00\x06\x05\x00"),  # by its type alone
])
def test_file_at_a_detail_url_becomes_an_attachment_item(content_type: str, body: bytes) -> None:
    from pipelines.offline import process_offline

    spider = make_spider(site="demo", base_url=BASE)
    url = BASE + "/art/report7.html"
    response = Response(url, body=body, headers={"Content-Type": content_type}, request=_file_request(spider, url))
    (item,) = callback_output(spider.parse_detail(response))
    assert (item["title"], item["publish_time"], item["body"]) == (PDF_TITLE, "2024-05-16", "")
    assert item["attachments"] == [{"name": PDF_TITLE, "url": url}]
    assert item["list_url"] == BASE + "/zwgk/tzgg/index.html" and item["_page_site_hosts"] == ["127.0.0.1"]
    assert (stat(spider, "gongkai/detail/file_pages"), stat(spider, "gongkai/detail/items")) == (1, 1)
    doc = process_offline(dict(item))  # clean -> validate -> spam -> dedup keep it
    assert "dropped" not in doc, doc
    assert doc["publish_time"].isoformat() == "2024-05-16T00:00:00+08:00" and doc["spam"]["is_spam"] is False


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", ""])
def test_page_with_a_wrong_content_type_is_still_extracted(portal: Portal, content_type: str) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    article = next(a for a in portal.expected if a["column"] == "hanweb")
    body, _ = portal.lookup(article["url"])
    headers = {"Content-Type": content_type} if content_type else {}
    response = HtmlResponse(BASE + article["url"], body=b"\xef\xbb\xbf\n " + body, headers=headers,
                            request=_detail_request(spider, BASE + article["url"]))
    (item,) = callback_output(spider.parse_detail(response))
    assert item["title"] == article["title"] and item["body"]
    assert stat(spider, "gongkai/detail/file_pages") is None


def test_empty_file_response_is_an_empty_page_not_a_file() -> None:
    spider = make_spider(site="demo", base_url=BASE)
    url = BASE + "/art/report7.html"
    response = Response(url, body=b"", headers={"Content-Type": "application/pdf"}, request=_file_request(spider, url))
    assert callback_output(spider.parse_detail(response)) == []
    assert stat(spider, "gongkai/extract/skipped/empty") == 1 and stat(spider, "gongkai/detail/file_pages") is None


def test_file_without_a_listing_title_is_dropped_by_validate_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    from pipelines.offline import process_offline

    spider = make_spider(start_url=BASE + "/zwgk/tzgg/index.html")
    url = BASE + "/art/report7.html"
    response = Response(url, body=b"%PDF-1.7\n", headers={"Content-Type": "application/pdf"},
                        request=_file_request(spider, url, title=None))
    (item,) = callback_output(spider.parse_detail(response))
    assert "without a listing title" in caplog.text
    assert process_offline(dict(item))["dropped"] == "no_title"


def test_items_carry_the_site_hosts() -> None:
    spider = make_spider(start_url="http://www.example.com/xxgk/index.html,http://xxgk.example.org/list/")
    assert spider.site_hosts == ("www.example.com", "xxgk.example.org")


class _ProvenPool:
    """An extraction pool whose workers are up and have answered; ``extract`` does what ``outcome`` says."""

    proven = True

    def __init__(self, outcome: Any) -> None:
        self.outcome, self.calls, self.urgent = outcome, [], []

    async def extract(self, *args: Any, urgent: bool = False) -> Any:
        self.calls.append(args)
        self.urgent.append(urgent)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome(*args) if callable(self.outcome) else self.outcome


def test_an_article_page_extracted_in_a_worker_brings_its_fingerprint_and_a_multi_page_one_does_not(
        portal: Portal) -> None:
    from gongkai_spider.extract_workers import _extract_in_worker
    from pipelines.dedup import DedupPipeline, fingerprint_fields, page_fingerprint

    spider = make_spider(site="demo", base_url=BASE)
    spider._extract_pool = _ProvenPool(_extract_in_worker)  # the worker's function, run here
    article = next(a for a in portal.expected if a["column"] == "hanweb")
    request = _detail_request(spider, BASE + article["url"])
    (item,) = callback_output(spider.parse_detail(response_for(portal, article["url"], request)))
    assert item["_page_fingerprint"] == page_fingerprint(item["title"], item["body"])
    done = DedupPipeline().process_item(dict(item))  # takes it, and gets what it would have computed
    assert {k: done[k] for k in ("content_hash", "simhash", "simhash2")} == fingerprint_fields(item["title"], item["body"])

    multi = next(a for a in portal.expected if a["column"] == "trs" and a["paragraphs"] == 9)
    request = _detail_request(spider, BASE + multi["url"])
    (follow,) = callback_output(spider.parse_detail(response_for(portal, multi["url"], request)))
    while isinstance(follow, Request):
        (follow,) = callback_output(spider.parse_continuation(response_for(portal, follow.url[len(BASE):], follow),
                                                              **follow.cb_kwargs))
    assert "_page_fingerprint" not in follow  # its first page's title and body are not the article's


def test_listing_pages_go_to_proven_workers_and_give_the_same_requests(portal: Portal) -> None:
    from gongkai_spider.extract_workers import _extract_in_worker

    inline_spider = make_spider(site="demo", base_url=BASE)
    start = start_requests(inline_spider)[1]
    inline = callback_output(inline_spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    spider = make_spider(site="demo", base_url=BASE)
    spider._extract_pool = pool = _ProvenPool(_extract_in_worker)  # the worker's function, run here
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    assert len(pool.calls) == 1 and pool.calls[0][4][0] is spider._site_for(start.url)  # the column's config
    assert pool.urgent == [True]  # ahead of the article pages queued for the worker
    assert [(r.url, r.meta["gongkai"]) for r in out] == [(r.url, r.meta["gongkai"]) for r in inline]
    assert stat(spider, "gongkai/listing/offloaded") == 1


def test_a_listing_page_the_workers_give_up_on_ends_its_column_with_an_error(portal: Portal, caplog) -> None:
    from gongkai_spider.extract_workers import ExtractTimeout

    spider = make_spider(site="demo", base_url=BASE)
    spider._extract_pool = _ProvenPool(ExtractTimeout("a worker spent more than 60 s on the page"))
    start = start_requests(spider)[1]
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    assert out == []
    assert stat(spider, "gongkai/extract/timeout") == 1 and stat(spider, "gongkai/listing/extract_given_up") == 1
    assert any(r.levelname == "ERROR" and "/zwgk/tzgg/index.html" in r.getMessage() for r in caplog.records)


def test_an_error_of_the_listing_extraction_in_a_worker_is_raised_again_here(portal: Portal) -> None:
    spider = make_spider(site="demo", base_url=BASE)
    spider._extract_pool = _ProvenPool(ValueError("a bug in extract_listing"))
    start = start_requests(spider)[1]
    out = callback_output(spider.parse_listing(response_for(portal, "/zwgk/tzgg/index.html", start)))
    assert len(out) == 22  # extracted here instead: the same requests as inline
