"""robots.txt for every request, also those that arrive while the site's robots.txt is still downloading.

Scrapy 2.19's ``RobotsTxtMiddleware.robot_parser`` makes every request that arrives while robots.txt is in
flight ``await`` the same Deferred (``maybe_deferred_to_future(parser)``). Under the asyncio reactor that
conversion consumes the Deferred's result (Twisted's ``Deferred.asFuture``: "implicitly converts self into a
Deferred firing with None"), so only the first waiter gets the parser; the others get ``None``, which the
middleware reads as "no robots.txt, allow everything". At the start of a crawl — several start URLs or a listing
page's links all waiting for the same host — pages the site disallows were fetched (seen in
tests/test_blocking.py: the fourth concurrent request to a host ignored ``Disallow``). The change came with
scrapy/scrapy PR #6802, whose review notes the path was not covered by tests.

This subclass gives each waiter its own Deferred fed from the shared one (the pattern Scrapy used before), and
is installed in place of Scrapy's middleware at the same position (``DOWNLOADER_MIDDLEWARES`` in settings.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.robotstxt import RobotParser


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """``RobotsTxtMiddleware`` whose concurrent waiters all receive the parsed robots.txt."""

    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            waiter: Deferred[RobotParser | None] = Deferred()

            def relay(result: RobotParser | None) -> RobotParser | None:
                waiter.callback(result)
                return result  # keep the result on the shared Deferred for the next waiter

            pending.addCallback(relay)
            return await maybe_deferred_to_future(waiter)
        return await super().robot_parser(request)
