"""page_signals: the markup facts the spam scorer reads (gov-portals.md §4.2 B, C, E)."""

from __future__ import annotations

import json

import lxml.html
import pytest

from gongkai_spider.extract.signals import page_signals
from gongkai_spider.normalize import registrable_domain, url_host

URL = "http://www.example-city.gov.cn/art/2024/5/24/art_282_1.html"


def signals(html: str, url: str = URL) -> dict:
    return page_signals(lxml.html.document_fromstring(html), url)


def page(head: str = "", body: str = "") -> str:
    return f"<html><head><meta charset='utf-8'><title>关于开展安全生产检查的通知</title>{head}</head><body>{body}<p>正文</p></body></html>"


def test_identity_metas_and_titles() -> None:
    s = signals(page(
        head="""<meta name="SiteName" content="某某市人民政府"><meta name="SiteDomain" content="www.example-city.gov.cn">
        <meta name="SiteIDCode" content="3301000001"><meta name="ArticleTitle" content="关于开展安全生产检查的通知">
        <meta name="ContentSource" content="市应急管理局"><meta name="Keywords" content="安全生产, 检查">
        <meta name="Description" content="  为切实做好……  "><meta property="og:title" content="OG 标题">""",
    ))
    assert s["host"] == "www.example-city.gov.cn"
    assert s["html_title"] == "关于开展安全生产检查的通知"
    assert s["meta_site_name"] == "某某市人民政府"
    assert s["meta_site_domain"] == "www.example-city.gov.cn"
    assert s["meta_site_id_code"] == "3301000001"
    assert s["meta_article_title"] == "关于开展安全生产检查的通知"
    assert s["meta_content_source"] == "市应急管理局"
    assert s["meta_keywords"] == "安全生产, 检查"
    assert s["meta_description"] == "为切实做好……"
    assert s["og_title"] == "OG 标题"
    json.dumps(s)  # JSON-serialisable as it is


def test_plain_page_has_every_key_and_no_findings() -> None:
    s = signals("<html><body><p>只有正文</p></body></html>")
    assert s == {
        "host": "www.example-city.gov.cn", "html_title": None, "meta_keywords": None, "meta_description": None,
        "meta_site_name": None, "meta_site_domain": None, "meta_site_id_code": None, "meta_article_title": None,
        "meta_content_source": None, "meta_author": None, "og_title": None, "meta_refresh_url": None,
        "meta_refresh_host": None, "hidden_links": [], "hidden_blocks": 0, "redirect_scripts": [],
        "obfuscated_js": [], "external_script_hosts": [], "external_link_hosts": 0,
    }


@pytest.mark.parametrize(("style", "how"), [
    ("position:absolute;left:-9999px;top:-9999px", "offscreen"),
    ("POSITION: absolute; TOP: -3000px", "offscreen"),
    ("text-indent:-99999px", "offscreen"),
    ("display: none", "display_none"),
    ("visibility:hidden", "visibility_hidden"),
    ("font-size:0;line-height:0", "font_size_0"),
    ("height:0;overflow:hidden", "height_0_overflow"),
    ("overflow: hidden; height: 0px", "height_0_overflow"),
])
def test_hidden_link_blocks(style: str, how: str) -> None:
    s = signals(page(body=f'<div style="{style}"><a href="https://bet.casino-example.com/">澳门新葡京</a>'
                          '<a href="//b.casino-example.net/x">百家乐</a></div>'))
    assert s["hidden_links"] == [
        {"text": "澳门新葡京", "href": "https://bet.casino-example.com/", "host": "bet.casino-example.com", "how": how},
        {"text": "百家乐", "href": "//b.casino-example.net/x", "host": "b.casino-example.net", "how": how},
    ]
    assert s["hidden_blocks"] == 1


def test_visible_small_styles_are_not_hidden() -> None:
    s = signals(page(body='<div style="font-size:0.9em;height:20px;left:-10px"><a href="http://x.example.com/">链接</a></div>'
                          '<p style="font-size: 12px"><a href="http://y.example.com/">另一个</a></p>'))
    assert s["hidden_links"] == [] and s["hidden_blocks"] == 0


def test_marquee_links_are_reported() -> None:
    s = signals(page(body='<marquee scrollamount="9999"><a href="http://pk10.example.org/">北京赛车</a></marquee>'))
    assert s["hidden_links"] == [{"text": "北京赛车", "href": "http://pk10.example.org/", "host": "pk10.example.org",
                                  "how": "marquee"}]


def test_hanweb_credit_link_and_hidden_counter_iframe_are_whitelisted() -> None:
    s = signals(page(body="""<div class="footer"><a href='http://www.hanweb.com' style='display:none'>Produced By 大汉网络 大汉版通发布系统</a></div>
        <iframe src="./module/visitcount/visit.jsp?type=3&i_webid=3&i_columnid=282&i_articleid=1" style="display:none" width="0" height="0"></iframe>"""))
    assert s["hidden_links"] == [] and s["hidden_blocks"] == 0


def test_nested_hidden_blocks_report_each_link_once() -> None:
    s = signals(page(body='<div style="display:none"><ul style="display:none"><li><a href="/col/col1/">政策</a></li></ul>'
                          '<a href="/col/col2/">规划</a></div>'))
    assert [link["text"] for link in s["hidden_links"]] == ["政策", "规划"]
    assert all(link["host"] is None for link in s["hidden_links"])  # site-relative: no host


REFERRER = """<script>var r=document.referrer;if(/baidu|sogou|so\\.com|sm\\.cn/.test(r)){location.replace("https://bad.example.com/?c=88")}</script>"""
UA = """<script>var ua=navigator.userAgent.toLowerCase();if(ua.indexOf("baiduspider")>-1){document.write('<a href="https://bad.example.com/">x</a>')}</script>"""
TOP = """<script>top.location.href = "https://bad.example.com/";</script>"""


@pytest.mark.parametrize(("script", "kind"), [(REFERRER, "referrer"), (UA, "user_agent"), (TOP, "top_location")])
def test_redirect_scripts(script: str, kind: str) -> None:
    s = signals(page(head=script))
    assert [r["kind"] for r in s["redirect_scripts"]] == [kind]
    assert s["redirect_scripts"][0]["snippet"].startswith(script[8:30].strip())


@pytest.mark.parametrize("script", [
    # mobile redirect: a UA check, but for phones, not spiders
    """<script>if(/Android|iPhone/i.test(navigator.userAgent)){window.location.href="http://m.example-city.gov.cn/"}</script>""",
    # Baidu analytics: mentions baidu, reads nothing
    """<script>var _hmt=_hmt||[];(function(){var hm=document.createElement("script");hm.src="https://hm.baidu.com/hm.js?abc";var s=document.getElementsByTagName("script")[0];s.parentNode.insertBefore(hm,s);})();</script>""",
    # reads the referrer for a search engine but only shows a box; the DOM write is far away
    "<script>var fromSo = /so.com/.test(document.referrer); if (document.location.href && fromSo) { showBox(); }"
    + " " * 800 + "function showBox(){ $('#box').show(); document.write('<span></span>'); }</script>",
    # frame-busting to itself
    "<script>if (top.location != self.location) { top.location = self.location; }</script>",
])
def test_ordinary_scripts_are_not_redirects(script: str) -> None:
    assert signals(page(head=script))["redirect_scripts"] == []


def test_obfuscated_js() -> None:
    packed = "<script>eval(function(p,a,c,k,e,d){e=function(c){return c};return p}('0 1',2,2,'a|b'.split('|'),0,{}))</script>"
    hexed = "<script>var s='" + "\\x61" * 40 + "';</script>"
    unicode = "<script>document.write(unescape('" + "%u4E2D" * 20 + "'));</script>"
    assert signals(page(head=packed + hexed + unicode))["obfuscated_js"] == ["packed", "hex_escapes", "unicode_escapes"]
    assert signals(page(head="<script>var s='\\x61\\x62';</script>"))["obfuscated_js"] == []


def test_meta_refresh_to_another_host_only() -> None:
    away = signals(page(head='<meta http-equiv="refresh" content="0; url=https://win.casino-example.com/a">'))
    assert away["meta_refresh_host"] == "win.casino-example.com"
    assert away["meta_refresh_url"] == "https://win.casino-example.com/a"
    home = signals(page(head='<meta http-equiv="Refresh" content="3;URL=http://www.example-city.gov.cn/index.html">'))
    assert home["meta_refresh_host"] is None and home["meta_refresh_url"] is None
    relative = signals(page(head='<meta http-equiv="refresh" content="5;url=/index.html">'))
    assert relative["meta_refresh_host"] is None


def test_external_hosts_counted_by_registrable_domain() -> None:
    s = signals(page(
        head='<script src="https://hm.baidu.com/hm.js"></script><script src="/js/a.js"></script>'
             '<script src="http://static.example-city.gov.cn/x.js"></script>',
        body='<a href="http://www.gov.cn/">中国政府网</a><a href="https://www.gov.cn/zhengce/">政策</a>'
             '<a href="http://news.example-city.gov.cn/">本站子域</a><a href="/x.html">站内</a>'
             '<a href="HTTPS://WWW.Example.COM:8080/a">外站</a><a href="javascript:;">空</a>',
    ))
    assert s["external_script_hosts"] == ["hm.baidu.com"]
    assert s["external_link_hosts"] == 2  # www.gov.cn, www.example.com


@pytest.mark.parametrize(("host", "domain"), [
    ("www.jiande.gov.cn", "jiande.gov.cn"), ("jiande.gov.cn", "jiande.gov.cn"), ("a.b.example.com", "example.com"),
    ("www.people.com.cn", "people.com.cn"), ("www.gov.cn", "www.gov.cn"), ("localhost", "localhost"),
])
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


def test_url_host() -> None:
    assert url_host("https://User@WWW.Example.com:8080/x?y") == "www.example.com"
    assert url_host("//cdn.example.net/a.js") == "cdn.example.net"
    assert url_host("/relative/path") is None and url_host(None) is None
