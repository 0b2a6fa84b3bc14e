"""A generated local government portal: the pages `gongkai demo`, the end-to-end tests and the benchmarks crawl.

``build_portal(n)`` returns a :class:`Portal`: every page as bytes with its Content-Type, keyed by
root-relative URL, plus the list of articles a perfect crawl must store (``expected``). Seven columns model
the page families of docs/gov-portals.md section 1 and the seed page; the four whose lists come from an API
(``hanweb_post``, ``jpaas``, ``gkmlpt``, ``api``) are built in ``demo/modern.py``, which also answers their
API requests (``Portal.respond``):

* ``seed``   — ``/xxgk/``: the seed page's layout (breadcrumb, title, ``发布时间 | 阅读量 | 作者``, ``本文摘要``,
  body, ``本文关键词``, ``本文来源``); listing pages linked by plain ``下一页`` links; a pinned (置顶) item, a
  hot-list sidebar, one off-site reprint link; optional SEO-hijacked (spam) pages with the seed's brand injection.
* ``trs``    — ``/zwgk/tzgg/``: TRS WCM static ``index.html, index_1.html ...`` paged only by
  ``createPageHTML(count, cur, "index", "html")``; details ``./YYYYMM/tYYYYMMDD_NNNNNN.html`` with the standard
  metas, ``div.TRS_Editor``, ``span#appendix a[oldsrc]``; GB2312 bytes declared only in ``<meta charset>``;
  one article split over three pages (``_1``, ``_2``).
* ``hanweb`` — ``/col/col282/index.html``: Hanweb JCMS ``<datastore>`` record island whose ``<nextgroup>``
  leads to ``/module/web/jpage/dataproxy.jsp`` XML groups (``<totalrecord>``, no charset header); details
  ``/art/YYYY/M/D/art_282_ID.html`` with a 信息公开 metadata table (NBSP-padded labels), ``信息来源`` and a
  ``浏览次数`` placeholder that JavaScript would fill. Its dataproxy.jsp answers GET and POST.
* ``hanweb_post`` — ``/col/col283/index.html``: the same family, but dataproxy.jsp answers only jpage.js's POST
  (form fields, startrecord/endrecord in the query); a GET gets an error page.
* ``jpaas`` — ``/jpaas/col/index.html``: a Hanweb jpaas shell with a ``queryData`` blob; the gateway
  ``front/page/build/unit`` wants ``paramJson`` and answers JSON whose ``data.html`` is the list fragment.
* ``gkmlpt`` — ``/gkmlpt/index``: Guangdong's directory shell (``window._CONFIG`` SID and TREE); the JSON API
  ``/gkmlpt/api/all/{id}?page=n&sid=`` repeats page 0 on page 1; article pages lack the metadata table,
  date and attachments, which only the API records carry.
* ``api`` — ``/zcjd/index.html``: a column whose list is a POST JSON API and whose articles are JSON
  (``listing.api`` and ``detail.json`` in sites/demo.yaml).

Pages are plain string templates so 5,000+ articles per column build in about a second.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from gongkai_spider.demo import files as demo_files
from gongkai_spider.demo.text import TextMaker
from gongkai_spider.normalize import SHANGHAI

SITE_NAME = "示范市人民政府"
SITE_ID_CODE = "3399000001"
# The seed page's hijack: brand in the site name, title suffix, author, keywords and source line.
SPAM_BRAND = "尊龙凯时公司官网"
SPAM_SITE_NAME = "尊龙凯时·(中国)官方网站"
SPAM_SOURCE = f"{SPAM_BRAND}-www.zlks-brand-example.com"

# column name -> root-relative URL of its first listing page
COLUMNS: dict[str, str] = {
    "seed": "/xxgk/index.html",
    "trs": "/zwgk/tzgg/index.html",
    "hanweb": "/col/col282/index.html",
    "hanweb_post": "/col/col283/index.html",
    "jpaas": "/jpaas/col/index.html",
    "gkmlpt": "/gkmlpt/index",
    "api": "/zcjd/index.html",
}
# The columns whose lists come from an API (demo/modern.py)
API_COLUMNS: tuple[str, ...] = ("hanweb_post", "jpaas", "gkmlpt", "api")
SEED_PAGE_SIZE = 20
TRS_PAGE_SIZE = 20
HANWEB_PER_PAGE = 15
HANWEB_GROUP_SIZE = 3 * HANWEB_PER_PAGE  # records per <datastore> island / dataproxy.jsp response
HANWEB_COLUMN_ID = 282
DATAPROXY_PATH = "/module/web/jpage/dataproxy.jsp"
# The <nextgroup> query of the Hanweb column (replayed verbatim by crawlers, with startrecord/endrecord added).
HANWEB_NEXTGROUP_QUERY = (
    f"page=1&webid=3&path=/&columnid={HANWEB_COLUMN_ID}&unitid=62345"
    "&webname=%E7%A4%BA%E8%8C%83%E5%B8%82%E4%BA%BA%E6%B0%91%E6%94%BF%E5%BA%9C&permissiontype=0"
)
OFFSITE_REPRINT_URL = "https://www.gov.cn/zhengce/content/202405/content_6953183.htm"

HTML_UTF8 = "text/html; charset=utf-8"
HTML_NO_CHARSET = "text/html"  # TRS: the charset is only in <meta>, as on older GB2312 sites
XML_NO_CHARSET = "text/xml"  # dataproxy.jsp: no charset header (gov-portals.md 1.2)
NOT_FOUND_PAGE = b"<html><head><title>404</title></head><body><h1>404 Not Found</h1></body></html>"
ROBOTS_TXT = b"User-agent: *\nDisallow: /admin/\n"

_NEWEST = datetime(2024, 6, 28, 17, 30, tzinfo=SHANGHAI)


@dataclass
class Article:
    """One generated article: what the page shows and what a correct crawl stores."""

    column: str
    path: str  # root-relative URL of page 1
    title: str  # the clean headline
    published: datetime
    source: str
    paragraphs: list[str]
    summary: str
    keywords: list[str]
    author: str | None = None
    read_count: int | None = None
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (name, root-relative URL)
    files: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # attachment URL -> (format, lines)
    doc_meta: dict[str, str] = field(default_factory=dict)
    is_spam: bool = False
    pinned: bool = False
    page_breaks: tuple[int, ...] = ()  # paragraph indexes where continuation pages _1, _2 ... start

    def expected(self) -> dict:
        return {
            "url": self.path,
            "column": self.column,
            "title": self.title,
            "publish_time": self.published.isoformat(),
            "source": None if self.is_spam else self.source,
            "author": None if self.is_spam else self.author,
            "read_count": self.read_count,
            "keywords": [] if self.is_spam else list(self.keywords),
            "summary": self.summary,
            "body_first": self.paragraphs[0],
            "body_last": self.paragraphs[-1],
            "paragraphs": len(self.paragraphs),
            "attachments": [{"name": name, "url": url} for name, url in self.attachments],
            # attachment URL -> (format, the lines its text holds)
            "files": {url: {"format": fmt, "lines": list(lines)} for url, (fmt, lines) in self.files.items()},
            "doc_meta": dict(self.doc_meta),
            "is_spam": self.is_spam,
        }


@dataclass
class Portal:
    """Pages keyed by root-relative URL (query strings canonicalised) and the articles behind them.

    ``expected`` entries carry root-relative ``url`` values; :meth:`expected_for` joins them to a served base.
    For spam pages ``title`` is the headline without the injected brand, and ``source``/``author``/
    ``keywords`` are empty because they hold nothing but the brand.
    """

    pages: dict[str, tuple[bytes, str]]
    expected: list[dict]
    columns: dict[str, str] = field(default_factory=lambda: dict(COLUMNS))
    hanweb_records: list[str] = field(default_factory=list)  # <record> elements in column order
    # The API endpoints of demo/modern.py: (method, target, body, headers) -> (status, body, type) or None
    api: Any = None

    def lookup(self, target: str) -> tuple[bytes, str] | None:
        """The (body, content type) a GET of a request target such as ``/a/b.jsp?x=1&y=2`` is answered with.

        dataproxy.jsp answers any ``startrecord``/``endrecord`` range of the Hanweb column, as the real
        one does; ``pages`` holds the groups a crawler asks for when it steps by whole groups.
        """
        status, body, content_type = self.respond("GET", target)
        return (body, content_type) if status == 200 else None

    def respond(self, method: str, target: str, body: bytes = b"",
                headers: Mapping[str, str] | None = None) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request; 404 for what the portal does not have."""
        if self.api is not None:
            answer = self.api(method, target, body, {k.lower(): v for k, v in (headers or {}).items()})
            if answer is not None:
                return answer
        page = self.pages.get(canonical_target(target)) if method in ("GET", "HEAD") else None
        if page is None and urlsplit(target).path == DATAPROXY_PATH:
            fields = dict(parse_qsl(urlsplit(target).query))
            if method == "POST":
                fields.update(parse_qsl(body.decode("utf-8", "replace")))
            page = self._dataproxy(fields)
        return (200, *page) if page else (404, NOT_FOUND_PAGE, "text/html")

    def _dataproxy(self, query: dict[str, str]) -> tuple[bytes, str] | None:
        if query.get("columnid") != str(HANWEB_COLUMN_ID):
            return None
        try:
            start, end = int(query["startrecord"]), int(query["endrecord"])
        except (KeyError, ValueError):
            return None
        if start < 1 or end < start:
            return None
        return _dataproxy_xml(self.hanweb_records, start, end), XML_NO_CHARSET

    def expected_for(self, base_url: str) -> list[dict]:
        """``expected`` with absolute URLs (article and attachment) under ``base_url``."""
        out = []
        for article in self.expected:
            doc = dict(article, url=urljoin(base_url, article["url"]))
            doc["attachments"] = [dict(a, url=urljoin(base_url, a["url"])) for a in article["attachments"]]
            out.append(doc)
        return out

    def column_of(self, path: str) -> str | None:
        """The column an article URL (root-relative, query included) belongs to, or None."""
        if not hasattr(self, "_columns_by_path"):
            self._columns_by_path = {canonical_target(a["url"]): a["column"] for a in self.expected}
        return self._columns_by_path.get(canonical_target(path))

    def start_urls(self, base_url: str) -> list[str]:
        return [urljoin(base_url, path) for path in self.columns.values()]


def canonical_target(target: str) -> str:
    """Path plus sorted query, so ``?b=2&a=1`` and ``?a=1&b=2`` name the same page."""
    parts = urlsplit(target)
    if not parts.query:
        return parts.path or "/"
    return f"{parts.path}?{urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))}"


def build_portal(articles_per_column: int | Mapping[str, int], *, seed: int = 0, spam: int = 0) -> Portal:
    """Build the demo portal.

    ``articles_per_column``: one count for every column, or ``{"seed": n, "trs": n, ...}`` (a missing
    column gets no articles but keeps its empty listing page). ``spam``: SEO-hijacked pages added to the seed
    column (listed like the others; a correct crawl quarantines them).
    """
    if isinstance(articles_per_column, int):
        counts = dict.fromkeys(COLUMNS, articles_per_column)
    else:
        unknown = set(articles_per_column) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown demo columns {sorted(unknown)}; known: {sorted(COLUMNS)}")
        counts = {name: int(articles_per_column.get(name, 0)) for name in COLUMNS}
    if any(n < 0 for n in counts.values()) or spam < 0:
        raise ValueError("article counts must be >= 0")

    maker = TextMaker(seed)
    pages: dict[str, tuple[bytes, str]] = {
        "/robots.txt": (ROBOTS_TXT, "text/plain"),
        "/": (_home_page().encode(), HTML_UTF8),
    }
    seed_articles = _seed_articles(maker, counts["seed"], spam)
    trs_articles = _trs_articles(maker, counts["trs"])
    hanweb_articles = _hanweb_articles(maker, counts["hanweb"])
    pages.update(_seed_pages(seed_articles))
    pages.update(_trs_pages(trs_articles))
    pages.update(_hanweb_pages(hanweb_articles))
    from gongkai_spider.demo import modern  # builds on this module's article and page helpers

    api_columns = modern.build(maker, counts)
    pages.update(api_columns.pages)
    pages.update(_file_pages([*seed_articles, *trs_articles, *hanweb_articles, *api_columns.articles]))
    expected = [a.expected() for a in (*seed_articles, *trs_articles, *hanweb_articles, *api_columns.articles)]
    return Portal(pages={canonical_target(k): v for k, v in pages.items()}, expected=expected,
                  hanweb_records=[_hanweb_record(a) for a in hanweb_articles], api=api_columns.respond)


# ---------------------------------------------------------------------------------------------------------
# Article generation
# ---------------------------------------------------------------------------------------------------------


def _timeline(maker: TextMaker, count: int) -> list[datetime]:
    """``count`` publish times, newest first, a few hours to a day apart."""
    times, current = [], _NEWEST
    for _ in range(count):
        times.append(current)
        current -= timedelta(minutes=maker.rng.randint(180, 1800))
    return times


def _new_article(maker: TextMaker, column: str, path: str, published: datetime, n_paragraphs: int) -> Article:
    topic, place, org = maker.topic_place_org()
    title = maker.headline(topic, place, org)
    paragraphs = maker.paragraphs(n_paragraphs, topic, place, org)
    summary = paragraphs[0].split("。")[0] + "。"
    # Gov articles restate their headline in the opening paragraph (the spam scorer relies on that overlap).
    paragraphs[0] += f"现将“{title}”有关情况公布如下。"
    return Article(column=column, path=path, title=title, published=published,
                   source=org, paragraphs=paragraphs, summary=summary, keywords=[topic, place])


# Hanweb article (by index) whose page body is only 详见附件 and whose text is in its PDF attachment.
ATTACHMENT_ONLY_INDEX = 2


def _attach(article: Article, fmt: str, name: str, url: str, lines: list[str] | None = None) -> None:
    """Give ``article`` an attachment of format ``fmt`` (served by the portal) with its own text."""
    if lines is None:
        lines = [f"{name}（{article.source}）", f"发布日期：{article.published:%Y年%m月%d日}",
                 article.paragraphs[-1]]
    article.attachments.append((name, url))
    article.files[url] = (fmt, list(lines))


def _file_pages(articles: list[Article]) -> dict[str, tuple[bytes, str]]:
    """The attachment files of ``articles``, as the portal serves them."""
    pages: dict[str, tuple[bytes, str]] = {}
    by_extension = {ext: fmt for fmt, (ext, _) in demo_files.FORMATS.items()}
    for article in articles:
        for name, url in article.attachments:
            if url not in article.files:  # linked by a template without its own file: one in its format
                fmt = by_extension.get(url.rsplit(".", 1)[-1].lower(), "pdf")
                article.files[url] = (fmt, [f"{name}（{article.source}）", article.paragraphs[-1]])
            fmt, lines = article.files[url]
            pages[url] = (demo_files.make(fmt, name, lines), demo_files.FORMATS[fmt][1])
    return pages


def _seed_articles(maker: TextMaker, count: int, spam: int) -> list[Article]:
    total = count + spam
    spam_slots = {(j + 1) * total // (spam + 1) for j in range(spam)}
    articles = []
    for i, published in enumerate(_timeline(maker, total)):
        path = f"/xxgk/{published:%Y%m}/{30001 + i}.html"
        article = _new_article(maker, "seed", path, published, maker.rng.randint(4, 8))
        article.author = maker.person()
        article.read_count = maker.rng.randint(5, 25000) if i % 2 else None  # odd: number shown; even: empty
        if i in spam_slots:
            article.is_spam = True
            article.read_count = None
        elif i % 5 == 2:
            _attach(article, "docx", f"{article.keywords[0]}实施细则", f"{path.removesuffix('.html')}_fj1.docx")
        articles.append(article)
    # Pin one older article (normally on page 2) to the top of page 1, as portals do with notices.
    if total > SEED_PAGE_SIZE:
        for candidate in articles[SEED_PAGE_SIZE + 3:] or articles[-1:]:
            if not candidate.is_spam:
                candidate.pinned = True
                articles.remove(candidate)
                articles.insert(0, candidate)
                break
    return articles


def _trs_articles(maker: TextMaker, count: int) -> list[Article]:
    multi_page_index = 1 if count >= 2 else 0
    articles = []
    for i, published in enumerate(_timeline(maker, count)):
        doc_id = 100001 + i
        path = f"/zwgk/tzgg/{published:%Y%m}/t{published:%Y%m%d}_{doc_id}.html"
        multi_page = i == multi_page_index
        article = _new_article(maker, "trs", path, published, 9 if multi_page else maker.rng.randint(3, 7))
        if multi_page:
            article.page_breaks = (3, 6)
        if i % 3 == 0:
            file_name = f"W0{published:%Y%m%d}{doc_id:010d}.pdf"
            _attach(article, "pdf", f"1.{article.keywords[0]}工作方案", urljoin(path, file_name))
        if i % 9 == 4:
            _attach(article, "xlsx", f"{article.keywords[1]}资金明细表", urljoin(path, f"P0{doc_id:010d}.xlsx"))
        articles.append(article)
    return articles


def _hanweb_articles(maker: TextMaker, count: int, *, column: str = "hanweb", column_id: int = HANWEB_COLUMN_ID,
                     first_id: int = 200001, folder: str = "/art") -> list[Article]:
    articles = []
    for i, published in enumerate(_timeline(maker, count)):
        published = published.replace(second=maker.rng.randint(0, 59))
        art_id = first_id + i
        path = f"{folder}/{published.year}/{published.month}/{published.day}/art_{column_id}_{art_id}.html"
        article = _new_article(maker, column, path, published, maker.rng.randint(3, 7))
        article.doc_meta = {
            "index_no": f"{SITE_ID_CODE}/{published.year}-{art_id % 100000:05d}",
            "topic": "综合政务",
            "issuer": article.source,
            "written_date": f"{published:%Y-%m-%d}",
        }
        if i % 4 == 0:
            article.doc_meta["doc_no"] = f"示政办发〔{published.year}〕{i % 90 + 1}号"
        # one download folder per month for the files (the article folder above is reused by the next article)
        files = f"/module/download/downfile/{published:%Y%m}/"
        if i == ATTACHMENT_ONLY_INDEX:  # a notice whose page says only 详见附件; the content is the PDF
            _attach(article, "pdf", article.title, f"{files}{art_id}.pdf", lines=article.paragraphs)
            article.paragraphs = ["经研究，现将有关事项公布如下，具体内容详见附件。"]
        elif i % 4 == 1:
            _attach(article, "txt", f"{article.keywords[0]}名单公示", f"{files}{art_id}.txt")
        elif i % 8 == 3:
            _attach(article, "zip", f"{article.keywords[1]}申报材料", f"{files}{art_id}.zip")
        articles.append(article)
    return articles


# ---------------------------------------------------------------------------------------------------------
# Page chrome shared by every template
# ---------------------------------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _header(site_name: str = SITE_NAME) -> str:
    return (
        f'<div class="header"><div class="logo"><a href="/">{_esc(site_name)}</a></div>'
        '<div class="search"><form action="/search/index.html"><input name="q" type="text">'
        '<button type="submit">搜索</button></form></div></div>\n'
        '<div class="nav"><ul><li><a href="/">首页</a></li><li><a href="/xxgk/index.html">信息公开</a></li>'
        '<li><a href="/zwgk/tzgg/index.html">通知公告</a></li><li><a href="/col/col282/index.html">政务动态</a></li>'
        '<li><a href="/hdjl/index.html">互动交流</a></li></ul></div>\n'
    )


def _footer(site_name: str = SITE_NAME) -> str:
    return (
        '<div class="footer"><p><a href="/about.html">关于本站</a> | <a href="/sitemap.html">网站地图</a> | '
        '<a href="/contact.html">联系我们</a></p><p>友情链接：<a href="https://www.gov.cn/">中国政府网</a></p>'
        f"<p>主办单位：{_esc(site_name)}　网站标识码：{SITE_ID_CODE}　备案号：浙ICP备00000000号</p></div>\n"
    )


def _home_page() -> str:
    links = "".join(f'<li><a href="{path}">{name}</a></li>' for name, path in COLUMNS.items())
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{SITE_NAME}</title></head><body>'
            f"{_header()}<ul class=\"columns\">{links}</ul>{_footer()}</body></html>")


def _date(published: datetime) -> str:
    return f"{published:%Y-%m-%d}"


def _minutes(published: datetime) -> str:
    return f"{published:%Y-%m-%d %H:%M}"


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


# ---------------------------------------------------------------------------------------------------------
# seed column: the seed page's template, plain next links
# ---------------------------------------------------------------------------------------------------------


def _seed_list_url(page: int) -> str:
    return "/xxgk/index.html" if page == 1 else f"/xxgk/list_{page}.html"


def _seed_pages(articles: list[Article]) -> dict[str, tuple[bytes, str]]:
    pages: dict[str, tuple[bytes, str]] = {}
    listing_pages = _chunks(articles, SEED_PAGE_SIZE)
    hot = [a for a in articles if not a.is_spam][:5]
    for number, chunk in enumerate(listing_pages, start=1):
        html_text = _seed_listing(chunk, number, len(listing_pages), len(articles), hot)
        pages[_seed_list_url(number)] = (html_text.encode(), HTML_UTF8)
    for i, article in enumerate(articles):
        related = [a for a in articles[i + 1:i + 4] if not a.is_spam]
        previous = articles[i - 1] if i else None
        following = articles[i + 1] if i + 1 < len(articles) else None
        pages[article.path] = (_seed_detail(article, related, previous, following).encode(), HTML_UTF8)
    return pages


def _seed_item(article: Article) -> str:
    tag = '<span class="tag">[置顶]</span>' if article.pinned else ""
    css = ' class="pinned"' if article.pinned else ""
    shown = _esc(_shown_title(article))
    return (f'<li{css}>{tag}<a href="{article.path}" title="{shown}" target="_blank">{shown}</a>'
            f'<span class="date">{_date(article.published)}</span></li>')


def _seed_listing(chunk: list[Article], number: int, n_pages: int, total: int, hot: list[Article]) -> str:
    items = [_seed_item(a) for a in chunk]
    if number == 1 and chunk:
        # A reprint hosted elsewhere: a crawler must not leave the site for it.
        reprint = (f'<li><a href="{OFFSITE_REPRINT_URL}" target="_blank">国务院办公厅关于进一步优化政务服务的意见</a>'
                   f'<span class="date">{_date(chunk[-1].published)}</span></li>')
        items.insert(min(2, len(items)), reprint)
    first = '<a href="/xxgk/index.html">首页</a>' if number > 1 else "<span>首页</span>"
    prev = f'<a href="{_seed_list_url(number - 1)}">上一页</a>' if number > 1 else "<span>上一页</span>"
    nxt = f'<a href="{_seed_list_url(number + 1)}">下一页</a>' if number < n_pages else "<span>下一页</span>"
    last = f'<a href="{_seed_list_url(n_pages)}">尾页</a>' if number < n_pages else "<span>尾页</span>"
    hot_items = "".join(f'<li><a href="{a.path}">{_esc(a.title)}</a><span>{_date(a.published)}</span></li>'
                        for a in hot)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>信息公开 - {SITE_NAME}</title></head><body>\n'
        f"{_header()}"
        '<div class="main">\n<div class="position">我的位置: <a href="/">首页</a> &gt; '
        '<a href="/xxgk/index.html">信息公开</a></div>\n'
        f'<div class="list-box">\n<ul class="news-list">\n' + "\n".join(items) + "\n</ul>\n"
        f'<div class="pages">共{total}条 当前第{number}/{n_pages}页 {first} {prev} {nxt} {last}</div>\n</div>\n'
        f'<div class="sidebar"><h3>热点信息</h3><ul class="hot-list">{hot_items}</ul></div>\n</div>\n'
        f"{_footer()}</body></html>"
    )


def _shown_title(article: Article) -> str:
    """The headline as the page shows it: a hijacked page appends the brand in quotes."""
    return f"{article.title}“{SPAM_BRAND}”" if article.is_spam else article.title


def _seed_detail(article: Article, related: list[Article], previous: Article | None,
                 following: Article | None) -> str:
    spam = article.is_spam
    site_name = SPAM_SITE_NAME if spam else SITE_NAME
    title = _esc(_shown_title(article))
    author = SPAM_BRAND if spam else (article.author or "")
    keywords = SPAM_BRAND if spam else "，".join(article.keywords)
    source = SPAM_SOURCE if spam else article.source
    read = "" if article.read_count is None else f"{article.read_count:,}"
    body = "\n".join(f"<p>{_esc(p)}</p>" for p in article.paragraphs)
    hidden = ('<div style="position:absolute;left:-9999px;top:-9999px"><a href="https://bet.zlks-brand-example.com/">'
              "澳门新葡京</a><a href=\"https://bet2.zlks-brand-example.com/\">百家乐</a></div>\n") if spam else ""
    prev_link = (f'<p>上一篇：<a href="{previous.path}">{_esc(previous.title)}</a></p>' if previous
                 else "<p>上一篇：没有了</p>")
    next_link = (f'<p>下一篇：<a href="{following.path}">{_esc(following.title)}</a></p>' if following
                 else "<p>下一篇：没有了</p>")
    related_items = "".join(f'<li><a href="{a.path}">{_esc(a.title)}</a></li>' for a in related)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}_{_esc(site_name)}</title>\n'
        f'<meta name="keywords" content="{_esc(keywords)}">\n'
        f'<meta name="description" content="{_esc(article.summary)}">\n</head><body>\n'
        f"{_header(site_name)}"
        '<div class="main">\n<div class="position">我的位置: <a href="/">首页</a> &gt; '
        '<a href="/xxgk/index.html">信息公开</a></div>\n'
        f'<div class="article">\n<h1 class="article-title">{title}</h1>\n'
        f'<div class="article-info">发布时间:{_minutes(article.published)}<span class="sep">  |  </span>'
        f'阅读量:<span id="hits">{read}</span><span class="sep">  |  </span>'
        f'作者:<span class="author">{_esc(author)}</span></div>\n'
        f'<div class="article-summary">本文摘要:{_esc(article.summary)}</div>\n'
        f'<div class="article-content">\n{body}\n</div>\n{_attachment_block(article)}'
        f'<div class="article-keywords">本文关键词:{_esc(keywords)}</div>\n'
        f'<div class="article-source">本文来源:{_esc(source)}</div>\n'
        '<div class="share">分享到：<a href="javascript:;">微信</a> <a href="javascript:;">微博</a> '
        '【字体：<a href="javascript:;">大</a> <a href="javascript:;">中</a> <a href="javascript:;">小</a>】 '
        '<a href="javascript:window.print()">打印本页</a> <a href="javascript:window.close()">关闭窗口</a></div>\n'
        f'<div class="prev-next">{prev_link}{next_link}</div>\n'
        f'<div class="related"><h3>相关文章</h3><ul>{related_items}</ul></div>\n</div>\n</div>\n'
        f"{hidden}{_footer(site_name)}</body></html>"
    )


# ---------------------------------------------------------------------------------------------------------
# trs column: createPageHTML listing pages, GB2312 detail pages, one three-page article
# ---------------------------------------------------------------------------------------------------------

# The pager function TRS templates ship inline; its body writes links only when run by a browser.
_TRS_PAGER_FUNCTION = """<script type="text/javascript">
function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt){
  if(_nPageCount == null || _nPageCount <= 1){ return; }
  var nCurrIndex = _nCurrIndex || 0;
  if(nCurrIndex < _nPageCount - 1){
    document.write("<a href=\\"" + _sPageName + "_" + (nCurrIndex + 1) + "." + _sPageExt + "\\">下一页</a>");
  }
}
</script>"""


def _trs_list_file(page: int) -> str:
    return "index.html" if page == 0 else f"index_{page}.html"


def _trs_pages(articles: list[Article]) -> dict[str, tuple[bytes, str]]:
    pages: dict[str, tuple[bytes, str]] = {}
    listing_pages = _chunks(articles, TRS_PAGE_SIZE)
    for index, chunk in enumerate(listing_pages):
        pages[f"/zwgk/tzgg/{_trs_list_file(index)}"] = (
            _trs_listing(chunk, index, len(listing_pages)).encode("gb2312"), HTML_NO_CHARSET)
    for article in articles:
        bounds = (0, *article.page_breaks, len(article.paragraphs))
        n_pages = len(bounds) - 1
        for page in range(n_pages):
            path = article.path if page == 0 else article.path.replace(".html", f"_{page}.html")
            paragraphs = article.paragraphs[bounds[page]:bounds[page + 1]]
            pages[path] = (_trs_detail(article, paragraphs, page, n_pages).encode("gb2312"), HTML_NO_CHARSET)
    return pages


def _trs_listing(chunk: list[Article], index: int, n_pages: int) -> str:
    items = "\n".join(
        f'  <li><a href="./{a.path.rsplit("/", 2)[1]}/{a.path.rsplit("/", 1)[1]}" target="_blank" '
        f'title="{_esc(a.title)}">{_esc(a.title)}</a><span>{_date(a.published)}</span></li>'
        for a in chunk
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="gb2312">\n'
        f"<title>通知公告_{SITE_NAME}</title>\n{_TRS_PAGER_FUNCTION}\n</head><body>\n{_header()}"
        '<div class="container">\n<div class="crumb">当前位置：<a href="../../">首页</a> &gt; '
        '<a href="../">政务公开</a> &gt; <span>通知公告</span></div>\n'
        f'<div class="list-main">\n<ul class="list">\n{items}\n</ul>\n'
        '<div class="fanye">\n<script type="text/javascript">\n'
        f"  var countPage = {n_pages}; // 共多少页\n"
        f'  createPageHTML(countPage, {index}, "index", "html");\n</script>\n</div>\n</div>\n</div>\n'
        f"{_footer()}</body></html>"
    )


def _trs_detail(article: Article, paragraphs: list[str], page: int, n_pages: int) -> str:
    stem = article.path.rsplit("/", 1)[1].removesuffix(".html")
    body = "\n".join(f"<p>　　{_esc(p)}</p>" for p in paragraphs)
    appendix = ""
    if article.attachments:
        links = "".join(f'<a href="./{url.rsplit("/", 1)[1]}" oldsrc="{url.rsplit("/", 1)[1]}">{_esc(name)}</a>'
                        for name, url in article.attachments)
        appendix = f'<span id="appendix">附件：{links}</span>\n'
    return (
        '<!DOCTYPE html><html><head><meta charset="gb2312">\n'
        f"<title>{_esc(article.title)}_{SITE_NAME}</title>\n"
        f'<meta name="SiteName" content="{SITE_NAME}">\n<meta name="SiteIDCode" content="{SITE_ID_CODE}">\n'
        '<meta name="ColumnName" content="通知公告">\n'
        f'<meta name="ArticleTitle" content="{_esc(article.title)}">\n'
        f'<meta name="PubDate" content="{_minutes(article.published)}">\n'
        f'<meta name="ContentSource" content="{_esc(article.source)}">\n'
        f'<meta name="Keywords" content="{_esc(",".join(article.keywords))}">\n'
        f'<meta name="Description" content="{_esc(article.summary)}">\n'
        f"{_TRS_PAGER_FUNCTION}\n</head><body>\n{_header()}"
        '<div class="container">\n<div class="crumb">当前位置：<a href="../../../">首页</a> &gt; '
        '<a href="../../">政务公开</a> &gt; <a href="../">通知公告</a></div>\n'
        f'<div class="article">\n<h1>{_esc(article.title)}</h1>\n'
        f'<div class="info">发布时间：{_minutes(article.published)}　来源：{_esc(article.source)}　'
        '【字体：<a href="javascript:;">大</a> <a href="javascript:;">中</a> <a href="javascript:;">小</a>】</div>\n'
        f'<div class="TRS_Editor">\n{body}\n</div>\n{appendix}'
        f'<div class="page"><script>createPageHTML({n_pages}, {page}, "{stem}", "html");</script></div>\n'
        '<div class="close"><a href="javascript:window.print()">打印本页</a> '
        '<a href="javascript:window.close()">关闭窗口</a></div>\n</div>\n</div>\n'
        f"{_footer()}</body></html>"
    )


# ---------------------------------------------------------------------------------------------------------
# hanweb column: <datastore> island + dataproxy.jsp XML groups, metadata-table detail pages
# ---------------------------------------------------------------------------------------------------------


def dataproxy_target(start: int, end: int) -> str:
    """Root-relative URL of the dataproxy.jsp group holding records ``start..end`` (1-based, inclusive)."""
    return canonical_target(f"{DATAPROXY_PATH}?startrecord={start}&endrecord={end}&perpage={HANWEB_PER_PAGE}"
                            f"&{HANWEB_NEXTGROUP_QUERY}")


def _hanweb_record(article: Article) -> str:
    title = _esc(article.title)
    return (f'<record><![CDATA[<li><a href="{article.path}" title="{title}" target="_blank">{title}</a>'
            f'<span class="bt-data-time">{_date(article.published)}</span></li>]]></record>')


def _hanweb_pages(articles: list[Article]) -> dict[str, tuple[bytes, str]]:
    pages: dict[str, tuple[bytes, str]] = {
        COLUMNS["hanweb"]: (_hanweb_column(articles).encode(), HTML_UTF8),
    }
    records = [_hanweb_record(a) for a in articles]
    for start in range(HANWEB_GROUP_SIZE + 1, len(records) + 1, HANWEB_GROUP_SIZE):
        end = min(start + HANWEB_GROUP_SIZE - 1, len(records))
        pages[dataproxy_target(start, end)] = (_dataproxy_xml(records, start, end), XML_NO_CHARSET)
    for article in articles:
        pages[article.path] = (_hanweb_detail(article).encode(), HTML_UTF8)
    return pages


def _dataproxy_xml(records: list[str], start: int, end: int) -> bytes:
    """A dataproxy.jsp response: records ``start..end`` (1-based, clipped to the total) and the total."""
    chosen = "\n".join(records[start - 1:end])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<datastore>\n'
            f"<totalrecord>{len(records)}</totalrecord>\n<recordset>\n{chosen}\n</recordset>\n</datastore>\n"
            ).encode()


def _hanweb_column(articles: list[Article], *, path: str = COLUMNS["hanweb"],
                   nextgroup_query: str = HANWEB_NEXTGROUP_QUERY, store_id: str = "62345") -> str:
    records = "\n".join(_hanweb_record(a) for a in articles[:HANWEB_GROUP_SIZE])
    nextgroup = ""
    if len(articles) > HANWEB_GROUP_SIZE:
        nextgroup = f'<nextgroup><![CDATA[<a href="{DATAPROXY_PATH}?{nextgroup_query}"></a>]]></nextgroup>\n'
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">\n'
        f'<title>政务动态 {SITE_NAME}</title>\n<meta name="generator" content="大汉版通">\n'
        '<meta name="author" content="大汉网络">\n</head><body>\n'
        f"{_header()}"
        '<div class="main">\n<div class="bt-position">您当前的位置：<a href="/">首页</a> &gt; '
        f'<a href="{path}">政务动态</a></div>\n'
        f'<div class="default_pgContainer">\n<div id="{store_id}">\n<script type="text/xml">\n<datastore>\n'
        f"{nextgroup}<recordset>\n{records}\n</recordset>\n</datastore>\n</script>\n</div>\n</div>\n"
        '<script type="text/javascript" src="/module/web/jpage/jpage.js"></script>\n'
        f'<script type="text/javascript">$(function(){{ new Jpage({{ dataStore: "{store_id}", '
        f'perPage: {HANWEB_PER_PAGE}, groupSize: 3, proxyUrl: "{DATAPROXY_PATH}" }}); }});</script>\n</div>\n'
        f"{_footer()}"
        "<a href='http://www.hanweb.com' style='display:none'>Produced By 大汉网络 大汉版通发布系统</a>\n"
        "</body></html>"
    )


def _attachment_block(article: Article) -> str:
    """The attachment links below the body (seed and Hanweb templates; TRS has its own span#appendix): links
    only, as many portals list them, so the body stays the article's paragraphs."""
    if not article.attachments:
        return ""
    links = "".join(f'<p><a href="{url}" target="_blank">{_esc(name)}.{url.rsplit(".", 1)[1]}</a></p>'
                    for name, url in article.attachments)
    return f'<div class="fujian">\n{links}\n</div>\n'


def _hanweb_detail(article: Article) -> str:
    meta = article.doc_meta
    art_id = article.path.rsplit("_", 1)[1].removesuffix(".html")
    doc_no = meta.get("doc_no", "")
    body = "\n".join(f"<p>{_esc(p)}</p>" for p in article.paragraphs)
    published = f"{article.published:%Y-%m-%d %H:%M:%S}"
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">\n'
        f"<title>{_esc(article.title)} {SITE_NAME}</title>\n"
        f'<meta name="ArticleTitle" content="{_esc(article.title)}">\n'
        f'<meta name="PubDate" content="{published}">\n'
        f'<meta name="ContentSource" content="{_esc(article.source)}">\n'
        '<meta name="generator" content="大汉版通">\n</head><body>\n'
        f"{_header()}"
        '<div class="main">\n<div class="bt-position">您当前的位置：<a href="/">首页</a> &gt; '
        f'<a href="{COLUMNS["hanweb"]}">政务动态</a></div>\n'
        '<table class="xxgk_table"><tbody>\n'
        f"<tr><td>索&nbsp;&nbsp;引&nbsp;&nbsp;号：</td><td>{meta['index_no']}</td>"
        f"<td>主题分类：</td><td>{meta['topic']}</td></tr>\n"
        f"<tr><td>发布机构：</td><td>{_esc(meta['issuer'])}</td><td>成文日期：</td><td>{meta['written_date']}</td></tr>\n"
        f"<tr><td>文&nbsp;&nbsp;&nbsp;&nbsp;号：</td><td>{doc_no}</td>"
        f"<td>发布日期：</td><td>{_date(article.published)}</td></tr>\n"
        f'<tr><td>标&nbsp;&nbsp;&nbsp;&nbsp;题：</td><td colspan="3">{_esc(article.title)}</td></tr>\n'
        "</tbody></table>\n"
        f'<div class="bt-article">\n<h1 class="title">{_esc(article.title)}</h1>\n'
        f'<div class="bt-info">发布日期：{published}&nbsp;&nbsp;信息来源：{_esc(article.source)}&nbsp;&nbsp;'
        '浏览次数：<span id="hits"></span>次</div>\n'
        f'<div id="zoom">\n{body}\n</div>\n{_attachment_block(article)}'
        '<div class="bt-tools">【<a href="javascript:window.print()">打印本页</a>】'
        '【<a href="javascript:window.close()">关闭窗口</a>】</div>\n</div>\n</div>\n'
        f'<iframe src="/module/visitcount/visit.jsp?type=3&amp;i_webid=3&amp;i_columnid={HANWEB_COLUMN_ID}'
        f'&amp;i_articleid={art_id}" style="display:none" width="0" height="0"></iframe>\n'
        f"{_footer()}"
        "<a href='http://www.hanweb.com' style='display:none'>Produced By 大汉网络 大汉版通发布系统</a>\n"
        "</body></html>"
    )
