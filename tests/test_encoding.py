"""Decoding page bytes (extract/encoding.py): declarations are evidence, not orders."""

from __future__ import annotations

import codecs

import pytest

from gongkai_spider.extract import extract_detail
from gongkai_spider.extract.encoding import declared_in_markup, decode_html, normalize_encoding

# 镕 堃 喆 珺 are GBK characters outside GB2312 (people's names on real notices).
NAMES = "王镕、李堃、张喆、陈珺"


def _html(charset_meta: str, text: str = NAMES) -> str:
    return (f"<html><head>{charset_meta}<title>关于表彰{text}的通报</title></head>"
            f"<body><h1>关于表彰{text}的通报</h1><p>表彰{text}等同志。</p></body></html>")


def test_gbk_names_outside_gb2312_exist() -> None:
    for ch in "镕堃喆珺":
        with pytest.raises(UnicodeEncodeError):
            ch.encode("gb2312")


def test_gb2312_meta_without_header_decodes_gbk_characters() -> None:
    page = _html('<meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
    text = decode_html(page.encode("gbk"))
    assert f"关于表彰{NAMES}的通报" in text
    assert "\ufffd" not in text


def test_gb2312_header_hint_is_widened_too() -> None:
    page = _html("")
    assert NAMES in decode_html(page.encode("gbk"), "GB2312")


def test_utf8_header_on_gbk_bytes_falls_back_to_gb18030() -> None:
    page = _html('<meta charset="utf-8">')
    text = decode_html(page.encode("gbk"), "utf-8")
    assert NAMES in text


def test_gb2312_declaration_on_utf8_bytes_is_ignored() -> None:
    page = _html('<meta http-equiv="content-type" content="text/html;charset=GB2312">')
    assert NAMES in decode_html(page.encode("utf-8"))
    assert NAMES in decode_html(page.encode("utf-8"), "gbk")


def test_no_declaration_at_all() -> None:
    assert NAMES in decode_html(_html("").encode("utf-8"))
    assert NAMES in decode_html(_html("").encode("gb18030"))


def test_scrapy_default_cp1252_hint_does_not_win() -> None:
    # Scrapy reports cp1252 when nothing is declared; that must not turn UTF-8 or GBK into mojibake
    assert NAMES in decode_html(_html("").encode("utf-8"), "cp1252")
    assert NAMES in decode_html(_html('<meta charset="gbk">').encode("gbk"), "cp1252")


def test_bom_beats_declarations() -> None:
    page = _html('<meta charset="gbk">')
    assert NAMES in decode_html(codecs.BOM_UTF8 + page.encode("utf-8"), "gbk")


def test_xml_declaration() -> None:
    xml = f'<?xml version="1.0" encoding="GBK"?><datastore><record>{NAMES}</record></datastore>'
    assert NAMES in decode_html(xml.encode("gbk"))


def test_a_few_broken_bytes_keep_the_declared_encoding() -> None:
    page = _html('<meta charset="gbk">', NAMES * 50).encode("gbk")
    broken = page[:300] + b"\xff" + page[300:]
    text = decode_html(broken)
    assert NAMES in text
    assert text.count("\ufffd") <= 2


def test_ascii_and_empty() -> None:
    assert decode_html(b"") == ""
    assert decode_html(b"<p>plain</p>") == "<p>plain</p>"


@pytest.mark.parametrize(("declared", "codec"), [
    ("gb2312", "gb18030"), ("GBK", "gb18030"), ("x-gbk", "gb18030"), ("GB_2312-80", "gb18030"),
    ("utf8", "utf-8"), ("UTF-8", "utf-8"), ("iso-8859-1", "cp1252"), ("big5", "big5hkscs"), ("no-such", None),
])
def test_normalize_encoding(declared: str, codec: str | None) -> None:
    assert normalize_encoding(declared) == codec


def test_declared_in_markup() -> None:
    assert declared_in_markup(b'<meta charset="GB2312">') == "gb18030"
    assert declared_in_markup(b"<meta http-equiv='Content-Type' content='text/html; charset=utf-8'>") == "utf-8"
    assert declared_in_markup(b"<p>none</p>") is None


def test_extract_detail_reads_a_gb2312_page_with_gbk_names() -> None:
    page = _html('<meta http-equiv="Content-Type" content="text/html; charset=gb2312">').encode("gbk")
    result = extract_detail(page, "http://www.example.gov.cn/tzgg/202405/t20240524_1.html")
    assert result["title"] == f"关于表彰{NAMES}的通报"


@pytest.mark.parametrize("codec", ["utf-8", "gb18030"])
def test_character_cut_off_at_the_end_is_dropped_not_replaced(codec):
    body = "<p>促改革、调结构</p>".encode(codec)[:-5]  # cut inside 构
    assert decode_html(body, codec) == "<p>促改革、调结"
