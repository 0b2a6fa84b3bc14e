"""Tell article pages from pages that only look like one (web-poet's input validation, style.md 2.4).

``classify_page`` returns a not-article reason, or None for an article:

- ``challenge``: anti-bot / WAF interstitials. HTTP 412/521 (gov-portals.md 1.6: nhc, customs, miit) or a
  tiny page whose scripts set a cookie, ``eval`` packed code and reload, or WAF wording (安全验证, 云锁,
  wzws/__jsl cookies). The spider backs off or retries; it must never store such a page.
- ``error_page``: HTTP 4xx/5xx, or a page with next to no body saying 页面不存在 / 404 Not Found /
  系统错误 (in its text or its ``<title>``).
- ``login``: a login wall: a password field or 请登录后查看 on a page with next to no body.
- ``listing``: a column page reached through a detail URL: many dated links (or many headline links)
  and no article body.
- ``empty``: no meaningful text and no attachment either (an empty template).

Checks are cheap (a few XPath calls on a parsed tree); the URL is never used to decide.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

from .text import visible_len

# HTTP statuses used by anti-bot challenges (412: 瑞数/WZWS, 521: 加速乐 jsl).
CHALLENGE_STATUSES = frozenset({412, 521})
# A page with less visible text than this is "tiny" for the script / wording checks.
TINY_PAGE_CHARS = 200
# Body texts shorter than this are "empty" (non-whitespace characters).
MIN_BODY_CHARS = 10
# Pages with a body at least this long and some prose skip the checks (they are articles).
SHORT_BODY_CHARS = 300
# Error wording in the text counts only with a body shorter than this (an FAQ may say 页面不存在).
ERROR_MAX_BODY_CHARS = 80
# ... and in the <title> with a body shorter than this.
ERROR_TITLE_MAX_BODY_CHARS = 200
# Listing: at least this many links with a date next to them and next to no body, or at least
# LISTING_MANY_DATED_LINKS of them and a body of little prose, far shorter than their text (a short
# notice beside a "latest items" sidebar must stay an article).
LISTING_MIN_DATED_LINKS = 8
LISTING_NO_BODY_CHARS = 50
LISTING_MANY_DATED_LINKS = 15
LISTING_MAX_PROSE_CHARS = 100
# Without dates: this many headline-like links (at least LISTING_HEADLINE_CHARS long) and no body.
LISTING_MIN_HEADLINE_LINKS = 30
LISTING_HEADLINE_CHARS = 8

_SCRIPTS = etree.XPath("//script")
_PASSWORD = etree.XPath("//input[translate(@type, 'PASSWORD', 'password')='password']")
_TITLE = etree.XPath("string(//title)")
_BODY_TEXT = etree.XPath("string(//body)")

# Scripts of challenge pages: set a cookie, run packed code, or carry a WAF vendor's token.
_COOKIE_SCRIPT_RE = re.compile(
    r"document\.cookie\s*=|\beval\s*\(|__jsl|jsluid|wzws|_waf_|acw_sc__|acw_tc|__tst_status|yunsuo|"
    r"_0x[0-9a-f]{4,}",
    re.I,
)
_WAF_TEXT_RE = re.compile(
    r"安全验证|访问验证|人机验证|滑动验证|请完成验证|正在验证|验证您的浏览器|浏览器安全检查|请开启\s*JavaScript|"
    r"please enable (?:javascript|cookies)|checking your browser|访问被拦截|访问已被拦截|请求已被拦截|已被网站防火墙|"
    r"网站防火墙|云锁|安全狗|创宇盾|知道创宇|WAF|web应用防火墙|您的访问存在异常|访问频率过快|访问过于频繁",
    re.I,
)
_ERROR_TEXT_RE = re.compile(
    r"页面不存在|页面未找到|找不到(?:该|您要访问的|您访问的)?页面|(?:您|你)(?:要)?访问的页面(?:不存在|已删除|出错)|"
    r"页面已(?:删除|失效|过期)|信息(?:已|不存在|已被)删除|文章不存在|内容不存在|该信息不存在|"
    r"\b404\b.{0,20}(?:not found|页面|错误)|not found|page not found|\b50[0-4]\b.{0,30}(?:error|错误)|"
    r"internal server error|service unavailable|bad gateway|系统错误|系统繁忙|服务器错误|服务器内部错误|"
    r"网页出错|页面出错|访问出错|出错了",
    re.I,
)
# An error page's <title> IS the error (possibly followed by the site name), it does not mention one.
_ERROR_TITLE_RE = re.compile(
    r"^\s*(?:(?:404|403|500|502|503)\b[^-_|｜]{0,30}|页面不存在|页面未找到|找不到页面|(?:page )?not found|出错了|出错啦|"
    r"错误|错误提示|错误页面?|系统错误|系统提示|访问出错|页面出错)\s*(?:[-_|｜].*)?$",
    re.I,
)
_LOGIN_TEXT_RE = re.compile(r"请(?:先)?登录后?(?:再)?(?:查看|访问|阅读|浏览|操作)|登录后(?:查看|阅读|可见)|您还未登录|请先登录")
_DATE_RE = re.compile(
    r"(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|(?<!\d)[01]?\d[-/.月][0-3]?\d日?(?!\d)"
)
_PROSE_PUNCT_RE = re.compile(r"[，。！？；]")
_ATTACHMENT_HREF_RE = re.compile(r"\.(?:pdf|docx?|xlsx?|wps|et|pptx?|ofd|zip|rar|7z|txt|csv)(?:$|[?#])", re.I)


def _has_attachment(tree: HtmlElement) -> bool:
    """A link to a document file (a notice whose content is its attachment is still an article)."""
    return any(_ATTACHMENT_HREF_RE.search(a.get("href") or "") for a in tree.iter("a"))


def _visible_page_chars(tree: HtmlElement) -> int:
    """Visible characters of the whole page, scripts and styles excluded."""
    text = _BODY_TEXT(tree)
    scripts = sum(visible_len(s.text or "") for s in tree.iter("script", "style"))
    return max(0, visible_len(text) - scripts)


def _is_challenge(tree: HtmlElement, status: int, page_chars: int, body_chars: int) -> bool:
    if status in CHALLENGE_STATUSES:
        return _cookie_script(tree) or page_chars < TINY_PAGE_CHARS * 5
    if page_chars >= TINY_PAGE_CHARS or body_chars >= LISTING_NO_BODY_CHARS:
        return False  # decided without reading the scripts (an article page's can be 100 KB)
    text = f"{_TITLE(tree)} {_BODY_TEXT(tree)}"
    return _cookie_script(tree) or bool(_WAF_TEXT_RE.search(text))


def _cookie_script(tree: HtmlElement) -> bool:
    scripts = " ".join(s.text or "" for s in _SCRIPTS(tree))
    return bool(scripts) and bool(_COOKIE_SCRIPT_RE.search(scripts))


def _is_login(tree: HtmlElement, body_chars: int, page_text: str) -> bool:
    # a password field alone is not enough (portal headers carry login boxes next to articles):
    # the page must also have next to no body
    if body_chars >= LISTING_NO_BODY_CHARS:
        return False
    return bool(_PASSWORD(tree)) or bool(_LOGIN_TEXT_RE.search(page_text))


def _is_error(title: str, body_chars: int, page_text: str) -> bool:
    if _ERROR_TITLE_RE.search(title) and body_chars < ERROR_TITLE_MAX_BODY_CHARS:
        return True  # an article about a 系统错误 has a body
    return body_chars < ERROR_MAX_BODY_CHARS and bool(_ERROR_TEXT_RE.search(page_text))


def _link_stats(tree: HtmlElement) -> tuple[int, int, int]:
    """(dated links, their characters, headline-like links) over the page's links.

    A headline-like link has at least LISTING_HEADLINE_CHARS characters; it is dated when its list item
    (the parent or grandparent, holding little more than the link) or its title attribute shows a date.
    """
    dated = chars = headlines = 0
    for a in tree.iter("a"):
        text = a.text_content()
        n = visible_len(text)
        if n < 5:
            continue
        if n >= LISTING_HEADLINE_CHARS:
            headlines += 1
        if _DATE_RE.search(a.get("title") or ""):
            dated += 1
            chars += n
            continue
        item = a.getparent()
        for _ in range(2):  # <li><a/><span>date</span></li> or <tr><td><a/></td><td>date</td></tr>
            if item is None:
                break
            rest = item.text_content().replace(text, " ")
            if visible_len(rest) > 40:
                break
            if _DATE_RE.search(rest):
                dated += 1
                chars += n
                break
            item = item.getparent()
    return dated, chars, headlines


def _prose_chars(body_text: str, enough: int | None = None) -> int:
    """Visible characters of the body lines with sentence punctuation; counting stops at ``enough``."""
    total = 0
    for line in body_text.splitlines():
        if _PROSE_PUNCT_RE.search(line):
            total += visible_len(line)
            if enough is not None and total >= enough:
                break
    return total


def classify_page(tree: HtmlElement, *, status: int = 200, body_text: str = "", url: str = "") -> str | None:
    """A not-article reason for the page (see the module docstring), or None for an article page.

    ``body_text`` is what ``find_body`` found; ``url`` is accepted for logging and never decides.
    """
    body_chars = visible_len(body_text)
    enough = LISTING_MAX_PROSE_CHARS
    if status < 400 and body_chars >= SHORT_BODY_CHARS and _prose_chars(body_text, enough) >= enough:
        return None  # an article body: none of the checks below can fire, skip their cost
    prose_chars = _prose_chars(body_text)
    page_chars = _visible_page_chars(tree)
    if _is_challenge(tree, status, page_chars, body_chars):
        return "challenge"
    if status >= 400:
        return "error_page"
    title = _TITLE(tree)
    # the wording checks read the whole page only when it is small (an error page has little else)
    short_text = f"{title} {body_text}" if page_chars > 2000 else f"{title} {_BODY_TEXT(tree)}"
    if _is_error(title, body_chars, short_text):
        return "error_page"
    if _is_login(tree, body_chars, short_text):
        return "login"
    if prose_chars < LISTING_MAX_PROSE_CHARS:
        dated, dated_chars, headlines = _link_stats(tree)
        if body_chars < LISTING_NO_BODY_CHARS and (dated >= LISTING_MIN_DATED_LINKS
                                                   or headlines >= LISTING_MIN_HEADLINE_LINKS):
            return "listing"
        # a body of some length: only when it has no full sentence (a short notice beside a long
        # "latest items" sidebar ends its sentences with 。)
        if dated >= LISTING_MANY_DATED_LINKS and body_chars * 4 < dated_chars and "。" not in body_text:
            return "listing"
    if body_chars < MIN_BODY_CHARS and not _has_attachment(tree):
        return "empty"
    return None


__all__ = ["classify_page"]
