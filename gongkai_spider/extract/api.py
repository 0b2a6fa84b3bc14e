"""Listings and articles served as JSON: list APIs, gateways and JSON article pages (gov-portals.md 1.2, 1.4).

Pure like the rest of ``extract``: bytes + URL (+ the request that fetched them) in, plain data out. A listing
request is a plain dict the spider turns into a Scrapy ``Request`` / ``FormRequest`` / ``JsonRequest``::

    {"url": abs, "method": "GET" | "POST", "form": {name: str} | None, "json": any | None,
     "headers": {name: str}, "key": str | None, "state": {"dialect": ..., "page": n, ...}}

``state`` is what the next page's extraction needs to know (dialect, page number, records seen, the first
record of the previous page to spot a repeated page); ``key`` names the page when the body alone does not
(ASP.NET postbacks carry a new ``__VIEWSTATE`` each time). Dialects:

* ``api`` — a site's ``listing.api`` (sites/__init__.py): records, link, title, date by JMESPath;
* ``gkmlpt`` — Guangdong ``/gkmlpt/api/all/{category}?page={n}&sid={SID}``: pages from 1 (page 0 repeats
  it), until ``classify.post_count`` records; the record's 文号/索引号/发布机构/date/attachments travel with
  the link as ``fields`` (the fallback values of the article);
* ``jpaas`` — Hanweb jpaas ``front/page/build/unit`` gateway answers: JSON whose ``data.html`` is a list
  fragment (the fragment itself is read by ``listing.py``).

``extract_json_detail`` maps a JSON article by the site's ``detail.json`` JMESPath expressions.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import jmespath
import lxml.html
from lxml import etree

from gongkai_spider.normalize import SHANGHAI, collapse_ws

# Paging stops after this many pages of one column whatever the API says (a runaway total).
MAX_API_PAGES = 10000
GKMLPT_FIRST_PAGE = 1  # page 0 and page 1 answer the same batch (gov-portals.md 1.4)
JPAAS_GATEWAY = "/api-gateway/jpaas-publish-server/front/page/build/unit"
JPAAS_DEFAULT_PAGE_SIZE = 15
XHR_HEADERS = {"X-Requested-With": "XMLHttpRequest"}

_GKMLPT_SID_RE = re.compile(r"""\bSID\s*["']?\s*:\s*["']([^"']+)["']""")
_GKMLPT_TREE_RE = re.compile(r"""\bTREE\s*["']?\s*:\s*\[""")
_GKMLPT_ID_RE = re.compile(r"""["']?\bid["']?\s*:\s*["']?(\d+)""")
_PAGE_TOKEN = "{page}"


# ----------------------------------------------------------------------------- requests as plain data


def listing_request(url: str, *, method: str = "GET", form: dict | None = None, json_body: Any = None,
                    headers: dict | None = None, state: dict | None = None, key: str | None = None) -> dict:
    return {"url": url, "method": method, "form": form, "json": json_body, "headers": dict(headers or {}),
            "key": key, "state": dict(state or {})}


def request_key(request: dict) -> str:
    """One listing page's identity: method, URL and body (or the request's own ``key``)."""
    if request.get("key"):
        return str(request["key"])
    if request.get("form") is not None:
        body = urlencode(sorted(request["form"].items()))
    elif request.get("json") is not None:
        body = json.dumps(request["json"], sort_keys=True, ensure_ascii=False)
    elif request.get("method", "GET") == "GET":
        return request["url"]  # the same page as a plain listing URL
    else:
        body = ""
    return f"{request.get('method', 'GET')} {request['url']} {body}".rstrip()


def _fill(value: Any, page: int) -> Any:
    """``value`` with ``{page}`` replaced (a bare ``"{page}"`` in a JSON body becomes the number)."""
    if isinstance(value, str):
        return page if value == _PAGE_TOKEN else value.replace(_PAGE_TOKEN, str(page))
    if isinstance(value, dict):
        return {k: _fill(v, page) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, page) for v in value]
    return value


def paged_request(rules: Any, column: str, page: int, *, dialect: str, index: int = 1,
                  prev_first: str | None = None, per_page: int | None = None) -> dict:
    """The request for page ``page`` (the ``index``-th) of a ``listing.api`` / ``listing.fragment`` column."""
    url = urljoin(column, rules.url.replace(_PAGE_TOKEN, str(page)))
    form = {k: str(_fill(v, page)) for k, v in rules.form.items()} if rules.form else None
    body = _fill(rules.json, page) if rules.json is not None else None
    headers = {"Referer": column, **rules.headers}
    state = {"dialect": dialect, "page": page, "index": index, "column": column, "prev_first": prev_first,
             "per_page": per_page}
    return listing_request(url, method=rules.method, form=form, json_body=body, headers=headers, state=state)


def next_paged_request(rules: Any, request: dict, links: list[dict], total_pages: int | None) -> list[dict]:
    """The page after ``request``'s, unless this one was the last, empty, or a repeat of the one before."""
    state = request.get("state") or {}
    index = int(state.get("index") or 1)
    first = links[0]["url"] if links else None
    if not links or first == state.get("prev_first") or index >= MAX_API_PAGES:
        return []
    if total_pages is not None and index >= total_pages:
        return []
    page = int(state.get("page", rules.first_page)) + rules.page_step
    return [paged_request(rules, state.get("column") or request["url"], page, dialect=state["dialect"],
                          index=index + 1, prev_first=first, per_page=per_page(request, len(links)))]


def per_page(request: dict, count: int) -> int:
    """Records per page: what the column's first page held (a last page holds fewer)."""
    return int((request.get("state") or {}).get("per_page") or count)


def total_pages(data: Any, rules: Any, per_page: int) -> int | None:
    """Pages of the column: the ``pages`` expression, else ``total`` records over the page size."""
    if rules.pages:
        pages = _as_int(search(rules.pages, data))
        if pages is not None:
            return pages
    if rules.total:
        total = _as_int(search(rules.total, data))
        size = rules.page_size or per_page
        if total is not None and size:
            return math.ceil(total / size)
    return None


# ----------------------------------------------------------------------------- JSON helpers


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def search(expression: str | None, data: Any) -> Any:
    """JMESPath ``expression`` on ``data``; None for no expression or a type error in the data."""
    if not expression:
        return None
    try:
        return _compiled(expression).search(data)
    except jmespath.exceptions.JMESPathError:
        return None


def load_json(body: bytes, encoding: str | None = None) -> Any:
    """The decoded JSON document, or None when the body is not JSON."""
    text = None
    for codec in (encoding, "utf-8-sig", "gb18030"):
        if not codec:
            continue
        try:
            text = body.decode(codec)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = collapse_ws(str(value))
    return text or None


def _date_text(value: Any) -> str | None:
    """A record's date as text: strings as given, Unix timestamps (seconds or ms) as Shanghai time."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return None
    return _text(value)


def _absolute(base: str, href: Any) -> str | None:
    if not isinstance(href, str) or not href.strip():
        return None
    parts = urlsplit(urljoin(base, href.strip()))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit(parts._replace(fragment=""))


# ----------------------------------------------------------------------------- listing.api


def api_listing(body: bytes, url: str, rules: Any, request: dict, encoding: str | None = None) -> dict:
    """One page of a ``listing.api`` column: ``{"links", "next_requests", "reason"}``."""
    data = load_json(body, encoding)
    if data is None:
        return {"links": [], "next_requests": [], "reason": "not_json"}
    records = search(rules.records, data)
    if not isinstance(records, list):
        return {"links": [], "next_requests": [], "reason": "no_records"}
    links, seen = [], set()
    for record in records:
        link = _absolute(url, _text(search(rules.link, record)))
        if link is None or link in seen:
            continue
        seen.add(link)
        date = _date_text(search(rules.date, record)) if rules.date else None
        links.append({"url": link, "title": _text(search(rules.title, record)) if rules.title else None,
                      "date": date, "pinned": False, "fields": {"publish_time": date} if date else {}})
    pages = total_pages(data, rules, per_page(request, len(records)))
    return {"links": links, "next_requests": next_paged_request(rules, request, links, pages),
            "reason": None if links else "no_records"}


# ----------------------------------------------------------------------------- gkmlpt


def gkmlpt_start(text: str, url: str) -> list[dict]:
    """API requests (page 1 of each category) for a gkmlpt directory page, or [] if ``text`` is not one."""
    if "_CONFIG" not in text or "gkmlpt" not in (url + text[:20000]).lower():
        return []
    sid = _GKMLPT_SID_RE.search(text)
    if not sid:
        return []
    fragment = urlsplit(url).fragment
    categories = [fragment] if fragment.isdigit() else _gkmlpt_categories(text)
    return [gkmlpt_request(url, category, sid.group(1), GKMLPT_FIRST_PAGE) for category in categories]


def gkmlpt_request(referer: str, category: str, sid: str, page: int, seen: int = 0,
                   prev_first: str | None = None) -> dict:
    parts = urlsplit(referer)
    query = urlencode({"page": page, "sid": sid})
    api = urlunsplit((parts.scheme, parts.netloc, f"/gkmlpt/api/all/{category}", query, ""))
    state = {"dialect": "gkmlpt", "page": page, "category": category, "sid": sid, "seen": seen,
             "prev_first": prev_first, "referer": urlunsplit(parts._replace(fragment=""))}
    return listing_request(api, headers={**XHR_HEADERS, "Referer": state["referer"]}, state=state)


def _gkmlpt_categories(text: str) -> list[str]:
    """Top-level category ids of ``window._CONFIG.TREE`` (every id when the tree is not valid JSON)."""
    match = _GKMLPT_TREE_RE.search(text)
    if not match:
        return []
    start = match.end() - 1
    depth = 0
    for pos in range(start, min(len(text), start + 500_000)):
        char = text[pos]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                blob = text[start:pos + 1]
                break
    else:
        return []
    try:
        tree = json.loads(blob)
        ids = [str(node["id"]) for node in tree if isinstance(node, dict) and _as_int(node.get("id")) is not None]
    except (ValueError, TypeError, KeyError):
        ids = _GKMLPT_ID_RE.findall(blob)
    return list(dict.fromkeys(ids))


def gkmlpt_listing(body: bytes, url: str, request: dict, encoding: str | None = None) -> dict:
    """One gkmlpt API page: its articles (with their record fields) and the next page while records remain."""
    data = load_json(body, encoding)
    if not isinstance(data, dict):
        return {"links": [], "next_requests": [], "reason": "not_json"}
    articles = data.get("articles")
    if not isinstance(articles, list):
        return {"links": [], "next_requests": [], "reason": "no_records"}
    links = [link for link in (_gkmlpt_link(a, url) for a in articles if isinstance(a, dict)) if link]
    state = request.get("state") or {}
    total = _as_int(search("classify.post_count", data))
    seen = int(state.get("seen") or 0) + len(articles)
    first = links[0]["url"] if links else None
    next_requests = []
    page = int(state.get("page") or GKMLPT_FIRST_PAGE)
    if links and first != state.get("prev_first") and (total is None or seen < total) and page < MAX_API_PAGES:
        next_requests = [gkmlpt_request(state.get("referer") or url, state.get("category", ""),
                                        state.get("sid", ""), page + 1, seen, first)]
    return {"links": links, "next_requests": next_requests, "reason": None if links else "no_records"}


def _gkmlpt_link(record: dict, base: str) -> dict | None:
    url = _absolute(base, record.get("url") or record.get("post_url"))
    post_id = _as_int(record.get("id"))
    if url is None and post_id is not None:
        url = urljoin(base, f"/gkmlpt/content/{post_id // 1000000}/{post_id // 1000}/post_{post_id}.html")
    if url is None:
        return None
    published = _date_text(record.get("date")) or _text(record.get("display_publish_time")) \
        or _text(record.get("created_at"))
    doc_meta = {key: value for key, value in (("doc_no", _text(record.get("document_number"))),
                                               ("index_no", _text(record.get("identifier"))),
                                               ("issuer", _text(record.get("publisher")))) if value}
    attachments = []
    for item in record.get("attachment") or []:
        if isinstance(item, dict) and _absolute(base, item.get("url")):
            attachments.append({"name": _text(item.get("name")) or item["url"].rsplit("/", 1)[-1],
                                "url": _absolute(base, item.get("url"))})
    fields: dict[str, Any] = {"publish_time": published} if published else {}
    if doc_meta:
        fields["doc_meta"] = doc_meta
    if attachments:
        fields["attachments"] = attachments
    return {"url": url, "title": _text(record.get("title")), "date": published, "pinned": False, "fields": fields}


# ----------------------------------------------------------------------------- jpaas


def jpaas_request(column: str, query: dict, page: int, page_size: int, prev_first: str | None = None) -> dict:
    """The gateway request for page ``page`` of a jpaas column (``query``: the page's queryData scalars)."""
    parts = urlsplit(column)
    param_json = json.dumps({"pageNo": page, "pageSize": page_size}, separators=(",", ":"))
    params = urlencode([*query.items(), ("paramJson", param_json)])
    url = urlunsplit((parts.scheme, parts.netloc, JPAAS_GATEWAY, params, ""))
    state = {"dialect": "jpaas", "page": page, "page_size": page_size, "query": dict(query),
             "column": urlunsplit(parts._replace(fragment="")), "prev_first": prev_first}
    return listing_request(url, headers={**XHR_HEADERS, "Referer": state["column"]}, state=state)


def jpaas_query(blob: str) -> tuple[dict, int] | None:
    """A page's ``queryData`` blob -> (gateway query parameters, page size), or None when unreadable."""
    try:
        data = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    params = data.get("paramJson")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    size = _as_int((params or {}).get("pageSize") if isinstance(params, dict) else None) \
        or _as_int(data.get("pageSize")) or JPAAS_DEFAULT_PAGE_SIZE
    query = {k: str(v) for k, v in data.items()
             if k not in ("paramJson", "pageSize", "pageNo") and isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    return query, size


def jpaas_fragment(body: bytes, encoding: str | None = None) -> tuple[str | None, str | None]:
    """(the list fragment of a gateway answer, None) or (None, reason)."""
    data = load_json(body, encoding)
    if not isinstance(data, dict):
        return None, "not_json"
    if data.get("success") is False:
        return None, "api_error"
    fragment = search("data.html", data)
    return (fragment, None) if isinstance(fragment, str) else (None, "no_records")


# ----------------------------------------------------------------------------- JSON article pages


def extract_json_detail(body: bytes, url: str, rules: dict, *, encoding: str | None = None) -> dict | None:
    """An article whose page is JSON, mapped by ``rules`` (``detail.json``); None when the body is not JSON.

    The result has the keys of ``extract_detail``; an HTML ``body`` value becomes text one paragraph a line,
    and the spam signals are taken from that HTML.
    """
    data = load_json(body, encoding)
    if data is None:
        return None
    from .signals import page_signals
    from .text import render_text

    result: dict[str, Any] = {"kind": "article", "reason": None, "continuation_urls": [], "signals": {}}
    for name in ("title", "publish_time", "read_count", "author", "source", "summary", "keywords"):
        value = search(rules.get(name), data)
        if name == "keywords" and isinstance(value, list):
            value = ",".join(str(v) for v in value if v is not None)
        result[name] = _date_text(value) if name == "publish_time" else _text(value)
    html = search(rules.get("body"), data)
    result["body"] = ""
    if isinstance(html, str) and html.strip():
        try:
            tree = lxml.html.document_fromstring(f"<html><body><div>{html}</div></body></html>", base_url=url)
        except (etree.ParserError, ValueError):
            tree = None
        if tree is not None:
            result["body"] = render_text(tree.body)
            result["signals"] = page_signals(tree, url)
    attachments = []
    for item in search(rules.get("attachments"), data) or []:
        if isinstance(item, str):
            item = {"url": item}
        link = _absolute(url, item.get("url")) if isinstance(item, dict) else None
        if link:
            attachments.append({"name": _text(item.get("name")) or link.rsplit("/", 1)[-1], "url": link})
    result["attachments"] = attachments
    result["doc_meta"] = {k: v for k, v in ((k, _text(search(e, data))) for k, e in
                                             (rules.get("doc_meta") or {}).items()) if v}
    if not result["title"] and not result["body"]:
        result["kind"], result["reason"] = "not_article", "json_without_article"
    return result
