"""Listings behind APIs (gov-portals.md 1.2, 1.4, 1.5): Hanweb jpaas, Guangdong gkmlpt, a site's listing.api and
listing.fragment, ASP.NET postback paging, JSON article pages; local servers behave like the real ones."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from crawl_support import Seen, html, run_scrapy, scrapy_env, serve

from gongkai_spider.demo import build_portal
from gongkai_spider.demo.modern import GKMLPT_PAGE_SIZE, JPAAS_GATEWAY
from gongkai_spider.extract.api import extract_json_detail, paged_request, request_key
from gongkai_spider.extract.listing import extract_listing
from gongkai_spider.sites import SiteConfigError, parse_site

BASE = "http://127.0.0.1:8000"


def _json(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


# ----------------------------------------------------------------------------------------------- the demo servers


def test_post_only_dataproxy_answers_get_with_an_error_page() -> None:
    portal = build_portal({"hanweb_post": 60})
    target = "/module/web/jpage/dataproxy.jsp?startrecord=46&endrecord=60&perpage=15"
    form = b"col=1&appid=1&webid=3&path=%2F&columnid=283&sourceContentType=1&unitid=62346&permissiontype=0"
    status, body, content_type = portal.respond("GET", target + "&columnid=283&unitid=62346&webid=3")
    assert status == 200 and content_type.startswith("text/html") and b"<datastore" not in body
    status, body, _ = portal.respond("POST", target, form)
    assert status == 200 and body.count(b"<record>") == 15


def test_jpaas_gateway_rejects_a_missing_param_json() -> None:
    portal = build_portal({"jpaas": 20})
    status, body, _ = portal.respond("GET", JPAAS_GATEWAY + "?webId=3&pageId=1001")
    assert status == 200 and json.loads(body)["success"] is False
    got = extract_listing(body, BASE + JPAAS_GATEWAY, request={"url": BASE, "state": {"dialect": "jpaas"}})
    assert (got["kind"], got["reason"]) == ("empty", "api_error")


def test_gkmlpt_api_repeats_page_zero_on_page_one() -> None:
    portal = build_portal({"gkmlpt": 30})
    pages = [portal.respond("GET", f"/gkmlpt/api/all/2001?page={n}&sid=3399", b"", {"Host": "h"})[1] for n in (0, 1)]
    assert pages[0] == pages[1]


# ----------------------------------------------------------------------------------------------- gkmlpt


def _walk(portal, column: str) -> tuple[list[str], list[str]]:
    """Follow one column's listing requests through the portal: (listing URLs asked for, article URLs)."""
    first = extract_listing(portal.pages[column][0], BASE + column)
    queue, asked, found = list(first["next_requests"]), [], []
    while queue:
        request = queue.pop(0)
        asked.append(request["url"])
        status, body, _ = portal.respond(request["method"], request["url"][len(BASE):], b"", {"Host": "127.0.0.1:8000"})
        assert status == 200, request["url"]
        got = extract_listing(body, request["url"], request=request)
        found += [link["url"] for link in got["links"]]
        queue += got["next_requests"]
    return asked, found


def test_gkmlpt_shell_leads_to_every_api_page_from_page_one() -> None:
    portal = build_portal({"gkmlpt": 2 * GKMLPT_PAGE_SIZE + 3})
    asked, found = _walk(portal, "/gkmlpt/index")
    assert [dict(parse_qsl(urlsplit(u).query))["page"] for u in asked] == ["1", "2", "3"]
    assert all("/gkmlpt/api/all/2001?" in u and "sid=3399" in u for u in asked)  # top-level category only
    assert sorted(found) == sorted(BASE + a["url"] for a in portal.expected)


def test_gkmlpt_record_fields_become_fallback_article_values() -> None:
    record = {"id": 963149, "title": "某某区关于某某的通告", "document_number": "某府通〔2024〕3号",
              "identifier": "114403006955506492/2024-00426", "publisher": "某某区人民政府", "date": 1716516131,
              "url": "http://www.example.gov.cn/gkmlpt/content/0/963/post_963149.html",
              "attachment": [{"name": "附件1.pdf", "url": "/attachment/0/88/963149.pdf"}]}
    body = _json({"classify": {"post_count": 1}, "articles": [record]})
    request = {"url": "x", "state": {"dialect": "gkmlpt", "page": 1, "sid": "1", "category": "5"}}
    (link,) = extract_listing(body, "http://www.example.gov.cn/gkmlpt/api/all/5?page=1&sid=1",
                              request=request)["links"]
    assert link["fields"] == {
        "publish_time": "2024-05-24 10:02:11",
        "doc_meta": {"doc_no": "某府通〔2024〕3号", "index_no": "114403006955506492/2024-00426", "issuer": "某某区人民政府"},
        "attachments": [{"name": "附件1.pdf", "url": "http://www.example.gov.cn/attachment/0/88/963149.pdf"}],
    }
    assert link["date"] == "2024-05-24 10:02:11"


def test_gkmlpt_stops_on_a_page_repeating_the_one_before() -> None:
    """A deployment that ignores ?page= keeps answering page 1: one repeat ends the column, no endless paging."""
    body = _json({"classify": {"post_count": 500},
                  "articles": [{"id": 1000 + i, "title": f"第{i}号通知公告"} for i in range(3)]})
    first = extract_listing(body, BASE + "/gkmlpt/api/all/5?page=1&sid=1",
                            request={"url": "", "state": {"dialect": "gkmlpt", "page": 1, "sid": "1", "category": "5"}})
    (second_request,) = first["next_requests"]
    again = extract_listing(body, second_request["url"], request=second_request)
    assert again["next_requests"] == []


def test_gkmlpt_single_page_deployment_answers_404_past_page_one(tmp_path: Path) -> None:
    """post_count says 30 but only page 1 exists: the 404 for page 2 ends the column, it is not a failure."""
    shell = html("<html><head><script>window._CONFIG = {SID: 'zq01', TREE: [{\"id\": 7, \"name\": \"公告\"}]};"
                 "</script></head><body><div id='app'></div></body></html>")
    articles = [{"id": 5001 + i, "title": f"肇示市第{i}号公告事项", "date": 1716516131 - i * 86400,
                 "url": f"/gkmlpt/content/0/5/post_{5001 + i}.html"} for i in range(5)]
    api = (200, [("Content-Type", "application/json")], _json({"classify": {"post_count": 30}, "articles": articles}))
    detail = "<html><body><h1>{t}</h1><div class='article-content'><p>{t}的具体内容如下，请各单位认真遵照执行。</p></div></body></html>"
    routes = {"/gkmlpt/index": shell, "/gkmlpt/api/all/7?page=1&sid=zq01": api}
    routes.update({a["url"]: html(detail.format(t=a["title"])) for a in articles})
    with serve(routes) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/gkmlpt/index"], tmp_path)
        assert server.hits("/gkmlpt/api/all/7?page=2&sid=zq01") == 1
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["gongkai/listing/api_end"] == 1 and result.stats["gongkai/store/new"] == 5
    assert not [k for k in result.stats if k.startswith("gongkai/fetch/failed")]
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        times = [t for (t,) in db.execute("select json_extract(doc, '$.publish_time') from articles")]
    assert len(times) == 5 and all(t.startswith("2024-05") for t in times)  # from the API record's date


# ----------------------------------------------------------------------------------------------- jpaas


def test_jpaas_shell_leads_to_every_gateway_page() -> None:
    portal = build_portal({"jpaas": 31})
    asked, found = _walk(portal, "/jpaas/col/index.html")
    params = [json.loads(dict(parse_qsl(urlsplit(u).query))["paramJson"]) for u in asked]
    assert params == [{"pageNo": n, "pageSize": 15} for n in (1, 2, 3)]  # rows=15 count=31 -> 3 pages
    assert all("pageId=1001" in u for u in asked)
    assert sorted(found) == sorted(BASE + a["url"] for a in portal.expected)


# ----------------------------------------------------------------------------------------------- listing.api


API_SITE = """
start_urls: [http://www.example.gov.cn/news/]
listing:
  api:
    url: /api/list?page={page}&size=2
    records: data.rows
    link: href
    title: name
    date: time
    total: data.total
"""


def _api_page(rows: list[dict], total: int = 5) -> bytes:
    return _json({"data": {"total": total, "rows": rows}})


def test_config_api_reads_records_and_pages_to_the_total() -> None:
    site = parse_site(API_SITE, name="x")
    rules = site.listing.api
    first = paged_request(rules, site.start_urls[0], 1, dialect="api")
    assert first["url"] == "http://www.example.gov.cn/api/list?page=1&size=2"
    assert first["headers"] == {"Referer": "http://www.example.gov.cn/news/"}
    rows = [{"href": "/news/1.html", "name": "一号通知公告", "time": "2024-05-24"}, {"href": "/news/2.html"}]
    got = extract_listing(_api_page(rows), first["url"], site=site, request=first)
    assert got["links"][0] == {"url": "http://www.example.gov.cn/news/1.html", "title": "一号通知公告",
                               "date": "2024-05-24", "pinned": False, "fields": {"publish_time": "2024-05-24"}}
    assert got["links"][1]["title"] is None and got["links"][1]["fields"] == {}
    (second,) = got["next_requests"]
    assert second["url"].endswith("page=2&size=2")
    third = extract_listing(_api_page([{"href": "/news/3.html"}, {"href": "/news/4.html"}]), second["url"],
                            site=site, request=second)["next_requests"][0]
    last = extract_listing(_api_page([{"href": "/news/5.html"}]), third["url"], site=site, request=third)
    assert last["next_requests"] == []  # 5 records, 2 a page: page 3 is the last


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html><body>Service Unavailable</body></html>", "not_json"),
    (b'{"data": {"total": 5, "rows": []}}', "no_records"),
    (b'{"data": null}', "no_records"),
    (b'{"data": {"rows": "oops"}}', "no_records"),
])
def test_config_api_bad_answers_end_the_column_with_a_reason(body: bytes, reason: str) -> None:
    site = parse_site(API_SITE, name="x")
    request = paged_request(site.listing.api, site.start_urls[0], 1, dialect="api")
    got = extract_listing(body, request["url"], site=site, request=request)
    assert (got["kind"], got["reason"], got["next_requests"]) == ("empty", reason, [])


def test_config_api_without_total_pages_until_an_empty_or_repeated_page() -> None:
    site = parse_site(API_SITE.replace("    total: data.total\n", ""), name="x")
    request = paged_request(site.listing.api, site.start_urls[0], 1, dialect="api")
    page = _api_page([{"href": "/news/1.html"}])
    got = extract_listing(page, request["url"], site=site, request=request)
    (again,) = got["next_requests"]
    assert extract_listing(page, again["url"], site=site, request=again)["next_requests"] == []


def test_config_api_post_json_body_and_page_numbers() -> None:
    site = parse_site("start_urls: [http://a.gov.cn/c/]\nlisting:\n  api:\n    url: /list\n    method: POST\n"
                      "    json: {pageNo: '{page}', label: 'p{page}', size: 10}\n    first_page: 0\n"
                      "    page_step: 10\n    records: list\n    link: url\n", name="x")
    request = paged_request(site.listing.api, site.start_urls[0], 0, dialect="api")
    assert (request["method"], request["json"]) == ("POST", {"pageNo": 0, "label": "p0", "size": 10})
    got = extract_listing(b'{"list": [{"url": "/a.html"}]}', request["url"], site=site, request=request)
    assert got["next_requests"][0]["json"] == {"pageNo": 10, "label": "p10", "size": 10}
    assert request_key(request) != request_key(got["next_requests"][0])


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("listing:\n  api: {url: /x, records: 'a[', link: b}", "listing.api.records: JMESPath 'a[' does not compile"),
    ("listing:\n  api: {url: /x, link: b}", "listing.api: 'records' is a required property"),
    ("listing:\n  api: {url: /x, records: a, link: b, form: {a: 1}}", "listing.api: form / json bodies need method: POST"),
    ("listing:\n  api: {url: /x, records: a, link: b, method: POST, form: {a: 1}, json: {}}",
     "listing.api: form and json exclude each other"),
    ("listing:\n  api: {url: /x, records: a, link: b, method: PUT}", "listing.api.method: 'PUT' is not one of"),
    ("listing:\n  api: {url: /x, records: a, link: b, page_step: 0}", "listing.api.page_step: 0 is less than"),
    ("listing:\n  api: {url: /x, records: a, link: b, paging: 1}", "listing.api: unknown key(s) paging"),
    ("listing:\n  fragment: {url: /x, records: a}", "listing.fragment: unknown key(s) records"),
    ("listing:\n  api: {url: /x, records: a, link: b}\n  fragment: {url: /y}", "listing: api and fragment exclude"),
    ("listing:\n  postback: yes", "listing.postback: True is not of type 'object'"),
    ("listing:\n  postback: {next: 'a[['}", "listing.postback.next: CSS selector 'a[[' does not compile"),
    ("detail:\n  json: {title: 'a[', body: b}", "detail.json.title: JMESPath 'a[' does not compile"),
    ("detail:\n  json: {headline: a}", "detail.json: unknown key(s) headline"),
    ("detail:\n  json: {doc_meta: {doc_no: 'x[?'}}", "detail.json.doc_meta.doc_no: JMESPath"),
])
def test_bad_api_configs_are_clear_errors(yaml_text: str, message: str) -> None:
    with pytest.raises(SiteConfigError, match=re.escape(message)):
        parse_site("start_urls: [http://a.gov.cn/]\n" + yaml_text, name="bad")


def test_a_column_entry_is_checked_too() -> None:
    with pytest.raises(SiteConfigError, match=re.escape("start_urls.1.listing.api.link: JMESPath")):
        parse_site("start_urls:\n  - /a/\n  - url: /b/\n    listing: {api: {url: /x, records: r, link: 'l['}}\n",
                   name="bad")


def test_a_column_can_carry_its_own_listing_rules() -> None:
    site = parse_site("start_urls:\n  - /a/\n  - url: /b/\n    listing:\n      api: {url: /api, records: r, link: l}\n",
                      name="x").with_base_url("http://h.gov.cn")
    assert site.start_urls == ("http://h.gov.cn/a/", "http://h.gov.cn/b/")
    assert site.listing_for("http://h.gov.cn/a/").api is None
    assert site.for_column("http://h.gov.cn/b/").listing.api.url == "/api"


# ----------------------------------------------------------------------------------------------- listing.fragment


def test_fragment_endpoint_pages_until_an_empty_fragment(tmp_path: Path) -> None:
    """Anhui style: ?IsAjax=1&pageIndex=n answers bare <li> items; the column page itself is not fetched."""
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "ajax.yaml").write_text(
        "start_urls: [/site/column/index.html]\nlisting:\n  fragment:\n"
        "    url: /site/label/8888?IsAjax=1&dataType=html&pageSize=4&pageIndex={page}\n", encoding="utf-8")
    articles = [f"/site/content/{8000 + i}.html" for i in range(10)]

    def fragment(seen: Seen) -> tuple:
        n = int(dict(parse_qsl(urlsplit(seen.path).query))["pageIndex"])
        items = "".join(f'<li><a href="{u}" title="第{u[-9:-5]}号政府信息公开事项">第{u[-9:-5]}号政府信息公开事项</a>'
                        f'<span class="date">2024-05-{i + 1:02d}</span></li>'
                        for i, u in enumerate(articles[(n - 1) * 4:n * 4]))
        return html(f'<div class="xxgk_navli"><ul>{items}</ul></div>' if items else "")

    detail = "<html><body><h1>政府信息公开事项</h1><div class='wzcon'><p>正文内容如下，请各单位认真遵照执行。</p></div></body></html>"
    routes = {f"/site/label/8888?IsAjax=1&dataType=html&pageSize=4&pageIndex={n}": fragment for n in range(1, 6)}
    routes.update({u: html(detail) for u in articles})
    with serve(routes) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", "site=ajax", "-a", f"base_url={server.base}"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites)))
        assert server.hits("/site/column/index.html") == 0
        assert [server.hits(f"/site/label/8888?IsAjax=1&dataType=html&pageSize=4&pageIndex={n}")
                for n in range(1, 6)] == [1, 1, 1, 1, 0]  # page 4 is empty: no page 5
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["gongkai/detail/items"] == 10 and result.stats["gongkai/listing/dialect/fragment"] == 4


# ----------------------------------------------------------------------------------------------- ASP.NET postback


def _aspnet_page(page: int, pages: int, per_page: int = 3) -> str:
    items = "".join(f'<tr><td><a href="/Info/Detail.aspx?id={page * 100 + i}">第{page}页第{i}条政务信息公开</a></td>'
                    f"<td>2024-05-{page:02d}</td></tr>" for i in range(per_page))
    nxt = (f"<a href=\"javascript:__doPostBack('ctl00$Main$Pager','{page + 1}')\">下一页</a>" if page < pages
           else "<a disabled='disabled'>下一页</a>")
    return (
        '<html><body><form method="post" action="./List.aspx?cat=12" id="aspnetForm">'
        f'<input type="hidden" name="__VIEWSTATE" value="VS{page}xyz=="/>'
        '<input type="hidden" name="__EVENTTARGET" value=""/><input type="hidden" name="__EVENTARGUMENT" value=""/>'
        '<input type="text" name="ctl00$Main$Keyword" value=""/>'
        '<input type="submit" name="ctl00$Main$Search" value="搜索"/>'
        f'<table class="list">{items}</table><div class="pager">第{page}/{pages}页 {nxt}</div></form></body></html>'
    )


def test_postback_pager_posts_the_form_back_like_from_response() -> None:
    got = extract_listing(_aspnet_page(1, 3).encode(), "http://x.gov.cn/Info/List.aspx?cat=12")
    assert len(got["links"]) == 3 and got["next_urls"] == []
    (request,) = got["next_requests"]
    assert (request["method"], request["url"]) == ("POST", "http://x.gov.cn/Info/List.aspx?cat=12")
    assert request["form"] == {"__VIEWSTATE": "VS1xyz==", "__EVENTTARGET": "ctl00$Main$Pager",
                               "__EVENTARGUMENT": "2", "ctl00$Main$Keyword": ""}  # no submit button
    assert extract_listing(_aspnet_page(3, 3).encode(), "http://x.gov.cn/Info/List.aspx?cat=12")["next_requests"] == []


def test_postback_pager_picked_by_a_site_selector() -> None:
    page = _aspnet_page(1, 3).replace("下一页", "2")  # a numbered pager: no 下一页 text
    assert extract_listing(page.encode(), "http://x.gov.cn/Info/List.aspx")["next_requests"] == []
    site = parse_site("start_urls: [http://x.gov.cn/]\nlisting:\n  postback: {next: \"div.pager a\"}\n", name="x")
    (request,) = extract_listing(page.encode(), "http://x.gov.cn/Info/List.aspx", site=site)["next_requests"]
    assert request["form"]["__EVENTARGUMENT"] == "2"


def test_postback_paging_crawls_every_page_once(tmp_path: Path) -> None:
    pages = 4

    def listing(seen: Seen) -> tuple:
        form = dict(parse_qsl(seen.body.decode())) if seen.method == "POST" else {}
        assert seen.method == "GET" or form["__VIEWSTATE"].startswith("VS")
        page = int(form.get("__EVENTARGUMENT") or 1)
        text = _aspnet_page(page, pages)
        if page == pages:  # the last page's pager points at itself, as some templates do: no loop
            text = text.replace("<a disabled='disabled'>下一页</a>",
                                f"<a href=\"javascript:__doPostBack('ctl00$Main$Pager','{pages}')\">下一页</a>")
        return html(text)

    detail = "<html><body><h1>政务信息公开</h1><div id='zoom'><p>信息公开正文内容，请各单位认真遵照执行。</p></div></body></html>"
    routes = {"/Info/List.aspx?cat=12": listing}
    routes.update({f"/Info/Detail.aspx?id={p * 100 + i}": html(detail) for p in range(1, pages + 1) for i in range(3)})
    with serve(routes) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/Info/List.aspx?cat=12"], tmp_path)
        posts = [s for s in server.seen if s.method == "POST"]
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(dict(parse_qsl(s.body.decode()))["__EVENTARGUMENT"] for s in posts) == ["2", "3", "4"]
    assert result.stats["gongkai/detail/items"] == 3 * pages


# ----------------------------------------------------------------------------------------------- JSON articles


RULES = {"title": "data.title", "publish_time": "data.pubTime", "source": "data.source", "body": "data.content",
         "attachments": "data.files", "doc_meta": {"doc_no": "data.wenhao"}}


def test_json_article_is_mapped_by_jmespath() -> None:
    body = _json({"data": {"title": "关于某某事项的通知", "pubTime": 1716516131000, "source": "市政府办公室",
                           "content": "<p>第一段内容。</p><p>第二段内容。</p><script>x()</script>",
                           "files": [{"name": "附件.pdf", "url": "/f/1.pdf"}, "/f/2.doc"], "wenhao": "示政〔2024〕1号"}})
    got = extract_json_detail(body, "http://a.gov.cn/api/detail?id=1", RULES)
    assert (got["kind"], got["title"], got["publish_time"], got["source"]) == (
        "article", "关于某某事项的通知", "2024-05-24 10:02:11", "市政府办公室")
    assert got["body"] == "第一段内容。\n第二段内容。"
    assert got["attachments"] == [{"name": "附件.pdf", "url": "http://a.gov.cn/f/1.pdf"},
                                  {"name": "2.doc", "url": "http://a.gov.cn/f/2.doc"}]
    assert got["doc_meta"] == {"doc_no": "示政〔2024〕1号"} and got["signals"]  # spam signals of the body HTML


@pytest.mark.parametrize(("body", "kind"), [
    (b"<html><body><h1>an HTML page</h1></body></html>", None),
    (b'{"code": 404, "msg": "not found"}', "not_article"),
    (b'{"data": {"title": ["not", "text"]}}', "not_article"),
])
def test_json_article_bad_answers(body: bytes, kind: str | None) -> None:
    got = extract_json_detail(body, "http://a.gov.cn/api/detail?id=1", RULES)
    assert (got if got is None else got["kind"]) == kind


# ----------------------------------------------------------------------------------------------- README examples


def _readme_config(name: str):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    (block,) = [b for b in blocks if b.startswith(f"name: {name}\n")]
    return parse_site(block, name=name)


def test_readme_json_api_config_loads_and_reads_its_api() -> None:
    site = _readme_config("example_api")
    column = site.start_urls[0]
    rules = site.listing_for(column).api
    request = paged_request(rules, column, rules.first_page, dialect="api")
    assert request["url"] == "https://www.example.gov.cn/api/article/list?channelId=12&pageNo=1&pageSize=20"
    body = _json({"data": {"total": 41, "list": [{"id": 77, "title": "关于印发某某办法的通知",
                                                  "publishDate": "2024-05-24"}] * 20}})
    got = extract_listing(body, request["url"], site=site.for_column(column), request=request)
    assert got["links"][0]["url"] == "https://www.example.gov.cn/zcwj/77.html"
    assert got["next_requests"][0]["url"].endswith("pageNo=2&pageSize=20")
    article = extract_json_detail(_json({"data": {"title": "关于印发某某办法的通知", "publishDate": "2024-05-24",
                                                   "content": "<p>正文。</p>", "wenhao": "示政〔2024〕2号"}}),
                                  "https://www.example.gov.cn/zcwj/77.html", site.detail_json)
    assert (article["title"], article["body"], article["doc_meta"]) == (
        "关于印发某某办法的通知", "正文。", {"doc_no": "示政〔2024〕2号"})


def test_readme_postback_config_loads_and_finds_the_pager() -> None:
    site = _readme_config("example_postback")
    page = _aspnet_page(1, 3).replace("下一页", "末页")  # no 下一页 text: found by the selector only
    got = extract_listing(page.encode(), site.start_urls[0], site=site)
    assert len(got["links"]) == 3
    assert got["next_requests"][0]["form"]["__EVENTARGUMENT"] == "2"


# ----------------------------------------------------------------------------------------------- the pending ledger


def test_failed_api_record_is_pending_and_retried_with_its_record_values(tmp_path: Path) -> None:
    """A gkmlpt article whose page fails goes to the completeness ledger with the API record's values; the next
    run retries it directly and stores it with them (文号, date)."""
    from gongkai_spider.storage.base import PENDING
    from gongkai_spider.storage.sqlite import SQLiteStore

    shell = html("<html><head><script>window._CONFIG = {SID: 's1', TREE: [{\"id\": 3, \"name\": \"公告\"}]};"
                 "</script></head><body></body></html>")
    articles = [{"id": 7001 + i, "title": f"示范县第{i}号政府公告", "date": 1716516131 - i * 86400,
                 "document_number": f"示县〔2024〕{i + 1}号", "url": f"/gkmlpt/content/0/7/post_{7001 + i}.html"}
                for i in range(3)]
    api = (200, [("Content-Type", "application/json")], _json({"classify": {"post_count": 3}, "articles": articles}))
    page = "<html><body><h1>{t}</h1><div class='article-content'><p>{t}的具体内容如下，请遵照执行。</p></div></body></html>"
    broken = {"down": True}

    def flaky(seen: Seen) -> tuple:
        if broken["down"]:
            return 503, [("Content-Type", "text/html")], b"<html><body>Service Unavailable</body></html>"
        return html(page.format(t=articles[1]["title"]))

    routes = {"/gkmlpt/index": shell, "/gkmlpt/api/all/3?page=1&sid=s1": api, articles[1]["url"]: flaky}
    routes.update({a["url"]: html(page.format(t=a["title"])) for a in (articles[0], articles[2])})
    env = scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"))
    with serve(routes) as server:
        first = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/gkmlpt/index"], tmp_path, env=env)
        store = SQLiteStore(tmp_path / "store.sqlite3")
        try:
            (entry,) = store.iter_docs(PENDING)
        finally:
            store.close()
        assert entry["url"] == server.base + articles[1]["url"]
        assert entry["request"]["list_fields"]["doc_meta"] == {"doc_no": "示县〔2024〕2号"}
        broken["down"] = False
        second = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/gkmlpt/index"], tmp_path, env=env)
    assert first.stats["gongkai/pending/failed"] == 1, first.log[-3000:]
    assert second.stats["gongkai/pending/retried"] == 1 and second.stats["gongkai/pending/cleared"] == 1
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        (doc,) = [json.loads(d) for (d,) in db.execute("select doc from articles") if articles[1]["title"] in d]
    assert doc["doc_meta"]["doc_no"] == "示县〔2024〕2号" and doc["publish_time"].startswith("2024-05-23")
