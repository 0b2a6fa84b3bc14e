"""Government pages: the 信息公开 metadata table in every layout, which date and source win, whole bodies,
and the listing date as the last resort for publish_time (gov-portals.md 2.3, 2.3.1).

The page-level cases are fixtures under ``tests/fixtures/gov/`` and ``tests/fixtures/hostile/`` (pinned
field by field by ``test_extract_templates.py``); this module adds the small layout variants, the
false-positive guards and the path of ``raw`` / the listing date from the spider through the clean
pipeline to ``gongkai extract``.
"""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from crawl_support import callback_output
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from gongkai_spider.extract import extract_detail
from gongkai_spider.spiders.gongkai import GongkaiSpider
from pipelines.clean import CleanPipeline, clean_item

FIXTURES = Path(__file__).parent / "fixtures"
URL = "http://www.example.gov.cn/xxgk/tzgg/content_1.html"
HEADLINE = "<h1>关于做好2024年秋季森林防火工作的通知</h1>"
PROSE = ("<div class='zw'><p>各乡镇人民政府：当前已进入秋季森林防火期，现就做好森林防火工作通知如下，请认真贯彻落实。</p>"
         "<p>一、严格野外火源管理，林区入口设立检查站，严禁携带火种进山。</p></div>")


def _page(body: str, head: str = "") -> bytes:
    return (f"<html><head><meta charset='utf-8'><title>关于做好2024年秋季森林防火工作的通知_某某县人民政府</title>{head}"
            f"</head><body>{body}</body></html>").encode()


def _extract(body: str, head: str = "", url: str = URL) -> dict:
    return extract_detail(_page(body, head), url)


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("table", [
    # label and value in one <li>, as spans
    "<ul class='gk'><li><span>索引号：</span><span>0012-2024-00031</span></li>"
    "<li><span>发文机构：</span><span>县林业局</span></li><li><span>文号：</span><span>某林〔2024〕3号</span></li></ul>",
    # <p> lines, several pairs in one line
    "<div class='gk'><p>索引号：0012-2024-00031　发文机构：县林业局</p><p>文号：某林〔2024〕3号</p></div>",
    # label block and value block side by side
    "<div class='gk'><div class='row'><div class='l'>索 引 号</div><div class='v'>0012-2024-00031</div></div>"
    "<div class='row'><div class='l'>发文机构</div><div class='v'>县林业局</div></div>"
    "<div class='row'><div class='l'>文　　号</div><div class='v'>某林〔2024〕3号</div></div></div>",
    # definition list
    "<dl><dt>索引号</dt><dd>0012-2024-00031</dd><dt>发文机构</dt><dd>县林业局</dd><dt>文号</dt><dd>某林〔2024〕3号</dd></dl>",
    # [标签] 值 list
    "<ul><li>[索引号] 0012-2024-00031</li><li>【发文机构】县林业局</li><li>[文号] 某林〔2024〕3号</li></ul>",
    # header row over a value row
    "<table><tr><td>索引号</td><td>发文机构</td><td>文号</td></tr>"
    "<tr><td>0012-2024-00031</td><td>县林业局</td><td>某林〔2024〕3号</td></tr></table>",
], ids=["li-spans", "p-lines", "div-blocks", "dl", "bracket-list", "header-row"])
def test_metadata_layouts(table: str) -> None:
    result = _extract(table + HEADLINE + PROSE)
    assert result["doc_meta"] == {"index_no": "0012-2024-00031", "issuer": "县林业局", "doc_no": "某林〔2024〕3号"}
    assert result["body"].startswith("各乡镇人民政府：")


@pytest.mark.parametrize("empty", [
    "<td>文　　号：</td><td></td>",
    "<td>文　　号：</td><td>&nbsp;</td>",
    "<td>文　　号：</td><td><span></span></td>",
    "<th>文号</th><td>  </td>",
])
def test_empty_value_cell_is_an_absent_field(empty: str) -> None:
    table = f"<table><tr><td>索引号：</td><td>0012-2024-00031</td>{empty}</tr></table>"
    assert _extract(table + HEADLINE + PROSE)["doc_meta"] == {"index_no": "0012-2024-00031"}


def test_label_alone_in_a_block_before_the_headline_takes_nothing() -> None:
    page = "<div class='gk'><p>索引号：0012-2024-00031</p><p><b>文号：</b></p></div>" + HEADLINE + PROSE
    assert _extract(page)["doc_meta"] == {"index_no": "0012-2024-00031"}
    blocks = "<div class='gk'><div class='l'>文号：</div></div><div class='tit'>关于做好2024年秋季森林防火工作的通知</div>"
    assert "doc_no" not in _extract(blocks + PROSE)["doc_meta"]


def test_header_row_keeps_its_columns_when_a_value_is_empty() -> None:
    table = ("<table><tr><th>索取号</th><th>发布时间</th><th>发布机构</th><th>文件编号</th></tr>"
             "<tr><td>0012-2024-00031</td><td>2024-09-02</td><td>县林业局</td><td></td></tr></table>")
    result = _extract(table + HEADLINE + PROSE, url="http://www.example.gov.cn/xxgk/1.html")
    assert result["doc_meta"] == {"index_no": "0012-2024-00031", "published_date": "2024-09-02", "issuer": "县林业局"}
    assert result["publish_time"] == "2024-09-02"


def test_unknown_labels_of_the_table_go_to_other_and_nothing_else_does() -> None:
    table = ("<table class='gk'><tr><th>索引号：</th><td>0012-2024-00031</td><th>责任处室：</th><td>防火办</td></tr>"
             "<tr><th>公开时限：</th><td>长期公开</td><th>浏览次数：</th><td>12</td></tr></table>")
    footer = "<div class='footer'><p>地址：某某县人民路1号</p><p>联系电话：0000-1234567</p></div>"
    result = _extract(table + HEADLINE + PROSE + footer)
    assert result["doc_meta"] == {"index_no": "0012-2024-00031",
                                  "other": {"责任处室": "防火办", "公开时限": "长期公开"}}


def test_weak_keys_need_a_metadata_table() -> None:
    # a data table of the body: 名称 / 分类 / 编号 columns are no 信息公开 metadata
    data = ("<table><tr><th>编号</th><th>名称</th><th>体裁</th></tr>"
            "<tr><td>1</td><td>某某林场</td><td>国有林场</td></tr></table>")
    result = _extract(HEADLINE + PROSE.replace("</div>", data + "</div>"))
    assert result["doc_meta"] == {}
    assert "1\t某某林场\t国有林场" in result["body"]
    # a byline's 发布日期 is no table either
    assert "published_date" not in _extract(HEADLINE + "<p>发布日期：2024-09-02</p>" + PROSE)["doc_meta"]


def test_generated_date_is_the_written_date_only_without_one() -> None:
    both = ("<table><tr><td>索引号：</td><td>0012-2024-00031</td><td>成文日期：</td><td>2024-08-30</td>"
            "<td>生成日期：</td><td>2024-09-02</td></tr></table>")
    assert _extract(both + HEADLINE + PROSE)["doc_meta"]["written_date"] == "2024-08-30"
    alone = "<table><tr><td>索引号：</td><td>0012-2024-00031</td><td>生成日期：</td><td>2024-09-02</td></tr></table>"
    result = _extract(alone + HEADLINE + PROSE, url="http://www.example.gov.cn/xxgk/1.html")
    assert result["doc_meta"]["written_date"] == "2024-09-02"
    assert result["publish_time"] == "2024-09-02"


def test_a_page_of_thousands_of_labels_stays_fast() -> None:
    import time

    rows = "".join(f"<tr><td>文号：</td><td>某文〔2024〕{i}号</td><td>索引号：</td><td></td></tr>" for i in range(20000))
    page = "<div>" * 1500 + f"<table>{rows}</table>" + HEADLINE + PROSE + "</div>" * 1500
    started = time.process_time()
    result = _extract(page)
    assert time.process_time() - started < 10
    assert result["doc_meta"] == {"doc_no": "某文〔2024〕0号"}


# ----------------------------------------------------------------------------- date and source precedence
def test_printed_date_beats_meta_pubdate_and_meta_stays_in_raw() -> None:
    head = "<meta name='PubDate' content='2023-05-12 16:40'><meta name='ContentSource' content='某某县人民政府'>"
    page = HEADLINE + "<div class='info'>2011-09-02 10:00　来源：县林业局</div>" + PROSE
    result = _extract(page, head)
    assert (result["publish_time"], result["source"]) == ("2011-09-02 10:00", "县林业局")
    assert result["raw"] == {"meta_publish_time": "2023-05-12 16:40", "meta_source": "某某县人民政府"}


def test_meta_wins_only_where_the_page_prints_nothing() -> None:
    head = "<meta name='PubDate' content='2024-09-02 08:30'><meta name='ContentSource' content='某某县林业局'>"
    result = _extract(HEADLINE + PROSE, head, url="http://www.example.gov.cn/xxgk/1.html")
    assert (result["publish_time"], result["source"]) == ("2024-09-02 08:30", "某某县林业局")


def test_a_date_inside_a_sentence_under_the_headline_loses_to_meta() -> None:
    head = "<meta name='PubDate' content='2024-09-02 08:30'>"
    page = HEADLINE + "<p>（2024年8月30日县人民政府第12次常务会议通过）</p>" + PROSE
    assert _extract(page, head)["publish_time"] == "2024-09-02 08:30"


# ----------------------------------------------------------------------------- bodies
def test_layout_table_after_the_container_stays_out() -> None:
    related = ("<table class='xg'><tr><td><a href='/a.html'>县林业局开展防火宣传月活动</a></td><td>2024-08-20</td></tr>"
               "<tr><td><a href='/b.html'>全县护林员培训班开班</a></td><td>2024-08-12</td></tr></table>")
    page = (HEADLINE + "<div class='detail'><div class='TRS_Editor'><p>各乡镇人民政府：当前已进入秋季森林防火期，"
            "现就做好森林防火工作通知如下。</p></div><p style='text-align:right'>某某县林业局</p>" + related + "</div>")
    body = _extract(page)["body"]
    assert body.endswith("某某县林业局")
    assert "护林员" not in body


@pytest.mark.parametrize(("byline", "author"), [
    ("本报记者 张晓明 李卫", "张晓明 李卫"),
    ("见习记者 王一凡　通讯员 陈立", "王一凡"),
    ("通讯员 陈立", "陈立"),
])
def test_reporter_byline_in_the_body_fills_author(byline: str, author: str) -> None:
    page = HEADLINE + f"<div class='TRS_Editor'><p>{byline}</p>" + PROSE[len("<div class='zw'>"):]
    result = _extract(page)
    assert result["author"] == author
    assert byline.split()[0] not in result["body"]


def test_labelled_author_wins_over_a_reporter_line() -> None:
    page = (HEADLINE + "<div class='info'>作者：赵某</div><div class='TRS_Editor'><p>本报记者 张晓明</p>"
            + PROSE[len("<div class='zw'>"):])
    assert _extract(page)["author"] == "赵某"


# ----------------------------------------------------------------------------- the listing date
def _item(**fields: object) -> dict:
    return {"url": URL, "title": "关于做好2024年秋季森林防火工作的通知", "body": "正文。"} | fields


def test_listing_date_is_publish_time_when_the_page_shows_none() -> None:
    doc = clean_item(_item(publish_time=None, _page_raw={"list_date": "2024-09-02"}))
    assert doc["publish_time"].isoformat() == "2024-09-02T00:00:00+08:00"
    assert doc["raw"]["publish_time"] is None and doc["raw"]["list_date"] == "2024-09-02"
    assert clean_item(doc) == doc  # cleaning twice changes nothing


def test_page_date_wins_over_listing_date() -> None:
    doc = clean_item(_item(publish_time="2024-09-01 10:00", _page_raw={"list_date": "2024-09-02"}))
    assert doc["publish_time"].isoformat() == "2024-09-01T10:00:00+08:00"


@pytest.mark.parametrize("list_date", ["09-02", "", "昨天", None])
def test_listing_date_without_a_year_is_not_guessed(list_date: str | None) -> None:
    assert clean_item(_item(publish_time=None, _page_raw={"list_date": list_date}))["publish_time"] is None


def test_unparseable_page_date_is_not_replaced_by_the_listing_date() -> None:
    # the page showed something: an extraction problem to count (bad_publish_time), not to paper over
    assert clean_item(_item(publish_time="待定", _page_raw={"list_date": "2024-09-02"}))["publish_time"] is None


def test_clean_pipeline_counts_the_listing_fallback() -> None:
    crawler = get_crawler(GongkaiSpider)
    pipeline = CleanPipeline(crawler.stats)
    pipeline.process_item(_item(publish_time=None, _page_raw={"list_date": "2024-09-02"}))
    pipeline.process_item(_item(publish_time="2024-09-01", _page_raw={"list_date": "2024-09-02"}))
    assert crawler.stats.get_value("gongkai/clean/publish_time_from_listing") == 1
    assert crawler.stats.get_value("gongkai/clean/no_publish_time") is None


def test_spider_hands_the_listing_date_and_meta_values_to_the_item() -> None:
    spider = GongkaiSpider.from_crawler(get_crawler(GongkaiSpider), start_url="http://www.example.gov.cn/xxgk/")
    request = spider._request(URL, "detail", column="c", list_url="http://www.example.gov.cn/xxgk/",
                              list_date="2024-09-02")
    head = "<meta name='ContentSource' content='某某县人民政府'>"
    response = HtmlResponse(URL, body=_page(HEADLINE + PROSE, head), request=request)
    (item,) = callback_output(spider.parse_detail(response))
    assert item["publish_time"] is None
    assert item["_page_raw"] == {"meta_source": "某某县人民政府", "list_date": "2024-09-02"}
    doc = clean_item(item)
    assert doc["publish_time"].date().isoformat() == "2024-09-02"
    assert doc["raw"]["meta_source"] == "某某县人民政府"


# ----------------------------------------------------------------------------- gongkai extract
def _run_extract(*argv: str) -> dict:
    from gongkai_spider.commands import extract as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = io.StringIO()
    with redirect_stdout(out):
        assert command.run(parser.parse_args(list(argv))) == 0
    return json.loads(out.getvalue())


def _case(name: str) -> tuple[str, str]:
    case = FIXTURES / "gov" / name
    return str(case / "page.html"), (case / "url.txt").read_text(encoding="utf-8").strip()


def test_extract_command_hanweb_empty_doc_no_cell_prints_no_doc_no() -> None:
    path, url = _case("hanweb_empty_doc_no_cell")
    doc = _run_extract(path, "--url", url)
    assert "doc_no" not in doc["doc_meta"]
    assert doc["doc_meta"]["written_date"] == "2024-05-16"


def test_extract_command_header_over_values() -> None:
    path, url = _case("header_row_over_values")
    doc = _run_extract(path, "--url", url)
    assert {k: doc["doc_meta"][k] for k in ("index_no", "issuer", "doc_no")} == {
        "index_no": "0764ABCD1Q/2024-00031", "issuer": "市科学技术委员会", "doc_no": "某科〔2024〕5号"}
    assert doc["body"].startswith("根据《某某市科技企业孵化器认定管理办法》")


def test_extract_command_keeps_meta_values_in_raw() -> None:
    path, url = _case("meta_pubdate_rewritten")
    doc = _run_extract(path, "--url", url)
    assert doc["publish_time"].startswith("2009-03-18")
    assert doc["raw"]["meta_publish_time"] == "2023-05-12 16:40"
    assert doc["raw"]["meta_source"] == "某某市人民政府"
