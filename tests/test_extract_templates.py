"""Detail-page extraction pinned per template: every field of every fixture is its own test case.

Fixtures live in ``tests/fixtures/<template>/<case>/`` (page.html in the page's own encoding, url.txt,
expected.json, and site.txt naming the site config whose selectors apply). ``expected.json`` holds exact values of raw ``extract_detail`` fields plus a few body
checks (``body_startswith``, ``body_endswith``, ``body_contains``, ``body_excludes``, ``body_lines``); the
body itself belongs to ``extract/body.py`` and is pinned here only where a template makes a promise about
it. Re-run one case by hand with ``python -m gongkai_spider.extract page.html --url "$(cat url.txt)"``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import threading
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest

from gongkai_spider.commands.fixture import TEMPLATES, extract_case
from gongkai_spider.commands.fixture import cases as fixture_cases
from gongkai_spider.extract import extract_detail

FIXTURES = Path(__file__).parent / "fixtures"
BODY_CHECKS = ("body_startswith", "body_endswith", "body_contains", "body_excludes", "body_lines")
CASES = fixture_cases(FIXTURES)


def _case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


@functools.cache
def _extracted(case: Path) -> dict:
    return extract_case(case)  # with the site config a site.txt names, as `gongkai fixture` made it


def _expected(case: Path) -> dict:
    return json.loads((case / "expected.json").read_text(encoding="utf-8"))


def _field_params() -> list:
    return [pytest.param(case, field, id=f"{_case_id(case)}:{field}")
            for case in CASES for field in _expected(case)]


def test_every_template_has_fixtures() -> None:
    for template in TEMPLATES:
        assert any(case.parent.name == template for case in CASES), template


@pytest.mark.parametrize(("case", "field"), _field_params())
def test_fixture_field(case: Path, field: str) -> None:
    expected = _expected(case)[field]
    result = _extracted(case)
    body = result["body"]
    if field == "body_startswith":
        assert body.startswith(expected), body[:200]
    elif field == "body_endswith":
        assert body.endswith(expected), body[-200:]
    elif field == "body_contains":
        for text in expected:
            assert text in body
    elif field == "body_excludes":
        for text in expected:
            assert text not in body
    elif field == "body_lines":
        assert len(body.splitlines()) == expected
    else:
        assert result[field] == expected


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_result_has_every_contract_key(case: Path) -> None:
    result = _extracted(case)
    assert set(result) == {"kind", "reason", "title", "publish_time", "read_count", "author", "source", "summary",
                           "keywords", "body", "attachments", "doc_meta", "continuation_urls", "signals", "raw",
                           "overrides"}
    assert set(result["doc_meta"]) <= {"index_no", "issuer", "written_date", "published_date", "doc_no", "topic",
                                       "validity", "disclosure", "scope", "subject_words", "genre", "title", "other"}
    assert set(result["raw"]) <= {"meta_publish_time", "meta_source"}
    assert isinstance(result["signals"], dict)
    json.dumps(result, ensure_ascii=False)  # JSON-serialisable as the spider and the CLI need


# ----------------------------------------------------------------------------- small pages
def _page(body: str, head: str = "<title>关于做好2024年防汛工作的通知_某某县人民政府</title>") -> bytes:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()


_HEADLINE = "<h1>关于做好2024年防汛工作的通知</h1>"
_PROSE = "<div class='content'><p>各乡镇人民政府：当前已进入主汛期，现就做好防汛工作通知如下，请认真贯彻落实。</p></div>"
URL = "http://www.example.gov.cn/art/2024/6/3/art_1_1.html"


def _extract(body: str, url: str = URL, **kwargs) -> dict:
    return extract_detail(_page(body), url, **kwargs)


def test_related_list_dates_above_and_below_lose() -> None:
    sidebar = ("<ul class='news'><li><a href='/a.html'>全县防汛会议召开</a><span>发布时间：2024-05-30</span></li>"
               "<li><a href='/b.html'>汛前检查</a><span>2024-05-29</span></li></ul>")
    page = (sidebar + _HEADLINE + "<div class='info'>日期：2024-06-01　来源：县水利局</div>" + _PROSE + sidebar
            + "<div class='footer'>Copyright © 2024 某某县人民政府 2003-2024</div>")
    assert _extract(page)["publish_time"] == "2024-06-01"


def test_unlabelled_date_right_above_the_headline() -> None:
    page = "<div class='clock'>今天是2024年06月03日 星期一</div><div class='d'>2024-05-31</div>" + _HEADLINE + _PROSE
    assert _extract(page, url="http://www.example.gov.cn/news/1.html")["publish_time"] == "2024-05-31"
    clock_only = "<div class='clock'>今天是2024年06月03日 星期一</div>" + _HEADLINE + _PROSE
    assert _extract(clock_only, url="http://www.example.gov.cn/news/1.html")["publish_time"] is None


def test_byline_list_item_with_widget_links_is_not_a_related_entry() -> None:
    byline = ("<ul class='info'><li>发布时间：2024-06-01 <a href='javascript:window.print()'>打印</a></li>"
              "<li>来源：<a href='http://www.example.gov.cn/'>县水利局</a></li></ul>")
    result = _extract(_HEADLINE + byline + _PROSE, url="http://www.example.gov.cn/news/1.html")
    assert (result["publish_time"], result["source"]) == ("2024-06-01", "县水利局")


def test_footer_years_and_index_numbers_are_not_dates() -> None:
    page = (_HEADLINE + "<div class='meta'>索引号：000014349/2024-00057</div>" + _PROSE
            + "<div class='footer'>© 2024 某某县人民政府 版权所有 2003-2024</div>")
    # nothing on the page is a publication date; the Hanweb URL's date is the fallback
    assert _extract(page)["publish_time"] == "2024-06-03"
    assert _extract(page, url="http://www.example.gov.cn/news/1.html")["publish_time"] is None


def test_publish_date_wins_over_written_date() -> None:
    table = ("<table><tr><td>成文日期：</td><td>2024年05月20日</td><td>发布日期：</td><td>2024年05月24日</td></tr>"
             "</table>")
    result = _extract(table + _HEADLINE + _PROSE)
    assert result["publish_time"] == "2024年05月24日"
    assert result["doc_meta"] == {"written_date": "2024年05月20日", "published_date": "2024年05月24日"}


def test_written_date_alone_is_a_last_resort() -> None:
    page = _HEADLINE + "<p>成文日期：2024-05-20</p>" + _PROSE
    assert _extract(page, url="http://www.example.gov.cn/news/1.html")["publish_time"] == "2024-05-20"


def test_deadline_in_byline_is_not_the_publication_date() -> None:
    page = _HEADLINE + "<div class='info'>截止日期：2024-06-30</div><div class='info'>2024-06-02 10:00</div>" + _PROSE
    assert _extract(page)["publish_time"] == "2024-06-02 10:00"


@pytest.mark.parametrize("label", [
    "索引号：", "索　引　号：", "索 引 号", "索\xa0\xa0引\xa0\xa0号", "[索引号]", "【索引号】", "<b>索 引 号：</b>",
])
def test_metadata_label_padding_variants(label: str) -> None:
    table = f"<table><tr><td>{label}</td><td>11330100002494001A/2024-00126</td></tr></table>"
    assert _extract(table + _HEADLINE + _PROSE)["doc_meta"] == {"index_no": "11330100002494001A/2024-00126"}


@pytest.mark.parametrize(("label", "key"), [
    ("文\xa0\xa0\xa0\xa0号", "doc_no"), ("发 文 字 号", "doc_no"), ("发布机构", "issuer"), ("发文机关：", "issuer"),
    ("主题分类", "topic"), ("有　效　性", "validity"), ("成 文 日 期", "written_date"),
])
def test_metadata_label_synonyms(label: str, key: str) -> None:
    table = f"<table><tr><th>{label}</th><td>某值〔2024〕1号</td></tr></table>"
    assert _extract(table + _HEADLINE + _PROSE)["doc_meta"] == {key: "某值〔2024〕1号"}


def test_metadata_value_cell_with_inline_markup() -> None:
    table = ("<table><tr><td><b>发文机关：</b></td><td><span>国务院</span>办公厅</td>"
             "<td><b>文　　号：</b></td><td>国办发〔<font>2024</font>〕18号</td></tr></table>")
    assert _extract(table + _HEADLINE + _PROSE)["doc_meta"] == {"issuer": "国务院办公厅", "doc_no": "国办发〔2024〕18号"}


def test_numbered_table_in_the_body_is_not_metadata() -> None:
    body = "<table><tr><th>编号</th><th>名称</th></tr><tr><td>1</td><td>某某街区</td></tr></table>"
    assert _extract(_HEADLINE + _PROSE + body)["doc_meta"] == {}


def test_metadata_nav_tab_without_value_is_not_a_pair() -> None:
    tabs = "<ul class='tabs'><li><a href='/zt/'>主题分类</a></li><li><a href='/jg/'>机构分类</a></li></ul>"
    assert _extract(tabs + _HEADLINE + _PROSE)["doc_meta"] == {}


@pytest.mark.parametrize(("byline", "expected"), [
    ("阅读次数：<b>1,024</b>", "1,024"),
    ("浏览次数：86次", "86次"),
    ("浏览量：1.2万", "1.2万"),
    ("点击数：<span id='hits'></span><script>document.write(3)</script>", None),
    ("浏览次数：<span id='hits'></span>次", None),
    ("阅读量：", None),
    ("", None),
])
def test_read_count_inline_or_none(byline: str, expected: str | None) -> None:
    page = _HEADLINE + f"<div class='info'>发布时间：2024-06-01 {byline}</div>" + _PROSE
    assert _extract(page)["read_count"] == expected


def test_author_is_not_the_editor() -> None:
    page = _HEADLINE + "<div class='info'>作者：张三 责任编辑：李四　来源：县水利局</div>" + _PROSE
    result = _extract(page)
    assert (result["author"], result["source"]) == ("张三", "县水利局")
    editor_only = _extract(_HEADLINE + "<div class='info'>来源：县水利局　责任编辑：李四</div>" + _PROSE)
    assert editor_only["author"] is None


def test_title_from_og_title_when_title_tag_is_generic() -> None:
    head = "<title>某某县人民政府</title><meta property='og:title' content='全县防汛演练圆满完成'>"
    page = extract_detail(_page("<div class='x'><p>全县防汛演练圆满完成，参演人员300余名，检验了预案。</p></div>", head), URL)
    assert page["title"] == "全县防汛演练圆满完成"


def test_title_site_suffix_removed_when_no_element_agrees() -> None:
    head = "<title>全县防汛演练圆满完成_工作动态_某某县人民政府</title>"
    page = extract_detail(_page("<div class='x'><p>参演人员300余名，检验了预案，提高了应急处置能力。</p></div>", head), URL)
    assert page["title"] == "全县防汛演练圆满完成"


def test_continuation_only_for_this_articles_pages() -> None:
    def pages(script: str, url: str = "http://x.gov.cn/c/202405/t20240524_1.html") -> list[str]:
        return _extract(_HEADLINE + _PROSE + f"<script>{script}</script>", url=url)["continuation_urls"]

    assert pages('createPageHTML(3, 0, "t20240524_1", "shtml");') == [
        "http://x.gov.cn/c/202405/t20240524_1_1.shtml", "http://x.gov.cn/c/202405/t20240524_1_2.shtml"]
    assert pages('createPageHTML(1, 0, "t20240524_1", "html");') == []
    assert pages('createPageHTML(3, 1, "t20240524_1", "html");',
                 url="http://x.gov.cn/c/202405/t20240524_1_1.html") == []
    assert pages('createPageHTML(12, 0, "index", "html");') == []


def test_empty_document_is_not_an_article() -> None:
    result = extract_detail(b"", URL)
    assert (result["kind"], result["reason"], result["body"]) == ("not_article", "empty", "")


def test_site_overrides_run_first() -> None:
    page = ("<div class='hd'>站点自定义标题</div><div class='when'>2020-01-01</div>"
            "<div class='files'><a href='/f/1.bin'>附件一</a></div>" + _HEADLINE + _PROSE)
    site = SimpleNamespace(detail={"title": "div.hd", "publish_time": "xpath://div[@class='when']",
                                   "attachments": "div.files"})
    result = _extract(page, site=site)
    assert result["title"] == "站点自定义标题"
    assert result["publish_time"] == "2020-01-01"
    assert result["attachments"] == [{"name": "附件一", "url": "http://www.example.gov.cn/f/1.bin"}]


def test_page_after_premature_html_close_is_kept() -> None:
    html = ("<html><head><meta charset='utf-8'><title>关于做好2024年防汛工作的通知_某某县</title></head>"
            "<body><div>页头</div></body></html>" + _HEADLINE + "<p>发布时间：2024-06-01</p>" + _PROSE * 3)
    result = extract_detail(html.encode(), URL)
    assert result["title"] == "关于做好2024年防汛工作的通知"
    assert result["publish_time"] == "2024-06-01"


# ----------------------------------------------------------------------------- the commands
def test_module_main_prints_raw_result(capsys: pytest.CaptureFixture[str]) -> None:
    from gongkai_spider.extract.__main__ import main

    case = FIXTURES / "seed" / "seed_page"
    assert main([str(case / "page.html"), "--url", (case / "url.txt").read_text().strip()]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["title"] == _expected(case)["title"]
    assert printed["publish_time"] == "2024-05-24 09:14"


def _run_extract_command(*argv: str) -> tuple[int, dict]:
    from gongkai_spider.commands import extract as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = io.StringIO()
    with redirect_stdout(out):
        code = command.run(parser.parse_args(list(argv)))
    return code, json.loads(out.getvalue())


def test_extract_command_prints_the_cleaned_document() -> None:
    case = FIXTURES / "seed" / "seed_page"
    code, doc = _run_extract_command(str(case / "page.html"), "--url", (case / "url.txt").read_text().strip())
    assert code == 0
    assert doc["url"] == "https://www.changyinwater.com/xxgk/20240524/1714.html"
    assert doc["publish_time"] == "2024-05-24T09:14:00+08:00"
    assert doc["title"].startswith("我市和谐社区建设再上新台阶")
    assert doc["read_count"] is None
    assert doc["raw"]["source"] == "尊龙凯时公司官网-www.changyinwater.com"


def test_extract_command_not_an_article(tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_bytes(b"<html><body></body></html>")
    code, out = _run_extract_command(str(page))
    assert code == 0
    assert out == {"kind": "not_article", "reason": "empty", "url": page.resolve().as_uri()}


def test_extract_command_fetches_a_url() -> None:
    case = FIXTURES / "trs" / "gb2312_multipage"
    handler = functools.partial(_QuietHandler, directory=str(case))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/page.html"
        code, doc = _run_extract_command(url, "--raw")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0
    assert doc["title"] == "关于表彰王镕、李堃、张喆、陈珺等同志的通报"
    assert doc["attachments"][0]["url"] == f"{url.rsplit('/', 1)[0]}/P020240524391234567890.pdf"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass
