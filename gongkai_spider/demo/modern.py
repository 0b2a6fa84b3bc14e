"""The demo portal's API-backed columns (gov-portals.md 1.2, 1.4): their pages and their API endpoints.

``build(maker, counts)`` returns the articles, the static pages (column shells, article pages) and
``respond(method, target, body, headers)``, which answers the API requests the way the real servers do:

* ``hanweb_post`` — dataproxy.jsp for column 283 answers only a POST carrying jpage.js's form fields
  (``columnid``, ``webid``, ``unitid`` ...) with ``startrecord``/``endrecord`` in the query; a GET gets an
  HTML error page with status 200, as the real one does.
* ``jpaas`` — ``front/page/build/unit`` needs ``paramJson={"pageNo":n,"pageSize":k}`` (missing or
  unreadable: ``{"success":false}``); the answer's ``data.html`` fragment carries
  ``<div class="pagination" rows=k count=N>``.
* ``gkmlpt`` — ``/gkmlpt/api/all/{id}?page=n&sid=SID``: page 0 and page 1 are the same batch; a wrong SID or
  category is a 404; record URLs are absolute, built from the request's Host header.
* ``api`` — ``POST /api/news/list`` with a JSON body ``{"channel", "pageNo", "pageSize"}`` (GET: 405);
  articles are JSON at ``/api/news/detail?id=N``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from gongkai_spider.demo import portal as P
from gongkai_spider.demo.text import TextMaker

Answer = tuple[int, bytes, str]

HANWEB_POST_COLUMN_ID = 283
HANWEB_POST_UNIT_ID = "62346"
HANWEB_POST_NEXTGROUP_QUERY = (
    f"page=1&webid=3&path=/&columnid={HANWEB_POST_COLUMN_ID}&unitid={HANWEB_POST_UNIT_ID}"
    "&webname=%E7%A4%BA%E8%8C%83%E5%B8%82%E4%BA%BA%E6%B0%91%E6%94%BF%E5%BA%9C&permissiontype=0"
)
JPAAS_GATEWAY = "/api-gateway/jpaas-publish-server/front/page/build/unit"
JPAAS_PAGE_SIZE = 15
JPAAS_QUERY = {"webId": "3", "pageId": "1001", "tagId": "信息列表", "tplSetId": "5", "pageType": "column"}
GKMLPT_SID = "3399"
GKMLPT_CATEGORY = 2001
GKMLPT_PAGE_SIZE = 20
API_PAGE_SIZE = 10
API_CHANNEL = "zcjd"
JSON_UTF8 = "application/json;charset=UTF-8"
ERROR_PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>系统提示</title></head><body>"
              "<div class='nav'><a href='/'>首页</a> <a href='/xxgk/index.html'>信息公开</a></div>"
              "<div class='error'><h1>系统提示</h1><p>对不起，您的请求方式不正确，请返回首页重新访问。</p>"
              "<ul><li><a href='/col/col283/index.html'>返回栏目首页重新访问</a></li></ul></div></body></html>").encode()


@dataclass
class ApiColumns:
    articles: list[P.Article] = field(default_factory=list)
    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    respond: Callable[[str, str, bytes, Mapping[str, str]], Answer | None] | None = None


def build(maker: TextMaker, counts: Mapping[str, int]) -> ApiColumns:
    hanweb_post = P._hanweb_articles(maker, counts.get("hanweb_post", 0), column="hanweb_post",
                                     column_id=HANWEB_POST_COLUMN_ID, first_id=300001)
    jpaas = P._hanweb_articles(maker, counts.get("jpaas", 0), column="jpaas", column_id=1001, first_id=400001,
                               folder="/jpaas/art")
    gkmlpt = _gkmlpt_articles(maker, counts.get("gkmlpt", 0))
    api = _api_articles(maker, counts.get("api", 0))
    pages: dict[str, tuple[bytes, str]] = {}
    pages[P.COLUMNS["hanweb_post"]] = (P._hanweb_column(
        hanweb_post, path=P.COLUMNS["hanweb_post"], nextgroup_query=HANWEB_POST_NEXTGROUP_QUERY,
        store_id=HANWEB_POST_UNIT_ID).encode(), P.HTML_UTF8)
    pages[P.COLUMNS["jpaas"]] = (_jpaas_shell().encode(), P.HTML_UTF8)
    pages[P.COLUMNS["gkmlpt"]] = (_gkmlpt_shell().encode(), P.HTML_UTF8)
    pages[P.COLUMNS["api"]] = (_api_column_page().encode(), P.HTML_UTF8)
    for article in (*hanweb_post, *jpaas):
        pages[article.path] = (P._hanweb_detail(article).encode(), P.HTML_UTF8)
    for article in gkmlpt:
        pages[article.path] = (_gkmlpt_detail(article).encode(), P.HTML_UTF8)
    for article in api:
        pages[article.path] = (_api_detail(article), JSON_UTF8)
    endpoints = _Endpoints(hanweb_post, jpaas, gkmlpt, api)
    return ApiColumns([*hanweb_post, *jpaas, *gkmlpt, *api], pages, endpoints.respond)


class _Endpoints:
    """The API answers, computed per request from the column's articles."""

    def __init__(self, hanweb_post: list[P.Article], jpaas: list[P.Article], gkmlpt: list[P.Article],
                 api: list[P.Article]) -> None:
        self.hanweb_records = [P._hanweb_record(a) for a in hanweb_post]
        self.jpaas, self.gkmlpt, self.api = jpaas, gkmlpt, api

    def respond(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> Answer | None:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path == P.DATAPROXY_PATH:
            return self._dataproxy(method, query, body)
        if parts.path == JPAAS_GATEWAY:
            return self._jpaas(query)
        if parts.path.startswith("/gkmlpt/api/all/"):
            return self._gkmlpt(parts.path.rsplit("/", 1)[1], query, headers.get("host", "127.0.0.1"))
        if parts.path == "/api/news/list":
            return self._api_list(method, body)
        return None

    def _dataproxy(self, method: str, query: dict[str, str], body: bytes) -> Answer | None:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if method == "POST" else {}
        column = form.get("columnid") or query.get("columnid")
        if column != str(HANWEB_POST_COLUMN_ID):
            return None  # another column's dataproxy (portal.py answers column 282)
        if method != "POST" or form.get("unitid") != HANWEB_POST_UNIT_ID or not form.get("webid"):
            return 200, ERROR_PAGE, P.HTML_UTF8
        try:
            start, end = int(query["startrecord"]), int(query["endrecord"])
        except (KeyError, ValueError):
            return 200, ERROR_PAGE, P.HTML_UTF8
        if start < 1 or end < start:
            return 200, ERROR_PAGE, P.HTML_UTF8
        return 200, P._dataproxy_xml(self.hanweb_records, start, end), P.XML_NO_CHARSET

    def _jpaas(self, query: dict[str, str]) -> Answer:
        try:
            params = json.loads(query["paramJson"])
            page, size = int(params["pageNo"]), int(params["pageSize"])
        except (KeyError, ValueError, TypeError):
            return _json({"success": False, "code": "400", "message": "paramJson参数不能为空", "data": None})
        if query.get("pageId") != JPAAS_QUERY["pageId"] or page < 1 or size < 1:
            return _json({"success": False, "code": "404", "message": "页面不存在", "data": None})
        chunk = self.jpaas[(page - 1) * size:page * size]
        items = "".join(f'<li class="clearfix"><a href="{a.path}" title="{_esc(a.title)}" target="_blank">'
                        f'{_esc(a.title)}</a><span class="date">{P._date(a.published)}</span></li>' for a in chunk)
        fragment = (f'<ul class="list">{items}</ul><div class="pagination" rows="{size}" count="{len(self.jpaas)}">'
                    f'<span>共{len(self.jpaas)}条</span></div>')
        return _json({"success": True, "code": "200", "data": {"html": fragment}})

    def _gkmlpt(self, category: str, query: dict[str, str], host: str) -> Answer | None:
        if category != str(GKMLPT_CATEGORY) or query.get("sid") != GKMLPT_SID:
            return None
        try:
            page = max(int(query.get("page", "0")), 1)  # page 0 repeats page 1
        except ValueError:
            return None
        chunk = self.gkmlpt[(page - 1) * GKMLPT_PAGE_SIZE:page * GKMLPT_PAGE_SIZE]
        return _json({"classify": {"id": GKMLPT_CATEGORY, "name": "通知公告", "post_count": len(self.gkmlpt)},
                      "articles": [_gkmlpt_record(a, f"http://{host}") for a in chunk]})

    def _api_list(self, method: str, body: bytes) -> Answer:
        if method != "POST":
            return 405, b'{"code":405,"msg":"Request method GET not supported"}', JSON_UTF8
        try:
            query = json.loads(body or b"{}")
            page, size = int(query["pageNo"]), int(query["pageSize"])
        except (KeyError, ValueError, TypeError):
            return _json({"code": 400, "msg": "参数错误", "data": None})
        if query.get("channel") != API_CHANNEL or page < 1 or size < 1:
            return _json({"code": 0, "msg": "ok", "data": {"total": 0, "list": []}})
        chunk = self.api[(page - 1) * size:page * size]
        records = [{"id": int(a.path.rsplit("=", 1)[1]), "title": a.title, "pubDate": P._minutes(a.published)}
                   for a in chunk]
        return _json({"code": 0, "msg": "ok", "data": {"total": len(self.api), "list": records}})


def _json(data: object) -> Answer:
    return 200, json.dumps(data, ensure_ascii=False).encode(), JSON_UTF8


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


# ---------------------------------------------------------------------------------------------------------
# jpaas
# ---------------------------------------------------------------------------------------------------------


def _jpaas_shell() -> str:
    query = dict(JPAAS_QUERY, paramJson={"pageNo": 1, "pageSize": JPAAS_PAGE_SIZE})
    blob = _esc(json.dumps(query, ensure_ascii=False))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">\n'
        f'<title>部门文件 {P.SITE_NAME}</title>\n<meta name="generator" content="大汉版通">\n</head><body>\n'
        f"{P._header()}"
        '<div class="main">\n<div class="bt-position">您当前的位置：<a href="/">首页</a> &gt; 部门文件</div>\n'
        f'<div class="list-wrap" id="jpaas-list" queryData="{blob}"><p class="loading">正在加载……</p></div>\n'
        '<script src="/jpaas/js/jquery.min.js"></script><script src="/jpaas/js/build-unit.js"></script>\n</div>\n'
        f"{P._footer()}</body></html>"
    )


# ---------------------------------------------------------------------------------------------------------
# gkmlpt
# ---------------------------------------------------------------------------------------------------------


def _gkmlpt_articles(maker: TextMaker, count: int) -> list[P.Article]:
    articles = []
    for i, published in enumerate(P._timeline(maker, count)):
        published = published.replace(second=maker.rng.randint(0, 59))
        post_id = 963001 + i
        path = f"/gkmlpt/content/{post_id // 1000000}/{post_id // 1000}/post_{post_id}.html"
        article = P._new_article(maker, "gkmlpt", path, published, maker.rng.randint(3, 6))
        article.doc_meta = {"index_no": f"114403006955506492/{published.year}-{i + 1:05d}", "issuer": article.source}
        if i % 3 == 0:
            article.doc_meta["doc_no"] = f"示府通〔{published.year}〕{i % 50 + 1}号"
        if i % 4 == 1:
            article.attachments = [(f"附件{i}.pdf", f"/attachment/0/{post_id // 1000}/{post_id}.pdf")]
        articles.append(article)
    return articles


def _gkmlpt_record(article: P.Article, origin: str) -> dict:
    post_id = int(article.path.rsplit("_", 1)[1].removesuffix(".html"))
    return {"id": post_id, "title": article.title, "document_number": article.doc_meta.get("doc_no", ""),
            "identifier": article.doc_meta["index_no"], "publisher": article.doc_meta["issuer"],
            "date": int(article.published.timestamp()), "display_publish_time": P._date(article.published),
            "created_at": f"{article.published:%Y-%m-%d %H:%M:%S}", "url": origin + article.path,
            "attachment": [{"name": name, "url": origin + url} for name, url in article.attachments],
            "is_expired": 0, "is_abolished": 0}


def _gkmlpt_shell() -> str:
    tree = json.dumps([{"id": GKMLPT_CATEGORY, "name": "通知公告", "children": [
        {"id": GKMLPT_CATEGORY + 1, "name": "公示公告", "children": []}]}], ensure_ascii=False)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>政府信息公开目录</title>\n'
        "<script>window._CONFIG = {\n"
        f"  SID: '{GKMLPT_SID}',\n  SITE_NAME: '{P.SITE_NAME}',\n  TREE: {tree},\n  DETAIL: null\n}};</script>\n"
        '</head><body><div id="app"><noscript>请开启JavaScript</noscript></div>\n'
        '<script src="/gkmlpt/static/js/app.js"></script></body></html>'
    )


def _gkmlpt_detail(article: P.Article) -> str:
    """A gkmlpt article page without the metadata table, date or attachments (the API record has them)."""
    body = "\n".join(f"<p>{_esc(p)}</p>" for p in article.paragraphs)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">\n'
        f"<title>{_esc(article.title)}</title>\n</head><body>\n"
        '<div class="header"><a href="/gkmlpt/index">政府信息公开目录</a></div>\n'
        f'<div class="content-box">\n<h1 class="title">{_esc(article.title)}</h1>\n'
        f'<div class="source">来源：{_esc(article.source)}</div>\n'
        f'<div class="article-content">\n{body}\n</div>\n</div>\n'
        "</body></html>"
    )


# ---------------------------------------------------------------------------------------------------------
# api: a POST JSON list and JSON articles
# ---------------------------------------------------------------------------------------------------------


def _api_articles(maker: TextMaker, count: int) -> list[P.Article]:
    articles = []
    for i, published in enumerate(P._timeline(maker, count)):
        published = published.replace(second=0)
        path = f"/api/news/detail?id={500001 + i}"
        articles.append(P._new_article(maker, "api", path, published, maker.rng.randint(3, 6)))
    return articles


def _api_detail(article: P.Article) -> bytes:
    content = "".join(f"<p>{_esc(p)}</p>" for p in article.paragraphs)
    return json.dumps({"code": 0, "data": {"id": int(article.path.rsplit("=", 1)[1]), "title": article.title,
                                           "pubTime": f"{article.published:%Y-%m-%d %H:%M:%S}",
                                           "source": article.source, "content": content}},
                      ensure_ascii=False).encode()


def _api_column_page() -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">\n'
        f"<title>政策解读 {P.SITE_NAME}</title></head><body>\n{P._header()}"
        f'<div class="main"><div id="news-list" data-channel="{API_CHANNEL}"></div></div>\n'
        f'<script src="/static/js/news-list.js"></script>\n{P._footer()}</body></html>'
    )
