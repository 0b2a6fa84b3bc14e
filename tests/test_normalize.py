"""The shared normalisers: the exact values analysts see in dates, counts, keywords, labels, text and URLs."""

from __future__ import annotations

import hashlib
import timeit
from datetime import UTC, date, datetime

import pytest

from gongkai_spider.normalize import (
    SHANGHAI,
    canonical_url,
    clean_lines,
    clean_text,
    collapse_ws,
    doc_id,
    normalize_date_string,
    parse_datetime,
    parse_read_count,
    split_keywords,
    strip_label,
)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ------------------------------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-24", sh(2024, 5, 24)),
        ("2024-05-24 09:14", sh(2024, 5, 24, 9, 14)),
        ("2024-05-24 09:14:32", sh(2024, 5, 24, 9, 14, 32)),
        ("2024-05-24-16:30:05", sh(2024, 5, 24, 16, 30, 5)),  # gov.cn meta
        ("2024年05月24日", sh(2024, 5, 24)),
        ("2024年5月24日", sh(2024, 5, 24)),
        ("2024年05月24日 09时14分", sh(2024, 5, 24, 9, 14)),
        ("2024/5/24", sh(2024, 5, 24)),
        ("2018/01/11", sh(2018, 1, 11)),
        ("2024.05.24", sh(2024, 5, 24)),
        ("[2024-05-24]", sh(2024, 5, 24)),
        ("（2018-04-09）", sh(2018, 4, 9)),
        ("二〇二四年五月二十四日", sh(2024, 5, 24)),
        ("20240524", sh(2024, 5, 24)),
        ("发布时间：2024-05-24 09:14\u3000来源：县政府", sh(2024, 5, 24, 9, 14)),
        ("1716513240", sh(2024, 5, 24, 9, 14)),  # epoch seconds as a string (JSON APIs)
        ("1716513240000", sh(2024, 5, 24, 9, 14)),  # epoch milliseconds
        ("2024-05-24T01:14:00Z", sh(2024, 5, 24, 9, 14)),  # explicit UTC converted, not relabelled
        ("2024-05-24T01:14:00.250+00:00", sh(2024, 5, 24, 9, 14)),
        ("2024-05-24T09:14:00+08:00", sh(2024, 5, 24, 9, 14)),
    ],
)
def test_parse_datetime_every_documented_format(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("text", ["", None, "--", "暂无", "2024-05-00018", "2024-13-45", "05-24", "1.2万", "123"])
def test_parse_datetime_rejects_non_dates(text: str | None) -> None:
    assert parse_datetime(text) is None


def test_parse_datetime_non_strings() -> None:
    assert parse_datetime(datetime(2024, 5, 24, 9, 14)) == sh(2024, 5, 24, 9, 14)  # naive = Shanghai
    assert parse_datetime(datetime(2024, 5, 24, 1, 14, tzinfo=UTC)) == sh(2024, 5, 24, 9, 14)
    assert parse_datetime(date(2024, 5, 24)) == sh(2024, 5, 24)
    assert parse_datetime(1716513240) == sh(2024, 5, 24, 9, 14)
    assert parse_datetime(1716513240000) == sh(2024, 5, 24, 9, 14)
    assert parse_datetime(True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05-24", sh(2024, 5, 24)),
        ("[05-24]", sh(2024, 5, 24)),
        ("5月24日", sh(2024, 5, 24)),
        ("05/24", sh(2024, 5, 24)),
        ("05-24 09:14", sh(2024, 5, 24, 9, 14)),
        ("2023-05-24", sh(2023, 5, 24)),  # a full date ignores the default year
    ],
)
def test_month_day_needs_a_reference_year(text: str, expected: datetime) -> None:
    assert parse_datetime(text, default_year=2024) == expected


def test_month_day_with_a_reference_day_never_lands_in_the_future() -> None:
    assert parse_datetime("12-30", default_year=date(2025, 1, 3)) == sh(2024, 12, 30)
    assert parse_datetime("01-02", default_year=date(2025, 1, 3)) == sh(2025, 1, 2)
    assert parse_datetime("第3-5条", default_year=2024) is None  # numbers in other text are not dates
    assert parse_datetime("1.2万", default_year=2024) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024年05月20日", "2024-05-20"), ("2024/5/2", "2024-05-02"), ("二〇二四年五月二十日", "2024-05-20"),
     ("2024-05-20 10:00", "2024-05-20"), ("见正文", None), ("", None)],
)
def test_normalize_date_string(text: str, expected: str | None) -> None:
    assert normalize_date_string(text) == expected


# ------------------------------------------------------------------------------------------- read counts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", 1234),
        ("1,024", 1024),
        ("86次", 86),
        ("86 次", 86),
        ("1.2万", 12000),
        ("1.25万", 12500),
        ("10万+", 100000),
        ("3k", 3000),
        ("第 5 次阅读", 5),
        ("第5次阅读", 5),
        ("阅读量：1,024次", 1024),
        ("浏览次数：０", 0),  # the page shows zero: zero it is
        ("0", 0),
        ("１２３", 123),  # full-width digits
        (1024, 1024),
    ],
)
def test_parse_read_count_forms(text: str | int, expected: int) -> None:
    assert parse_read_count(text) == expected


@pytest.mark.parametrize("text", [None, "", "--", "-", "-1", "{{hits}}", "加载中...", "  ", "暂无"])
def test_parse_read_count_placeholders_are_none_never_zero(text: str | None) -> None:
    assert parse_read_count(text) is None


# ---------------------------------------------------------------------------------------------- keywords


def test_split_keywords_on_every_separator_dedup_order_kept() -> None:
    text = "和谐社区, 社区建设，建德、民政;样板；和谐社区\u3000建德 杭州\xa0浙江"
    assert split_keywords(text) == ["和谐社区", "社区建设", "建德", "民政", "样板", "杭州", "浙江"]


def test_split_keywords_lists_and_empties() -> None:
    assert split_keywords(["a,b", "b", "", "c"]) == ["a", "b", "c"]
    assert split_keywords(None) == []
    assert split_keywords(" ，、 ") == []


# ------------------------------------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("来源：县人民政府办公室", "县人民政府办公室"),
        ("来源:  某某县卫生健康局", "某某县卫生健康局"),
        ("信息来源：县政府", "县政府"),
        ("本文来源:尊龙凯时公司官网-www.example.com", "尊龙凯时公司官网-www.example.com"),
        ("[来源] 新华社", "新华社"),
        ("【来源】新华社", "新华社"),
        ("[ 来源 ]  新华社", "新华社"),
        ("来源 ： 新华社", "新华社"),
        ("来\u3000源：市民政局", "市民政局"),
        ("\xa0\xa0来源：\xa0市民政局\xa0", "市民政局"),
        ("来源 新华社", "新华社"),
        ("作者:张三", "张三"),
        ("作者：  张三", "张三"),
        ("文：张三", "张三"),
        ("来源：来源：市政府", "市政府"),
        ("来源：", ""),
        ("Source: Xinhua", "Xinhua"),
        # not labels
        ("来源于网络", "来源于网络"),
        ("文化局", "文化局"),
        ("市委宣传部（来源：新华社）", "市委宣传部（来源：新华社）"),
    ],
)
def test_strip_label(text: str, expected: str) -> None:
    assert strip_label(text) == expected


def test_strip_label_only_the_labels_given() -> None:
    assert strip_label("作者：张三", ["来源"]) == "作者：张三"
    assert strip_label("责任编辑：李四") == "责任编辑：李四"  # an editor is not an author: left for extraction


# -------------------------------------------------------------------------------------------- whitespace


def test_clean_lines_collapses_nbsp_and_fullwidth_keeps_chinese_punctuation() -> None:
    body = "\u3000\u3000近日，新安江街道\xa0\xa0罗桐社区被选为“样板社区”。\r\n\n  \t\n第二段、\u3000内容：完。\n中\u200b文"
    assert clean_lines(body) == "近日，新安江街道 罗桐社区被选为“样板社区”。\n第二段、 内容：完。\n中文"


def test_clean_text_and_collapse_ws() -> None:
    assert clean_text("  标题\xa0\u3000一\n二 ") == "标题 一 二"
    assert clean_text(" \u3000 ") is None
    assert collapse_ws("a\u3000\xa0b") == "a b"


# -------------------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Example.GOV.cn:80/a/b.html?utm_source=wx&b=2&a=1&spm=a.b.c#frag",
         "http://www.example.gov.cn/a/b.html?a=1&b=2"),
        ("https://x.gov.cn:443", "https://x.gov.cn/"),
        ("https://x.gov.cn:8443/a", "https://x.gov.cn:8443/a"),
        ("http://x.gov.cn/a.html?from=singlemessage&isappinstalled=0", "http://x.gov.cn/a.html"),
        ("http://x.gov.cn/art/2024/5/24/art_1_2.html;jsessionid=ABC123?id=3",
         "http://x.gov.cn/art/2024/5/24/art_1_2.html?id=3"),
        ("http://x.gov.cn/a?UTM_Medium=x&id=1", "http://x.gov.cn/a?id=1"),
        ("http://x.gov.cn/a?b=1&a=2&b=0", "http://x.gov.cn/a?a=2&b=1&b=0"),  # repeated names keep order
        ("http://x.gov.cn/搜索?q=中文", "http://x.gov.cn/%E6%90%9C%E7%B4%A2?q=%E4%B8%AD%E6%96%87"),
        ("http://x.gov.cn/a?q=%e4%b8%ad", "http://x.gov.cn/a?q=%E4%B8%AD"),
        ("  http://x.gov.cn/a?  ", "http://x.gov.cn/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected  # idempotent


def test_doc_id_is_sha1_of_canonical_url() -> None:
    url = canonical_url("http://X.gov.cn/a.html?utm_source=x#top")
    assert doc_id(url) == hashlib.sha1(b"http://x.gov.cn/a.html").hexdigest()
    assert doc_id(canonical_url("http://x.gov.cn/a.html")) == doc_id(url)


def test_normalisers_are_cheap() -> None:
    """Called per field of every item: each must stay in the microseconds."""
    url = "http://www.example.gov.cn/art/2024/5/24/art_1_2.html?utm_source=x&id=3#top"
    per_call = min(timeit.repeat(lambda: canonical_url(url), number=200, repeat=3)) / 200
    assert per_call < 100e-6
    per_call = min(timeit.repeat(lambda: parse_datetime("2024-05-24 09:14:32"), number=200, repeat=3)) / 200
    assert per_call < 100e-6
