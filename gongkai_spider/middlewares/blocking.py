"""Recognise anti-bot challenge pages, back off the site, retry a few times, never pass them on.

Gov portals answer crawlers with challenge pages rather than errors (gov-portals.md section 1.6):

* HTTP 412 with a tiny page whose script computes a cookie and reloads (nhc.gov.cn, customs.gov.cn);
* HTTP 521 with a jsl-style script (``__jsluid`` / ``__jsl_clearance`` cookies, miit.gov.cn);
* a 200 page from a WAF that sets ``wzws_cid`` / ``wzws_sessionid`` and runs a JS check;
* a tiny 200 page whose only content is ``document.cookie = ...; location.reload()``.

``BlockedMiddleware`` sits after the cookie and decompression middlewares (it sees the plain body, and the
``Set-Cookie`` headers are already in the cookie jar) and, for such a response:

1. counts ``gongkai/blocked/{412,521,waf}``;
2. doubles the download delay of that site's slot (at least ``GONGKAI_BLOCKED_MIN_DELAY``, at most
   ``AUTOTHROTTLE_MAX_DELAY``) so the crawl slows down instead of hammering the site;
3. retries the request up to ``GONGKAI_BLOCKED_RETRY_TIMES`` times (``gongkai/blocked/retry``), adding any
   literal ``document.cookie = "name=value"`` the page sets, since the cookie jar cannot run scripts;
4. then gives up: ``gongkai/blocked/gave_up``, a WARNING naming the URL, and ``IgnoreRequest`` — a challenge
   page never reaches the spider, so it can never be stored as an article.

The challenge test is a pure function, ``classify_challenge``, so it can be tested on saved pages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest, NotConfigured

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from gongkai_spider.stats import Stats

logger = logging.getLogger(__name__)

# Statuses that anti-bot products answer with before the JS check passed.
CHALLENGE_STATUSES = (412, 521)
# Cookie names set by the WAF / anti-DDoS products seen on gov portals (prefix match, lower case).
WAF_COOKIE_PREFIXES = ("wzws_", "__jsluid", "__jsl_clearance", "jsl_clearance", "__jsl")
# A challenge page is small; real article pages are far bigger, and scanning them would cost CPU.
MAX_CHALLENGE_BYTES = 32 * 1024
# Visible characters (scripts, styles and tags removed) a challenge page has at most.
MAX_CHALLENGE_TEXT = 200

_SCRIPT_RE = re.compile(rb"<script\b", re.I)
_STRIP_RE = re.compile(rb"<(script|style|noscript)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.I | re.S)
_WS_RE = re.compile(rb"\s+|&nbsp;")
# These two run on the lower-cased body: a case-sensitive scan is several times faster than re.I.
_COOKIE_JS_RE = re.compile(rb"document\.cookie\s*=")
_RELOAD_JS_RE = re.compile(rb"location\s*(\.\s*(reload|replace|assign|href)\b|=)")
# The prefixes to look for in a page: those not containing another one (__jsl covers __jsluid ...).
_WAF_BODY_NEEDLES: tuple[bytes, ...] = tuple(
    p.encode() for p in WAF_COOKIE_PREFIXES if not any(q != p and q in p for q in WAF_COOKIE_PREFIXES))
# document.cookie = "name=value; path=/"  (a string literal; concatenations are not followed)
_COOKIE_LITERAL_RE = re.compile(rb"""document\.cookie\s*=\s*(["'])([^"'+]*?)\1\s*[;,\n)]""", re.I)


def _has_waf_cookie(set_cookies: Iterable[bytes | str], body_lower: bytes) -> bool:
    for raw in set_cookies:
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        name = text.split("=", 1)[0].strip().lower()
        if name.startswith(WAF_COOKIE_PREFIXES):
            return True
    return any(needle in body_lower for needle in _WAF_BODY_NEEDLES)


def visible_text_length(body: bytes) -> int:
    """Bytes of visible text in an HTML page (scripts, styles, comments, tags and whitespace removed)."""
    return len(_WS_RE.sub(b"", _STRIP_RE.sub(b"", body)))


def classify_challenge(status: int, set_cookies: Iterable[bytes | str], body: bytes) -> str | None:
    """``"412"``, ``"521"`` or ``"waf"`` when the response is an anti-bot challenge, else None.

    * 412 / 521 with a script or a ``Set-Cookie``: the status names the challenge (a bare 521 without either is
      an ordinary "origin down" error and is left to the retry/error handling);
    * any other status: a small page (< 32 KiB) with a script and almost no visible text (< 200 bytes) that
      either sets a WAF cookie (``wzws_*``, ``__jsluid*``, ``__jsl_clearance``) or writes ``document.cookie``
      and reloads / redirects.
    """
    set_cookies = list(set_cookies)
    if status in CHALLENGE_STATUSES:
        return str(status) if (set_cookies or _SCRIPT_RE.search(body, 0, MAX_CHALLENGE_BYTES)) else None
    if len(body) > MAX_CHALLENGE_BYTES or not _SCRIPT_RE.search(body):
        return None
    # The cheap tests first: an ordinary small page with scripts neither writes document.cookie nor sets a WAF
    # cookie, and is done without measuring its visible text (a regex pass over the page, ~60 us).
    lower = body.lower()
    cookie_reload = bool(_COOKIE_JS_RE.search(lower) and _RELOAD_JS_RE.search(lower))
    if not (cookie_reload or _has_waf_cookie(set_cookies, lower)):
        return None
    return "waf" if visible_text_length(body) <= MAX_CHALLENGE_TEXT else None


def literal_cookies(body: bytes) -> dict[str, str]:
    """Cookies a challenge script sets with a plain string literal (``document.cookie = "k=v; path=/"``)."""
    cookies: dict[str, str] = {}
    for match in _COOKIE_LITERAL_RE.finditer(body[:MAX_CHALLENGE_BYTES]):
        pair = match.group(2).decode("latin-1").split(";", 1)[0]
        name, sep, value = pair.partition("=")
        if sep and name.strip() and value.strip():
            cookies[name.strip()] = value.strip()
    return cookies


class BlockedMiddleware:
    """Downloader middleware: challenge pages are counted, backed off, retried, then ignored (never parsed)."""

    def __init__(
        self,
        stats: Stats,
        retry_times: int = 3,
        min_delay: float = 1.0,
        max_delay: float = 30.0,
        slots: dict[str, Any] | None = None,
    ) -> None:
        self.stats = stats
        self.retry_times = retry_times
        self.min_delay = min_delay
        self.max_delay = max_delay
        # The downloader's slots (key -> Slot with a ``delay``); resolved lazily from the crawler when None.
        self._slots = slots
        self._crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BlockedMiddleware:
        settings = crawler.settings
        if not settings.getbool("GONGKAI_BLOCKED_ENABLED", True):
            raise NotConfigured("GONGKAI_BLOCKED_ENABLED is off")
        mw = cls(
            crawler.stats,
            retry_times=settings.getint("GONGKAI_BLOCKED_RETRY_TIMES", 3),
            min_delay=settings.getfloat("GONGKAI_BLOCKED_MIN_DELAY", 1.0),
            max_delay=settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 30.0),
        )
        mw._crawler = crawler
        return mw

    def _slot(self, request: Request) -> Any:
        slots = self._slots
        if slots is None and self._crawler is not None and self._crawler.engine is not None:
            slots = self._crawler.engine.downloader.slots
        key = request.meta.get("download_slot")
        return slots.get(key) if slots is not None and key is not None else None

    def back_off(self, request: Request) -> float | None:
        """Double the delay of the request's download slot (bounded); returns the new delay."""
        slot = self._slot(request)
        if slot is None:
            return None
        new_delay = min(max(slot.delay * 2, self.min_delay), self.max_delay)
        if new_delay > slot.delay:
            slot.delay = new_delay
        self.stats.max_value("gongkai/blocked/max_delay", slot.delay)
        return slot.delay

    def process_response(self, request: Request, response: Response) -> Request | Response:
        kind = classify_challenge(response.status, response.headers.getlist(b"Set-Cookie"), response.body)
        if kind is None:
            return response
        self.stats.inc_value(f"gongkai/blocked/{kind}")
        delay = self.back_off(request)
        retries = request.meta.get("gongkai_blocked_retries", 0)
        if retries < self.retry_times:
            self.stats.inc_value("gongkai/blocked/retry")
            logger.info("blocked (%s) on %s; retry %d/%d, site delay now %s s",
                        kind, request.url, retries + 1, self.retry_times,
                        f"{delay:.1f}" if delay is not None else "unchanged")
            retry = request.replace(dont_filter=True, priority=request.priority - 1)
            retry.meta["gongkai_blocked_retries"] = retries + 1
            cookies = literal_cookies(response.body)
            if cookies:
                # The jar cannot run the challenge script; a literal cookie is taken as the script would set it.
                base = retry.cookies if isinstance(retry.cookies, dict) else {}
                retry.cookies = {**base, **cookies}
            return retry
        self.stats.inc_value("gongkai/blocked/gave_up")
        logger.warning("blocked (%s) on %s after %d retries; giving up on this page", kind, request.url, retries)
        raise IgnoreRequest(f"blocked_{kind}: {request.url}")
