"""Incremental crawling: do not fetch what the store already has; stop paging a column that is caught up.

A spider middleware over the output of each listing page (requests marked ``meta["gongkai"]["kind"]``, see
the request-meta contract):

* Detail requests whose document is already stored (``doc_id(canonical_url(url))`` found in ``articles`` or
  ``quarantine``; one batched lookup per listing page) are dropped — ``gongkai/incremental/skipped_known`` —
  unless the spider runs with ``-a refresh=1``.
* Detail requests of articles the pending ledger holds back this run (in back-off, or given up; see
  extensions/ledger.py) are dropped too — ``gongkai/incremental/skipped_pending`` — and count like known ones:
  the ledger, not the listing, decides when they are fetched again. Not with ``-a refresh=1``.
* Detail requests whose listing date is older than ``-a since=YYYY-MM-DD`` are dropped —
  ``gongkai/incremental/skipped_old`` (also with ``refresh``: ``since`` is an explicit window); so are articles
  whose listing entry had no date but whose own publish time is older.
* Pagination of a column stops (its next-listing requests are dropped, ``gongkai/incremental/stopped_columns``)
  once ``GONGKAI_STOP_AFTER_KNOWN`` consecutive items were known or too old. Pinned (置顶) items on page 1 are
  old items kept on top, so they neither count nor break the run (gov-portals.md section 3, takeaway 3). The run
  carries over from page N to page N+1 of the same column. The rule assumes the previous run reached the end of
  every column; when it did not (killed, stopped early — see extensions/history.py), this run walks every listing
  page instead (``gongkai/incremental/full_walk``), still skipping stored articles.

Items that failed validation are never stored, so they are fetched again on the next run: cheap, and they
may have been fixed. A store that cannot answer makes the lookup fail open (everything is fetched,
``gongkai/incremental/lookup_failed``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured

from gongkai_spider.extensions.history import SiteHistory, site_history_for_crawler
from gongkai_spider.normalize import SHANGHAI, as_date, canonical_url, doc_id, parse_datetime
from gongkai_spider.readonly import refuse_when_read_only

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from gongkai_spider.stats import Stats

logger = logging.getLogger(__name__)

# Collections a document may already live in: a page quarantined as spam is "known" too.
KNOWN_COLLECTIONS = ("articles", "quarantine")


def _gongkai_meta(obj: Request | Response) -> dict:
    meta = obj.meta.get("gongkai") if hasattr(obj, "meta") else None
    return meta if isinstance(meta, dict) else {}


class IncrementalMiddleware:
    """Spider middleware: skip stored or too-old articles, stop paging after K known/old items in a row."""

    def __init__(
        self,
        stats: Stats,
        lookup: Callable[[list[str]], set[str]] | None,
        stop_after: int = 10,
        since: date | None = None,
        refresh: bool = False,
        full_walk: bool = False,
        held: Callable[[list[str]], set[str]] | None = None,
    ) -> None:
        self.stats = stats
        # ids -> the subset already stored; None = no store (nothing is known)
        self.lookup = lookup
        self.stop_after = stop_after
        self.since = since
        self.refresh = refresh
        self.full_walk = full_walk  # True: never stop paging (the previous run did not walk every column)
        # ids -> the subset the pending ledger holds back this run; None = no ledger
        self.held = held
        self.today: date | None = None  # the listing's "today" for year-less dates; None = the clock
        # column -> (last listing page number processed, run of known/old items at its end)
        self._runs: dict[str, tuple[int, int]] = {}
        self._stopped: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        settings = crawler.settings
        if not settings.getbool("GONGKAI_INCREMENTAL_ENABLED", True):
            raise NotConfigured("GONGKAI_INCREMENTAL_ENABLED is off")
        refuse_when_read_only(settings, "the store and run history are not opened")
        store_holder: dict[str, Any] = {}

        def lookup(ids: list[str]) -> set[str]:
            # Opened on first use: the store belongs to the crawler and is shared with the store pipeline.
            if "store" not in store_holder:
                from gongkai_spider.storage import store_for_crawler

                store_holder["store"] = store_for_crawler(crawler)
            store = store_holder["store"]
            known: set[str] = set()
            for collection in KNOWN_COLLECTIONS:
                known |= set(store.existing_ids(ids, collection))
            return known

        def held(ids: list[str]) -> set[str]:
            from gongkai_spider.extensions.ledger import ledger_for_crawler

            ledger = ledger_for_crawler(crawler)
            return ledger.held(ids) if ledger is not None else set()

        mw = cls(crawler.stats, lookup, stop_after=settings.getint("GONGKAI_STOP_AFTER_KNOWN", 10), held=held)
        mw._history = lambda: site_history_for_crawler(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    _history: Callable[[], SiteHistory | None] = staticmethod(lambda: None)

    def spider_opened(self, spider: Any) -> None:
        """Take ``since`` and ``refresh`` from the spider's arguments; full walk after an interrupted run."""
        self.since = as_date(getattr(spider, "since", None))
        refresh = getattr(spider, "refresh", False)
        self.refresh = refresh if isinstance(refresh, bool) else str(refresh).lower() in {"1", "true", "yes", "on"}
        history = self._history()
        if history is not None and not history.previous_complete and self.stop_after > 0:
            self.full_walk = True
            self.stats.set_value("gongkai/incremental/full_walk", 1)
            logger.info("walking every listing page this run (%s); stored articles are still skipped",
                        history.previous_note)

    def _known(self, ids: list[str]) -> set[str]:
        if self.refresh or self.lookup is None or not ids:
            return set()
        try:
            return set(self.lookup(ids))
        except Exception as exc:  # a store outage must not stop the crawl; fetching again is harmless
            self.stats.inc_value("gongkai/incremental/lookup_failed")
            logger.warning("store lookup failed (%s); fetching %d detail pages without the known check", exc, len(ids))
            return set()

    def _is_old(self, meta: dict) -> bool:
        if self.since is None or not meta.get("list_date"):
            return False
        # a listing date without a year (05-24) is the latest such day up to today
        published = parse_datetime(meta["list_date"], default_year=self.today or datetime.now(SHANGHAI).date())
        return published is not None and published.date() < self.since

    def filter_listing_output(self, response: Response, outputs: list[Any]) -> Iterable[Any]:
        """The listing page's output minus known/old detail requests and, once caught up, its next pages."""
        page_meta = _gongkai_meta(response)
        column = page_meta.get("column") or response.url
        page = int(page_meta.get("page") or 1)
        details = [o for o in outputs if isinstance(o, Request) and _gongkai_meta(o).get("kind") == "detail"]
        ids = {id(r): doc_id(canonical_url(r.url)) for r in details}
        known = self._known(sorted(set(ids.values())))
        held = self.held(list(set(ids.values()))) if self.held is not None and not self.refresh else set()

        last_page, run = self._runs.get(column, (0, 0))
        run = run if last_page == page - 1 else 0
        caught_up = column in self._stopped
        kept: list[Any] = []
        for out in outputs:
            meta = _gongkai_meta(out) if isinstance(out, Request) else {}
            if meta.get("kind") == "detail":
                skip = None
                if ids[id(out)] in known:
                    skip = "skipped_known"
                elif ids[id(out)] in held:
                    skip = "skipped_pending"
                elif self._is_old(meta):
                    skip = "skipped_old"
                # Pinned items on page 1 are old ones kept on top: they neither extend nor break the run.
                counts = not (meta.get("pinned") and page == 1)
                if skip:
                    self.stats.inc_value(f"gongkai/incremental/{skip}")
                    if counts:
                        run += 1
                else:
                    kept.append(out)
                    if counts:
                        run = 0
                if self.stop_after > 0 and run >= self.stop_after and not self.full_walk:
                    caught_up = True
            else:  # next-listing requests are decided after the whole page, below
                kept.append(out)
        self._runs[column] = (page, run)
        if caught_up:
            kept = [o for o in kept if not self._is_next_listing(o, column)]
            if column not in self._stopped:
                self._stopped.add(column)
                self.stats.inc_value("gongkai/incremental/stopped_columns")
                logger.info("column %s caught up on listing page %d (%d known/older items in a row); "
                            "not following further listing pages", column, page, run)
        return kept

    @staticmethod
    def _is_next_listing(out: Any, column: str) -> bool:
        if not isinstance(out, Request):
            return False
        meta = _gongkai_meta(out)
        return meta.get("kind") == "listing" and (meta.get("column") or column) == column

    def _item_too_old(self, out: Any) -> bool:
        """An article whose own publish time is older than ``since`` (its listing entry had no date)."""
        if self.since is None or isinstance(out, Request) or not hasattr(out, "get"):
            return False
        published = parse_datetime(out.get("publish_time"))
        if published is None or published.date() >= self.since:
            return False
        self.stats.inc_value("gongkai/incremental/skipped_old")
        logger.debug("published %s, before since=%s: %s", published.date(), self.since, out.get("url"))
        return True

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if _gongkai_meta(response).get("kind") != "listing":
            async for out in result:
                if not self._item_too_old(out):
                    yield out
            return
        # One listing page yields a few dozen requests at most: collect them for one batched store lookup.
        outputs = [out async for out in result]
        for out in self.filter_listing_output(response, outputs):
            yield out
