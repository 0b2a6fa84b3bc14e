"""Listing extraction: saved listing pages (tests/fixtures/listing/<case>/) and the demo portal's columns."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from gongkai_spider.demo import build_portal
from gongkai_spider.extract.api import paged_request, request_key
from gongkai_spider.extract.listing import extract_listing
from gongkai_spider.sites import load_site, parse_site

FIXTURES = Path(__file__).parent / "fixtures" / "listing"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "page.html").is_file())
FIELDS = ("kind", "links", "next_urls", "next_requests")


def _run(case: str) -> tuple[dict, dict]:
    folder = FIXTURES / case
    url = (folder / "url.txt").read_text(encoding="utf-8").strip()
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return extract_listing((folder / "page.html").read_bytes(), url), expected


@pytest.mark.parametrize(("case", "field"), [(c, f) for c in CASES for f in FIELDS])
def test_fixture_field(case: str, field: str) -> None:
    got, expected = _run(case)
    assert got[field] == expected.get(field, [])


def test_fixtures_cover_every_listing_mechanism() -> None:
    assert {"trs_gb2312_page0", "one_based_pages", "hanweb_column", "hanweb_dataproxy_xml", "next_link_pinned",
            "table_rows_short_dates", "empty_column"} <= set(CASES)


def test_navigation_footer_sidebar_and_file_links_are_not_articles() -> None:
    got, _ = _run("next_link_pinned")
    urls = " ".join(link["url"] for link in got["links"])
    for not_article in ("/zwgk/", "/about/", "www.gov.cn", "8001.html", "zj.gov.cn", "report.pdf"):
        assert not_article not in urls


def test_pinned_item_is_flagged_and_its_marker_is_not_in_the_title() -> None:
    got, _ = _run("next_link_pinned")
    assert [link["pinned"] for link in got["links"]][:2] == [True, False]


def test_truncated_link_text_takes_the_full_title_attribute() -> None:
    got, _ = _run("next_link_pinned")
    assert got["links"][1]["title"].endswith("样板社区")


def test_empty_column_says_why() -> None:
    got, _ = _run("empty_column")
    assert got["reason"] == "no_links"


@pytest.mark.parametrize("body", [b"", b"   \n", b"\x00\xff\xfe garbage"])
def test_unusable_bodies_are_empty_not_errors(body: bytes) -> None:
    got = extract_listing(body, "http://www.example.gov.cn/list/index.html")
    assert got["kind"] == "empty" and got["links"] == [] and got["next_urls"] == []


def test_article_page_is_reported_as_detail() -> None:
    portal = build_portal({"trs": 3})
    trs = next(a for a in portal.expected if a["column"] == "trs")
    got = extract_listing(portal.pages[trs["url"]][0], "http://127.0.0.1:1" + trs["url"])
    assert (got["kind"], got["links"]) == ("detail", [])


def test_site_selectors_override_the_generic_list() -> None:
    folder = FIXTURES / "next_link_pinned"
    site = parse_site("start_urls: [http://www.example.gov.cn/xxgk/]\n"
                      "listing:\n  links: 'div.hot-news li a'\n  next: \"//div[@class='pages']/a[last()]\"\n",
                      name="override")
    got = extract_listing((folder / "page.html").read_bytes(), (folder / "url.txt").read_text().strip(), site=site)
    assert [link["url"] for link in got["links"]] == ["http://www.example.gov.cn/xxgk/2024/0101/8001.html",
                                                      "http://www.example.gov.cn/xxgk/2023/1201/7001.html"]
    assert got["next_urls"] == ["http://www.example.gov.cn/xxgk/index_5.html", "http://www.example.gov.cn/xxgk/index_2.html"]


def test_one_based_numbering_can_be_set_per_site() -> None:
    folder = FIXTURES / "trs_gb2312_page0"
    site = parse_site("start_urls: [http://www.example.gov.cn/zwgk/tzgg/]\nlisting: {page_base: 1}\n", name="x")
    got = extract_listing((folder / "page.html").read_bytes(), (folder / "url.txt").read_text().strip(), site=site)
    assert [u.rsplit("/", 1)[1] for u in got["next_urls"]] == ["index_2.html", "index_3.html"]


@pytest.mark.parametrize("url", ["http://x.gov.cn/a/./b/index_3.html?page=3#top", "http://x.gov.cn",
                                 "http://x.gov.cn/a/../zwgk/", "https://x.gov.cn:8443/%E9%80%9A%E7%9F%A5/index.shtml"])
def test_a_createpagehtml_pager_lists_every_page_as_urljoin_resolves_it(url: str) -> None:
    from urllib.parse import urljoin

    page = b"<html><body><ul><li>x</li></ul><script>createPageHTML(1000, 2, 'index', 'shtml');</script></body></html>"
    got = extract_listing(page, url)["next_urls"]
    names = ["index.shtml", *(f"index_{i}.shtml" for i in range(1, 1000))]
    assert got == [u for u in (urljoin(url, name) for name in names) if u != url]


def test_hanweb_island_with_known_total_lists_every_group() -> None:
    page = (FIXTURES / "hanweb_column" / "page.html").read_bytes().replace(b"<recordset>", b"<totalrecord>8</totalrecord><recordset>")
    got = extract_listing(page, "http://fgw.example.gov.cn/col/col282/index.html")
    assert got["next_urls"] == []
    assert [r["url"].split("?")[1].split("&perpage")[0] for r in got["next_requests"]] == ["startrecord=4&endrecord=6",
                                                                                          "startrecord=7&endrecord=8"]
    assert {r["method"] for r in got["next_requests"]} == {"POST"}


def test_hanweb_groups_are_posted_with_jpage_form_fields() -> None:
    """jpage.js POSTs the column's fields (from the nextgroup URL, defaults for the rest) with XHR + Referer."""
    page = (FIXTURES / "hanweb_column" / "page.html").read_bytes()
    (request,) = extract_listing(page, "http://fgw.example.gov.cn/col/col282/index.html")["next_requests"]
    assert request["url"] == ("http://fgw.example.gov.cn/module/web/jpage/dataproxy.jsp"
                              "?startrecord=4&endrecord=6&perpage=1")
    assert request["form"] == {"col": "1", "appid": "1", "webid": "3", "path": "/", "columnid": "282",
                               "sourceContentType": "1", "unitid": "62345", "webname": "某某委", "permissiontype": "0"}
    assert request["headers"] == {"X-Requested-With": "XMLHttpRequest",
                                  "Referer": "http://fgw.example.gov.cn/col/col282/index.html"}


def test_hanweb_form_fields_missing_from_nextgroup_come_from_the_page_script() -> None:
    page = (FIXTURES / "hanweb_column" / "page.html").read_bytes()
    page = page.replace(b"&amp;unitid=62345", b"").replace(b"&unitid=62345", b"").replace(b"webid=3&", b"")
    page = page.replace(b"</body>", b'<script>var jpage = {unitid: "70001", webid: \'9\', perpage: 1};</script></body>')
    (request,) = extract_listing(page, "http://fgw.example.gov.cn/col/col282/index.html")["next_requests"]
    assert (request["form"]["unitid"], request["form"]["webid"], request["form"]["columnid"]) == ("70001", "9", "282")


def test_posted_dataproxy_group_posts_the_rest_with_the_same_form() -> None:
    xml = ("<datastore><totalrecord>7</totalrecord><recordset>"
           + "".join(f'<record><![CDATA[<li><a href="/art/2024/5/{d}/art_9_{d}.html">第{d}号工作通知</a></li>]]></record>'
                     for d in (4, 5, 6)) + "</recordset></datastore>").encode()
    url = "http://www.example.gov.cn/module/web/jpage/dataproxy.jsp?startrecord=4&endrecord=6&perpage=1"
    sent = {"url": url, "method": "POST", "form": {"columnid": "9", "webid": "3"}, "json": None,
            "headers": {"Referer": "http://www.example.gov.cn/col/col9/index.html"}, "key": None,
            "state": {"dialect": "hanweb"}}
    got = extract_listing(xml, url, request=sent)
    assert len(got["links"]) == 3 and got["next_urls"] == []
    (more,) = got["next_requests"]
    assert more["url"].endswith("?startrecord=7&endrecord=7&perpage=1")
    assert (more["method"], more["form"], more["headers"]) == ("POST", sent["form"], sent["headers"])


def test_error_page_where_dataproxy_records_were_asked_for_yields_nothing() -> None:
    """A POST-only dataproxy.jsp answering an HTML error page (with navigation links): no records, no pages."""
    error = ('<html><body><div><ul><li><a href="/col/col9/index.html">返回栏目首页重新访问</a></li>'
             '<li><a href="/xxgk/index.html">政府信息公开目录首页</a></li></ul></div>'
             "<p>对不起，您的请求方式不正确。</p></body></html>").encode()
    got = extract_listing(error, "http://www.example.gov.cn/module/web/jpage/dataproxy.jsp?startrecord=4&endrecord=6",
                          request={"url": "x", "method": "POST", "state": {"dialect": "hanweb"}})
    assert (got["kind"], got["reason"], got["links"]) == ("empty", "not_dataproxy", [])


def test_page_numbered_dataproxy_variant() -> None:
    xml = ("<datastore><totalrecord>5</totalrecord><recordset>"
           + "".join(f'<record><![CDATA[<li><a href="/art/2024/5/{d}/art_9_{d}.html">第{d}号工作通知</a>'
                     f"<span>2024-05-{d:02d}</span></li>]]></record>" for d in (1, 2))
           + "</recordset></datastore>").encode()
    got = extract_listing(xml, "http://www.example.gov.cn/module/jpage/dataproxy.jsp?page=1&col=1&columnid=9")
    assert len(got["links"]) == 2
    assert got["next_urls"] == [f"http://www.example.gov.cn/module/jpage/dataproxy.jsp?page={p}&col=1&columnid=9"
                                for p in (2, 3)]


def test_following_every_listing_of_the_demo_portal_reaches_every_article() -> None:
    """Breadth-first over listing requests only: each column's pagination mechanism leads to all its articles."""
    counts = {"seed": 65, "trs": 61, "hanweb": 140, "hanweb_post": 100, "jpaas": 31, "gkmlpt": 41, "api": 21}
    portal = build_portal(counts, spam=2)
    base = "http://127.0.0.1:8000"
    site = load_site("demo").with_base_url(base)
    queue: list[tuple[str, dict | None]] = []
    for column in site.start_urls:
        paged = site.listing_for(column).api
        queue.append((column, paged_request(paged, column, paged.first_page, dialect="api") if paged else None))
    seen, found, per_column = {request_key(r) if r else u for u, r in queue}, [], {}
    while queue:
        column, request = queue.pop(0)
        url = request["url"] if request else column
        method, body = (request or {}).get("method", "GET"), b""
        if request and request.get("form") is not None:
            body = urlencode(request["form"]).encode()
        elif request and request.get("json") is not None:
            body = json.dumps(request["json"]).encode()
        status, page, _ = portal.respond(method, url[len(base):], body, {"Host": "127.0.0.1:8000"})
        assert status == 200, url
        result = extract_listing(page, url, site=site.for_column(column), request=request)
        found += [link["url"] for link in result["links"]]
        per_column[column] = per_column.get(column, 0) + 1
        for nxt in [*result["next_urls"], *result["next_requests"]]:
            nxt = {"url": nxt, "method": "GET", "state": {}} if isinstance(nxt, str) else nxt
            if request_key(nxt) not in seen:
                seen.add(request_key(nxt))
                queue.append((column, nxt))
    expected = {base + a["url"] for a in portal.expected}
    on_site = [u for u in found if u.startswith(base)]
    assert set(on_site) == expected
    assert len(on_site) == len(expected)  # each article listed once (the pinned item is not repeated)
    # seed: 4 pages; trs: 4; hanweb: column + 3 dataproxy groups; hanweb_post: column + 2 groups;
    # jpaas: shell + 3 gateway pages; gkmlpt: shell + 3 API pages; api: 3 API pages
    assert list(per_column.values()) == [4, 4, 4, 3, 4, 4, 3]
