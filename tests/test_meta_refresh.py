"""ByteMetaRefreshMiddleware (middlewares/redirects.py) decides exactly as Scrapy's MetaRefreshMiddleware,
without decoding pages whose bytes rule a refresh out."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from gongkai_spider import settings as project_settings
from gongkai_spider.demo.portal import build_portal
from gongkai_spider.middlewares.redirects import ByteMetaRefreshMiddleware, no_meta_refresh

FIXTURES = Path(__file__).parent / "fixtures"
URL = "http://www.example.gov.cn/xxgk/index.html"
REFRESH = '<meta http-equiv="Refresh" content="0; url=/zwgk/new.html">'


def _page(text: str, encoding: str, *, declared: bool = True, bom: bytes = b"") -> tuple[bytes, str]:
    head = f'<meta charset="{encoding}">' if declared else ""
    body = bom + f"<html><head>{head}<title>政务公开</title>{text}</head><body><p>正文</p></body></html>".encode(
        encoding)
    return body, "text/html"


def _cases() -> list[tuple[str, bytes, str]]:
    cases = []
    for encoding in ("utf-8", "gb2312", "gbk", "gb18030", "big5", "utf-16", "iso-2022-jp", "cp1252"):
        for text in ("", REFRESH, REFRESH.upper(), REFRESH.replace("0;", "300;"),
                     "<!-- " + REFRESH + " -->", "<script>var refresh = 1;</script>", "刷新" * 3000 + REFRESH):
            try:
                body, content_type = _page(text, encoding)
            except UnicodeEncodeError:
                continue
            cases.append((f"{encoding}:{text[:20]}", body, content_type))
    cases.append(("undeclared", _page(REFRESH, "utf-8", declared=False)[0], "text/html"))
    cases.append(("header charset", _page(REFRESH, "gbk", declared=False)[0], "text/html; charset=gbk"))
    cases.append(("utf-16 bom", _page(REFRESH, "utf-16-le", declared=False, bom=b"\xff\xfe")[0], "text/html"))
    cases.append(("escaped letters", b'<html><head><meta charset="iso-2022-jp"><meta http-equiv="ref\x1b(Bresh" '
                  b'content="0; url=/x.html"></head></html>', "text/html"))
    cases += [(f"fixture {p.parent.name}/{p.name}", p.read_bytes(), "text/html")
              for p in sorted(FIXTURES.rglob("*.html"))[:80]]
    portal = build_portal({"seed": 3, "trs": 3, "hanweb": 3})
    cases += [(f"portal {path}", body, content_type) for path, (body, content_type) in list(portal.pages.items())[:40]]
    return cases


def _outcome(result: Request | Response) -> tuple:
    if isinstance(result, Request):
        return ("redirect", result.url, result.meta.get("redirect_reasons"))
    return ("response", result.url)


@pytest.mark.parametrize(("name", "body", "content_type"), _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_same_decisions_as_scrapys(name, body, content_type):
    crawler = get_crawler(settings_dict={})
    ours, scrapys = ByteMetaRefreshMiddleware.from_crawler(crawler), MetaRefreshMiddleware.from_crawler(crawler)
    request = Request(URL)

    def response() -> HtmlResponse:
        return HtmlResponse(URL, body=body, headers={"Content-Type": content_type}, request=request)

    assert _outcome(ours.process_response(request, response())) == _outcome(
        scrapys.process_response(request, response())), name


def test_a_page_without_refresh_is_not_decoded():
    body, content_type = _page("", "gbk")
    page = HtmlResponse(URL, body=body, headers={"Content-Type": content_type}, request=Request(URL))
    crawler = get_crawler(settings_dict={})
    assert ByteMetaRefreshMiddleware.from_crawler(crawler).process_response(Request(URL), page) is page
    assert page._cached_ubody is None  # Scrapy's own middleware would have decoded the whole page
    assert not no_meta_refresh(HtmlResponse(URL, body=_page(REFRESH, "gbk")[0], request=Request(URL)))


def test_the_project_uses_it_in_scrapys_place():
    middlewares = project_settings.DOWNLOADER_MIDDLEWARES
    assert middlewares["scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware"] is None
    assert middlewares["gongkai_spider.middlewares.redirects.ByteMetaRefreshMiddleware"] == 580
