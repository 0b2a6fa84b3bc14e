"""Not-article detection (extract/pagekind.py): challenge, login, error, listing and empty pages, and
article pages that only look like one of them.

Fixtures: tests/fixtures/not_article/<case>/ with page.html, url.txt and expected.json
{"status": HTTP status, "reason": expected reason or null for an article}.
"""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest

from gongkai_spider.extract import extract_detail
from gongkai_spider.extract.body import find_body
from gongkai_spider.extract.encoding import decode_html
from gongkai_spider.extract.pagekind import classify_page

FIXTURES = Path(__file__).parent / "fixtures" / "not_article"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "page.html").exists())


def _case(case: str) -> tuple[bytes, str, dict]:
    folder = FIXTURES / case
    return ((folder / "page.html").read_bytes(), (folder / "url.txt").read_text(encoding="utf-8").strip(),
            json.loads((folder / "expected.json").read_text(encoding="utf-8")))


def _classify(html: str | bytes, status: int = 200) -> str | None:
    text = decode_html(html) if isinstance(html, bytes) else html
    tree = lxml.html.document_fromstring(text)
    body = find_body(tree, url="", title=None).text
    return classify_page(tree, status=status, body_text=body, url="")


def test_every_reason_has_a_fixture():
    reasons = {_case(c)[2]["reason"] for c in CASES}
    assert reasons == {"challenge", "login", "empty", "error_page", "listing", None}


@pytest.mark.parametrize("case", CASES)
def test_classify_page(case):
    raw, _, expected = _case(case)
    assert _classify(raw, expected["status"]) == expected["reason"]


@pytest.mark.parametrize("case", CASES)
def test_extract_detail_reports_the_reason(case):
    raw, url, expected = _case(case)
    result = extract_detail(raw, url, status=expected["status"])
    assert result["reason"] == expected["reason"]
    assert result["kind"] == ("article" if expected["reason"] is None else "not_article")


def test_url_never_decides():
    raw, _, expected = _case("listing_at_detail_url")
    for url in ("http://www.example.gov.cn/col/col1/index.html", "http://www.example.gov.cn/202405/t1_2.html"):
        assert extract_detail(raw, url)["reason"] == expected["reason"]


def test_challenge_status_without_script_on_a_tiny_page():
    assert _classify("<html><body><p>Please wait...</p></body></html>", status=521) == "challenge"


def test_tiny_page_setting_a_cookie_is_a_challenge_even_with_200():
    html = "<html><body><script>document.cookie='acw_sc__v2=abc';location.reload();</script></body></html>"
    assert _classify(html) == "challenge"


@pytest.mark.parametrize("status", [403, 404, 500, 502, 503])
def test_error_statuses(status):
    html = "<html><body><h1>出错</h1><p>请稍后再试</p></body></html>"
    assert _classify(html, status=status) == "error_page"


def test_error_title_with_a_real_body_stays_an_article():
    paragraph = "<p>近期，部分用户反映社保缴费页面出现系统错误提示，经排查系网络升级所致，现已恢复正常。</p>"
    html = f"<html><head><title>关于社保缴费系统错误的说明</title></head><body>{paragraph * 4}</body></html>"
    assert _classify(html) is None


def test_nav_only_page_is_a_listing_not_empty():
    links = "".join(f'<li><a href="/a/{i}.html">这是第{i}条新闻的标题文字</a></li>' for i in range(40))
    assert _classify(f"<html><body><ul>{links}</ul></body></html>") == "listing"


def test_blank_page_is_empty():
    assert _classify("<html><head><title>某某网</title></head><body><div></div></body></html>") == "empty"


def test_empty_body_with_an_attachment_is_an_article():
    html = '<html><body><a href="/files/2024/notice.pdf">下载</a></body></html>'
    assert _classify(html) is None


def test_long_article_skips_the_checks_quickly():
    paragraph = "<p>我市持续推进政务服务标准化建设，群众办事更加便利，满意度稳步提升。</p>"
    html = f"<html><body><input type='password'>{paragraph * 10}</body></html>"
    assert _classify(html) is None
