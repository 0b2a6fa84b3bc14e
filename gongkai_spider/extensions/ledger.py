"""The completeness ledger: every article URL a listing showed and the store does not hold yet.

An article that could not be stored — its fetch failed (HTTP error, timeout, connection), it was blocked or
ignored (anti-bot give-up, redirect loop, robots.txt), its page was no article (``challenge``, ``error_page``,
``login``, ``empty``) or the validate pipeline dropped it — gets an entry in the store's ``pending`` collection
(a SQLite table of the same name; see docs/SCHEMA.md)::

    {_id, url, site, list_url, column, list_title, list_date, reason, attempts, retry_in_runs, given_up,
     given_up_at, first_seen, last_seen[, request]}

``attempts`` counts the runs in which it failed (once per run), ``reason`` is the latest reason, ``request``
holds the method and body of a non-GET request (listing dialects that POST) and an API record's fallback
values (``list_fields``: gkmlpt 文号, 索引号, date, attachments) so a retry repeats it.

Each run of the site (``PendingLedger.retries``, called by the spider's ``start()`` before the start URLs)
fetches its pending entries directly, whatever the listing pages show, so the stop-after-known rule can never
hide one. Back-off across runs: after its n-th failed run an entry waits ``2**(n-1) - 1`` runs (retried at the
next run, then after skipping 1, 3, 7 ... runs); a run that skips it counts the wait down. After
``GONGKAI_PENDING_GIVE_UP_RUNS`` failed runs (default 5; 0 = never) the entry is given up: it stays in the
ledger with ``given_up: true``, the run that gave up names it in an ERROR line and raises the ``gave_up`` alert
(exit 3). Entries in back-off or given up are not fetched from listings either (``gongkai/incremental/
skipped_pending``); ``-a refresh=1`` fetches everything, given-up entries included. A stored article (in
``articles`` or ``quarantine``) clears its entry.

The spider reports failures through ``GongkaiSpider.article_failed(request, reason)``; items dropped by a
pipeline are recorded from the ``item_dropped`` signal, stored ones cleared from ``item_scraped``.

Stats: ``gongkai/pending/{loaded,retried,backoff,failed,new,cleared,given_up,open,unrecorded}``
(``failed``: distinct article URLs that failed this run; ``open``: entries left at close, given-up ones
included). A store that cannot read or write the ledger is counted (``unrecorded``) and raises the
``pending_unrecorded`` alert: the run cannot vouch for its completeness.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from gongkai_spider.normalize import canonical_url, doc_id
from gongkai_spider.readonly import refuse_when_read_only

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from gongkai_spider.stats import Stats
    from gongkai_spider.storage.base import Store

logger = logging.getLogger(__name__)

# Fields of a pending entry, in the order `gongkai export --collection pending` writes them.
PENDING_FIELDS: tuple[str, ...] = ("_id", "url", "site", "list_url", "column", "list_title", "list_date", "reason",
                                   "attempts", "retry_in_runs", "given_up", "given_up_at", "first_seen", "last_seen",
                                   "request")
# Not-article page kinds (extract/pagekind.py) that are not a lost article: a column page behind a detail link.
NOT_PENDING_PAGE_KINDS = frozenset({"listing"})
# How many given-up URLs the closing ERROR line names (the rest are counted; `gongkai export` lists all).
_NAMED = 20


def backoff_runs(attempts: int) -> int:
    """Runs an entry waits after its ``attempts``-th failed run: 0, 1, 3, 7, ... (capped at 255)."""
    return min(2 ** (attempts - 1) - 1, 255) if attempts > 0 else 0


def entry_id(url: str) -> str:
    """The ledger key of an article URL: the ``_id`` its stored document would have."""
    return doc_id(canonical_url(url))


class PendingLedger:
    """One site's ledger for one run (see the module docstring). ``store`` is a Store or a callable opening one."""

    def __init__(self, stats: Stats, store: Store | Callable[[], Store], *, give_up_runs: int = 5,
                 now: Callable[[], datetime] | None = None) -> None:
        from gongkai_spider.storage.base import utc_now

        self.stats = stats
        self._store = store
        self.give_up_runs = max(0, give_up_runs)
        self.now = now or utc_now
        self.site: str | None = None
        self.entries: dict[str, dict] = {}  # _id -> entry, this site's (loaded, then kept up to date)
        self._held: set[str] = set()  # in back-off or given up: not fetched this run
        self._failed: set[str] = set()  # failed in this run (attempts counted once per run)
        self.given_up: list[dict] = []  # given up by this run
        self.loaded = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PendingLedger:
        settings = crawler.settings
        if not settings.getbool("GONGKAI_PENDING_ENABLED", True):
            raise NotConfigured("GONGKAI_PENDING_ENABLED is off")
        refuse_when_read_only(settings, "the store is not opened")

        def open_store() -> Store:
            from gongkai_spider.storage import store_for_crawler

            return store_for_crawler(crawler)

        ledger = cls(crawler.stats, open_store, give_up_runs=settings.getint("GONGKAI_PENDING_GIVE_UP_RUNS", 5))
        ledger._spider_site = lambda: getattr(getattr(crawler, "spider", None), "site_id", None)
        crawler._gongkai_ledger = ledger
        crawler.signals.connect(ledger.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ledger.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ledger.spider_closed, signal=signals.spider_closed)
        return ledger

    _spider_site: Callable[[], str | None] = staticmethod(lambda: None)

    # -- store access ------------------------------------------------------------------------------------

    def _open(self) -> Store:
        if callable(self._store) and not hasattr(self._store, "pending_entries"):
            self._store = self._store()
        return self._store  # type: ignore[return-value]

    def _unrecorded(self, what: str, exc: BaseException, n: int = 1) -> None:
        self.stats.inc_value("gongkai/pending/unrecorded", n)
        logger.error("pending ledger: %s failed (%s: %s); this run cannot vouch for its completeness",
                     what, type(exc).__name__, exc)

    def _write(self, entries: list[dict], what: str) -> None:
        if not entries:
            return
        try:
            self._open().pending_write(entries)
        except Exception as exc:
            self._unrecorded(what, exc, len(entries))

    # -- start of the run ----------------------------------------------------------------------------------

    def load(self, site: str | None = None) -> None:
        """Read the site's entries once; count down the back-off of those that wait this run."""
        if self.loaded:
            return
        self.loaded = True
        self.site = site or self._spider_site() or "unknown"
        try:
            entries = self._open().pending_entries(self.site)
        except Exception as exc:
            self._unrecorded(f"reading the pending entries of {self.site}", exc)
            return
        entries = self._drop_stored(entries)
        waiting = []
        for entry in entries:
            self.entries[entry["_id"]] = entry
            if entry.get("given_up"):
                self._held.add(entry["_id"])
            elif int(entry.get("retry_in_runs") or 0) > 0:
                entry["retry_in_runs"] = int(entry["retry_in_runs"]) - 1
                self._held.add(entry["_id"])
                waiting.append(entry)
        self.stats.set_value("gongkai/pending/loaded", len(entries))
        if waiting:
            self.stats.inc_value("gongkai/pending/backoff", len(waiting))
            self._write(waiting, "counting down the back-off")
        if entries:
            logger.info("pending ledger of %s: %d entries (%d waiting for a later run, %d given up)", self.site,
                        len(entries), len(waiting), sum(1 for e in entries if e.get("given_up")))

    def _drop_stored(self, entries: list[dict]) -> list[dict]:
        """Entries whose article is stored by now (a clear that failed, another run or worker) are cleared."""
        if not entries:
            return entries
        store, ids = self._open(), [e["_id"] for e in entries]
        try:
            stored = set(store.existing_ids(ids, "articles")) | set(store.existing_ids(ids, "quarantine"))
            if stored:
                store.pending_clear(stored)
                self.stats.inc_value("gongkai/pending/cleared", len(stored))
        except Exception as exc:
            self._unrecorded("clearing stored articles", exc, len(ids))
            return entries
        return [e for e in entries if e["_id"] not in stored]

    def retries(self, site: str | None = None, *, include_given_up: bool = False) -> list[dict]:
        """The entries to fetch this run, oldest first (given-up ones too with ``include_given_up``)."""
        self.load(site)
        due = [e for e in self.entries.values()
               if e["_id"] not in self._held or (include_given_up and e.get("given_up"))]
        if include_given_up:
            self._held.clear()
        due.sort(key=lambda e: (e.get("first_seen") or self.now(), e["_id"]))
        if due:
            self.stats.inc_value("gongkai/pending/retried", len(due))
        return due

    def held(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` this run must not fetch from a listing (in back-off or given up)."""
        return self._held.intersection(ids)

    # -- during the run ----------------------------------------------------------------------------------

    def failed(self, url: str, reason: str, *, list_url: str | None = None, column: str | None = None,
               list_title: str | None = None, list_date: str | None = None, request: dict | None = None) -> None:
        """Record that the article at ``url`` (the link as the listing gave it) was not stored this run."""
        self.load()
        _id = entry_id(url)
        now = self.now()
        entry = self.entries.get(_id)
        first_failure = _id not in self._failed
        if entry is None:
            entry = {"_id": _id, "url": url, "site": self.site, "list_url": list_url, "column": column,
                     "attempts": 0, "retry_in_runs": 0, "given_up": False, "given_up_at": None,
                     "first_seen": now}
            self.stats.inc_value("gongkai/pending/new")
        entry.update(reason=reason, last_seen=now)
        for key, value in (("list_url", list_url), ("column", column), ("list_title", list_title),
                           ("list_date", list_date)):
            entry[key] = entry.get(key) or value
        if request:
            entry["request"] = request
        if first_failure:
            self._failed.add(_id)
            self.stats.inc_value("gongkai/pending/failed")
            entry["attempts"] = int(entry.get("attempts") or 0) + 1
            entry["retry_in_runs"] = backoff_runs(entry["attempts"])
            if not entry.get("given_up") and self.give_up_runs and entry["attempts"] >= self.give_up_runs:
                entry.update(given_up=True, given_up_at=now)
                self.given_up.append(entry)
                self.stats.inc_value("gongkai/pending/given_up")
                logger.error("pending ledger: gave up on %s after %d failed runs (last reason: %s)", url,
                             entry["attempts"], reason)
        self.entries[_id] = entry
        self._write([entry], f"recording {url}")

    def stored(self, urls: Iterable[str | None]) -> None:
        """The article at any of ``urls`` was stored: clear its entry."""
        ids = {entry_id(u) for u in urls if u} & self.entries.keys()
        if not ids:
            return
        try:
            self._open().pending_clear(ids)
        except Exception as exc:
            self._unrecorded("clearing stored articles", exc, len(ids))
            return
        for _id in ids:
            self.entries.pop(_id, None)
            self._held.discard(_id)
            self._failed.discard(_id)
        self.stats.inc_value("gongkai/pending/cleared", len(ids))

    # -- signal handlers -------------------------------------------------------------------------------------

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        if self.entries:
            self.stored(_item_urls(item, response))

    def item_dropped(self, item: Any, response: Any = None, exception: Any = None, spider: Any = None) -> None:
        reason = str(exception or "").split(":", 1)[0].strip() or "unspecified"
        urls = _item_urls(item, response)
        if urls:
            get = item.get if hasattr(item, "get") else (lambda _k: None)
            self.failed(urls[0], f"dropped_{reason}", list_url=get("list_url"))

    def spider_closed(self, spider: Any = None, reason: str = "finished") -> None:
        if not self.loaded:
            return
        self.stats.set_value("gongkai/pending/open", len(self.entries))
        if self.given_up:
            named = ", ".join(f"{e['url']} ({e.get('reason')})" for e in self.given_up[:_NAMED])
            more = len(self.given_up) - _NAMED
            logger.error("pending ledger: gave up on %d article(s) of %s this run: %s%s", len(self.given_up),
                         self.site, named, f" and {more} more" if more > 0 else "")
        open_entries = len(self.entries) - sum(1 for e in self.entries.values() if e.get("given_up"))
        if open_entries:
            logger.warning("pending ledger: %d article(s) of %s not stored yet, retried by the next runs "
                           "(`gongkai export --collection pending`)", open_entries, self.site)


def _item_urls(item: Any, response: Any) -> list[str]:
    """The URLs an item may be pending under: the listing's link (before redirects) first, then its own URL."""
    urls: list[str] = []
    getter = getattr(item, "get", None)
    requested = getter("_page_requested_url") if callable(getter) else None
    if requested:
        urls.append(requested)
    url = getter("url") if callable(getter) else None
    if url:
        urls.append(url)
    return urls


def ledger_for_crawler(crawler: Any) -> PendingLedger | None:
    """The crawl's ledger (the extension), or None when it is switched off or the crawler has none."""
    return getattr(crawler, "_gongkai_ledger", None) if crawler is not None else None
