"""Redirect loops end as a counted, logged failure instead of vanishing in the duplicate filter.

Scrapy's ``RedirectMiddleware`` follows ``a -> b -> a`` by scheduling ``a`` again; the duplicate filter then drops
that request silently (only ``dupefilter/filtered`` moves, and it is logged once, at DEBUG), so the article behind
the link is lost with no reason anywhere. Portals do this when a session or WAF cookie is missing, or after a
botched redesign.

``RedirectLoopMiddleware`` runs just before ``RedirectMiddleware`` (600) sees a 3xx response: when the
``Location`` leads back to a URL of the same redirect chain (``meta["redirect_urls"]`` plus the current URL) it
counts ``gongkai/fetch/redirect_loop``, logs a WARNING with the chain, and raises ``IgnoreRequest`` — the spider's
errback then counts the failed request under its kind (``gongkai/fetch/failed/<kind>/ignored``).

``ByteMetaRefreshMiddleware`` takes the place of Scrapy's ``MetaRefreshMiddleware`` (580). Scrapy's looks for
``<meta http-equiv="refresh">`` in ``response.text[:4096]``, and ``response.text`` decodes the whole page: 59 us
of CPU per page on the demo portal's pages (more on real, larger ones), while the spider never reads
``response.text`` (extraction parses the bytes); this one costs 6 us there. This one first rules a refresh out in the undecoded bytes: when the page's
encoding writes every ASCII character as that one byte (UTF-8, the GB and Big5 families, Latin-1/cp1252,
ASCII) and ``refresh`` (in any case) is nowhere in the bytes that Scrapy's 4096 characters can come from, Scrapy
would find no refresh either, and the response passes on undecoded. Otherwise Scrapy's middleware decides.
"""

from __future__ import annotations

import codecs
import logging
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from w3lib.url import safe_url_string

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from pipelines.common import Stats

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def _key(url: str) -> str:
    return url.split("#", 1)[0]


class RedirectLoopMiddleware:
    """Downloader middleware: a redirect back into its own chain is a counted failure."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectLoopMiddleware:
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in REDIRECT_STATUSES or b"Location" not in response.headers:
            return response
        if request.meta.get("dont_redirect") or response.status in request.meta.get("handle_httpstatus_list", ()):
            return response
        location = response.headers[b"Location"]
        if location.startswith(b"//"):
            location = request.url.split(":", 1)[0].encode() + b":" + location
        target = _key(urljoin(request.url, safe_url_string(location)))
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if target not in {_key(u) for u in chain}:
            return response
        self.stats.inc_value("gongkai/fetch/redirect_loop")
        logger.warning("redirect loop, giving up: %s -> %s", " -> ".join(chain), target)
        raise IgnoreRequest(f"redirect_loop: {chain[0]}")


# Codecs (by their Python name) in which every ASCII character of the decoded text is its own byte of the page,
# and contiguous characters contiguous bytes: no escape sequences (ISO-2022, HZ, UTF-7), no wide units (UTF-16/32).
ASCII_TRANSPARENT = frozenset({
    "ascii", "utf-8", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "gb2312", "gbk", "gb18030", "big5",
    "big5hkscs", "cp950",
})
# Scrapy reads the first 4096 characters; no codec above writes a character in more than 4 bytes, and a BOM is 3.
_REFRESH_WINDOW = 4096 * 4 + 4


def _ascii_transparent(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "").name in ASCII_TRANSPARENT
    except LookupError:
        return False


def no_meta_refresh(response: HtmlResponse) -> bool:
    """True when Scrapy's MetaRefreshMiddleware would find no refresh, decided without decoding the page."""
    if b"refresh" in response.body[:_REFRESH_WINDOW].lower():
        return False
    # Read after the bytes: for a page that declares no encoding this infers one by decoding (cached, and the
    # spider asks for it anyway); a declared one costs a header or <meta> lookup.
    return _ascii_transparent(response.encoding)


class ByteMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware that skips pages whose bytes rule a refresh out (module docstring)."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if isinstance(response, HtmlResponse) and no_meta_refresh(response):
            return response
        return super().process_response(request, response)
