"""Redirect loops end as a counted, logged failure instead of vanishing in the duplicate filter.

Scrapy's ``RedirectMiddleware`` follows ``a -> b -> a`` by scheduling ``a`` again; the duplicate filter then drops
that request silently (only ``dupefilter/filtered`` moves, and it is logged once, at DEBUG), so the article behind
the link is lost with no reason anywhere. Portals do this when a session or WAF cookie is missing, or after a
botched redesign.

``RedirectLoopMiddleware`` runs just before ``RedirectMiddleware`` (600) sees a 3xx response: when the
``Location`` leads back to a URL of the same redirect chain (``meta["redirect_urls"]`` plus the current URL) it
counts ``gongkai/fetch/redirect_loop``, logs a WARNING with the chain, and raises ``IgnoreRequest`` — the spider's
errback then counts the failed request under its kind (``gongkai/fetch/failed/<kind>/ignored``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy.exceptions import IgnoreRequest
from w3lib.url import safe_url_string

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from gongkai_spider.stats import Stats

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
