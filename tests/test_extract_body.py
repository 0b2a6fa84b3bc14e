"""Body extraction (extract/body.py, extract/text.py) on our own fixture pages.

Each folder under tests/fixtures/generic_body/ is one failure mode of generic extractors (footers and link
lists picked as body, table layouts, pagers, captions, 编者按, related summaries, widgets, ...): page.html
(bytes in the page's encoding), url.txt, expected.json with the exact first and last body line and text
that must / must not be in the body.
"""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest
from lxml import etree

from gongkai_spider.extract.body import BodyResult, find_body
from gongkai_spider.extract.encoding import decode_html
from gongkai_spider.extract.text import render_text, walk

FIXTURES = Path(__file__).parent / "fixtures" / "generic_body"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "page.html").exists())


def _load(case: str) -> tuple[BodyResult, dict]:
    folder = FIXTURES / case
    tree = lxml.html.document_fromstring(decode_html((folder / "page.html").read_bytes()))
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    url = (folder / "url.txt").read_text(encoding="utf-8").strip()
    return find_body(tree, url=url, title=expected.get("title")), expected


def test_fixture_cases_exist():
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES)
def test_body_first_line(case):
    result, expected = _load(case)
    assert result.text.split("\n")[0] == expected["first_line"]


@pytest.mark.parametrize("case", CASES)
def test_body_last_line(case):
    result, expected = _load(case)
    assert result.text.split("\n")[-1] == expected["last_line"]


@pytest.mark.parametrize("case", CASES)
def test_body_must_contain(case):
    result, expected = _load(case)
    missing = [s for s in expected["must_contain"] if s not in result.text]
    assert not missing


@pytest.mark.parametrize("case", CASES)
def test_body_must_not_contain(case):
    result, expected = _load(case)
    present = [s for s in expected["must_not_contain"] if s in result.text]
    assert not present


@pytest.mark.parametrize("case", CASES)
def test_body_has_no_empty_or_padded_lines(case):
    result, _ = _load(case)
    lines = result.text.split("\n")
    assert all(line and line == line.strip() for line in lines)
    assert result.node is not None


def test_url_never_changes_the_result():
    folder = FIXTURES / "trs_container_gb2312"
    tree = lxml.html.document_fromstring(decode_html((folder / "page.html").read_bytes()))
    a = find_body(tree, url="http://www.example.gov.cn/a.html", title=None).text
    b = find_body(tree, url="file:///tmp/other.html", title=None).text
    assert a == b


def test_tree_is_not_modified():
    folder = FIXTURES / "related_summaries_after_body"
    tree = lxml.html.document_fromstring(decode_html((folder / "page.html").read_bytes()))
    before = lxml.html.tostring(tree)
    find_body(tree, url="", title=None)
    assert lxml.html.tostring(tree) == before


def test_without_title_the_heading_is_still_dropped():
    result, _ = _load("related_summaries_after_body")
    tree = lxml.html.document_fromstring(
        decode_html((FIXTURES / "related_summaries_after_body" / "page.html").read_bytes()))
    untitled = find_body(tree, url="", title=None)
    assert untitled.text == result.text


@pytest.mark.parametrize("html", ["", "<html></html>", "<html><body></body></html>",
                                  "<html><body><script>var a=1;</script></body></html>"])
def test_empty_pages_give_empty_body(html):
    tree = lxml.html.document_fromstring(html or "<html></html>")
    result = find_body(tree, url="", title=None)
    assert result.text == ""


def test_nav_only_page_has_no_body():
    links = "".join(f'<li><a href="/c{i}.html">栏目名称{i}</a></li>' for i in range(30))
    tree = lxml.html.document_fromstring(f"<html><body><ul>{links}</ul></body></html>")
    assert find_body(tree, url="", title=None).text == ""


def test_deeply_nested_markup_does_not_hit_recursion_limits():
    tree = lxml.html.document_fromstring("<html><body></body></html>")
    el = tree.find("body")
    for _ in range(5000):  # deeper than Python's recursion limit
        el = etree.SubElement(el, "div")
    el.text = "深层嵌套的正文内容，仍然可以被正确提取出来。"
    assert find_body(tree, url="", title=None).text == "深层嵌套的正文内容，仍然可以被正确提取出来。"


def test_css_utility_classes_are_not_widgets():
    html = ('<html><body><div class="nav"><a href="/">首页</a><a href="/a">工作动态</a></div>'
            '<div class="detail"><p class="font-weight-bold position-relative">一、加强组织领导，明确责任分工。</p>'
            '<p>各单位要按照职责分工，抓好各项任务落实，确保取得实效。</p>'
            '<div class="share-box"><a>微信</a><a>微博</a></div></div></body></html>')
    tree = lxml.html.document_fromstring(html)
    assert find_body(tree, url="", title=None).text == (
        "一、加强组织领导，明确责任分工。\n各单位要按照职责分工，抓好各项任务落实，确保取得实效。")


# ----------------------------------------------------------------------------- text rendering
def test_render_one_paragraph_per_line():
    el = lxml.html.fragment_fromstring(
        "<div>第一段<b>加粗</b>文字<br>第二段<p>　　第三段\n 换行</p><ul><li>甲</li><li>乙</li></ul>"
        "<table><tr><td>单元1</td><td>单元2</td></tr></table><script>x()</script><!-- c -->尾巴</div>")
    assert render_text(el) == "第一段加粗文字\n第二段\n第三段 换行\n甲\n乙\n单元1\t单元2\n尾巴"


def test_render_skips_hidden_and_form_controls():
    el = lxml.html.fragment_fromstring(
        '<div><p>可见<span style="display: none">隐藏</span>文字</p><p hidden>整段隐藏</p>'
        '<select><option>选项</option></select><p style="visibility:hidden">也隐藏</p></div>')
    assert render_text(el) == "可见文字"


def test_walk_counts_link_characters_and_owner():
    el = lxml.html.fragment_fromstring('<div><p>正文<a href="/x">链接文字</a>结束</p><p><a href="/y">全链接</a></p></div>')
    w = walk(el)
    assert [(line.text, line.chars, line.link_chars) for line in w.lines] == [
        ("正文链接文字结束", 8, 4), ("全链接", 3, 3)]
    assert [w.elements[line.owner].tag for line in w.lines] == ["p", "p"]


# ----------------------------------------------------------------------------- accuracy gate (benchmarks/accuracy.py)
def _accuracy_module():
    import importlib.util

    path = Path(__file__).parent.parent / "benchmarks" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("accuracy_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench_pages(tmp_path: Path) -> Path:
    """Two of our fixtures in the corpus layout (NAME.html/.json/.txt)."""
    pages = tmp_path / "pages"
    pages.mkdir()
    for case in ("trs_container_gb2312", "image_captions"):
        folder = FIXTURES / case
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        tree = lxml.html.document_fromstring(decode_html((folder / "page.html").read_bytes()))
        gold = find_body(tree, url="", title=expected["title"]).text
        (pages / f"{case}.html").write_bytes((folder / "page.html").read_bytes())
        (pages / f"{case}.txt").write_text(gold, encoding="utf-8")
        (pages / f"{case}.json").write_text(json.dumps({
            "title": expected["title"], "publish_time": None,
            "body_start": expected["first_line"][:30], "body_end": expected["last_line"][-30:],
        }, ensure_ascii=False), encoding="utf-8")
    return pages


def test_accuracy_check_passes_at_its_floors_and_fails_below(tmp_path, capsys):
    bench = _accuracy_module()
    pages = _bench_pages(tmp_path)
    baseline = tmp_path / "baseline.json"
    argv = ["--pages", str(pages), "-e", "ours", "--repeat", "1", "--baseline", str(baseline)]
    assert bench.main([*argv, "--pin"]) == 0
    pinned = json.loads(baseline.read_text(encoding="utf-8"))
    assert pinned["floors"]["start"] == 1.0 and pinned["floors"]["F1"] == 1.0
    pinned["max_median_ms"] = 10_000
    baseline.write_text(json.dumps(pinned), encoding="utf-8")
    assert bench.main([*argv, "--check"]) == 0
    pinned["floors"]["F1"] = 1.01  # a floor above what we reach: a regression
    baseline.write_text(json.dumps(pinned), encoding="utf-8")
    assert bench.main([*argv, "--check"]) == 1
    assert "REGRESSION: F1" in capsys.readouterr().err


def test_accuracy_pin_never_lowers_a_floor(tmp_path):
    bench = _accuracy_module()
    kept = bench.pin({"title": 0.5, "F1": 0.9}, "abc", {"floors": {"title": 0.8, "F1": 0.5}}, allow_lower=False)
    assert kept["floors"] == {"title": 0.8, "F1": 0.9}
    lowered = bench.pin({"title": 0.5}, "abc", {"floors": {"title": 0.8}}, allow_lower=True)
    assert lowered["floors"]["title"] == 0.5


def test_accuracy_metrics_follow_the_corpus_scorer():
    bench = _accuracy_module()
    gt = {"title": "标题 一", "publish_time": "2024-05-24 09:14", "body_start": "第一 段", "body_end": "结束。",
          "_gold": "第一段\n结束。"}
    row = bench.score_page(gt, {"title": "标题一", "publish_time": "2024年5月24日", "body": "第一段\n结束。"})
    assert row == {"title": 1.0, "date": 1.0, "start": 1.0, "end": 1.0, "F1": 1.0, "article": None}
    assert bench.char_f1("ab", "abcd") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
