"""Listing extraction: saved listing pages (tests/fixtures/listing/<case>/) and the demo portal's columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gongkai_spider.demo import build_portal
from gongkai_spider.extract.listing import extract_listing
from gongkai_spider.sites import parse_site

FIXTURES = Path(__file__).parent / "fixtures" / "listing"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "page.html").is_file())
FIELDS = ("kind", "links", "next_urls")


def _run(case: str) -> tuple[dict, dict]:
    folder = FIXTURES / case
    url = (folder / "url.txt").read_text(encoding="utf-8").strip()
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return extract_listing((folder / "page.html").read_bytes(), url), expected


@pytest.mark.parametrize(("case", "field"), [(c, f) for c in CASES for f in FIELDS])
def test_fixture_field(case: str, field: str) -> None:
    got, expected = _run(case)
    assert got[field] == expected[field]


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


def test_hanweb_island_with_known_total_lists_every_group() -> None:
    page = (FIXTURES / "hanweb_column" / "page.html").read_bytes().replace(b"<recordset>", b"<totalrecord>8</totalrecord><recordset>")
    got = extract_listing(page, "http://fgw.example.gov.cn/col/col282/index.html")
    assert [u.split("?")[1].split("&perpage")[0] for u in got["next_urls"]] == ["startrecord=4&endrecord=6",
                                                                                "startrecord=7&endrecord=8"]


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
    """Breadth-first over listing pages only: each column's pagination mechanism leads to all its articles."""
    portal = build_portal({"seed": 65, "trs": 61, "hanweb": 140}, spam=2)
    base = "http://127.0.0.1:8000"
    queue = portal.start_urls(base)
    seen, found = set(queue), []
    while queue:
        url = queue.pop(0)
        page = portal.lookup(url[len(base):])
        assert page is not None, url
        result = extract_listing(page[0], url)
        found += [link["url"] for link in result["links"]]
        for next_url in result["next_urls"]:
            if next_url not in seen:
                seen.add(next_url)
                queue.append(next_url)
    expected = {base + a["url"] for a in portal.expected}
    on_site = [u for u in found if u.startswith(base)]
    assert set(on_site) == expected
    assert len(on_site) == len(expected)  # each article listed once (the pinned item is not repeated)
    assert len(seen) == 4 + 4 + (1 + 3)  # seed: 4 pages, trs: 4 pages, hanweb: column + 3 dataproxy groups
