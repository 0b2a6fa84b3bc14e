"""Run monitor: per-site summary at close, field coverage, run history, and alerts that fail the run.

``RunMonitor`` listens to ``response_received`` (pages fetched per site and request kind), ``item_scraped`` and
``item_dropped`` (field coverage per site) and ``spider_closed``. At close it

* logs one readable summary block per site and sets the figures in the crawl stats:
  ``gongkai/site/<site>/pages[/<kind>]``, ``gongkai/site/<site>/items``, ``gongkai/site/<site>/dropped/<reason>``,
  ``gongkai/site/<site>/coverage/<field>`` (share of extracted items with a value, 0..1),
  ``gongkai/site/<site>/quarantined`` (items marked as spam); the store outcomes come from the store pipeline's
  ``gongkai/site/<site>/store/<outcome>``;
* appends the run to the site's history file (extensions/history.py: ``GONGKAI_RUN_HISTORY``, default
  ``runs/{site}.json`` beside the SQLite store, ``data/runs/{site}.json``; the last ``GONGKAI_RUN_HISTORY_SIZE`` runs: time, finish reason, items, coverage per
  field) and records how the run ended;
* raises alerts, each logged at ERROR and counted as ``gongkai/alert/<reason>`` with ``gongkai/alert`` = number
  of alerts, which makes ``scrapy crawl`` exit with status 3 (``gongkai_spider/scrapy_commands/crawl.py``):

  - ``empty_listing``: a listing page answered but yielded no article links (the spider's ``gongkai/listing/empty``);
  - ``no_pages`` / ``no_items``: the run fetched no listing page, or listing pages led to no article at all
    (nothing extracted, nothing skipped as known or old). Not raised by a worker of a distributed crawl
    (``REDIS_URL``, docs/SCALING.md): the workers share one frontier, so one that got no listing page (or no
    article) only means the others took them; the crawl's pages are spread over the workers' stats;
  - ``coverage_drop``: a field's coverage fell below ``GONGKAI_COVERAGE_DROP_RATIO`` (0.5) of its median over the
    site's previous runs — a template change. Only judged with at least ``GONGKAI_COVERAGE_MIN_ITEMS`` (20)
    items in this run and ``GONGKAI_COVERAGE_MIN_RUNS`` (2) earlier runs of that size, and only for fields whose
    median is at least ``GONGKAI_COVERAGE_MIN_BASELINE`` (0.2): a field a site rarely fills cannot "drop";
  - ``blocked``: pages abandoned after anti-bot challenges (``gongkai/blocked/gave_up``);
  - ``override_unmatched``: a selector of the site config (``listing.links``, ``detail.body`` ...) was tried on
    pages of this run and matched on none of them (the spider's ``gongkai/override/<key>/{matched,missed}``);
    ``listing.next`` counts as missed only on pages that do have a next page;
  - ``store_lost``: documents neither stored nor spooled (``gongkai/store/lost``, from the store pipeline);
  - ``failed_articles``: more than ``GONGKAI_FAILED_SHARE_ALERT`` (10%) of the run's article fetches failed
    (``gongkai/pending/failed`` of ``gongkai/detail/pages`` + ``gongkai/fetch/failed/detail/*``); they are in the
    pending ledger (extensions/ledger.py) and retried by the next runs;
  - ``gave_up``: the pending ledger gave up on articles this run (``gongkai/pending/given_up``);
  - ``pending_unrecorded``: the pending ledger could not be read or written (``gongkai/pending/unrecorded``);
  - ``listing_failed``: listing pages could not be fetched (``gongkai/fetch/failed/listing/*``): the articles on
    and behind them were not seen; the run is recorded as incomplete, so the next one walks every listing page;
  - ``page_cap``: a column reached ``GONGKAI_PAGE_CAP`` listing pages without a max_pages (``gongkai/listing/
    page_cap_reached``);
  - ``close_reason``: the spider closed for a reason other than finishing, a ``closespider_*`` limit or an
    operator's shutdown (e.g. ``cancelled``). A configuration error (``site_config_missing`` and the other
    ``CONFIG_CLOSE_REASONS``) is no alert: ``scrapy crawl`` exits 2 for it.

With ``GONGKAI_STATS_FILE`` set, the final crawl stats (alerts included) are also written there as one JSON
object, for schedulers and dashboards that collect run metrics (and for the end-to-end tests).

A run stopped by the operator (``shutdown``, e.g. to resume later from ``JOBDIR``) is neither judged for
missing pages/items nor used as a coverage baseline. A distributed worker records its coverage only when it saw at
least ``GONGKAI_COVERAGE_MIN_ITEMS`` items: a smaller share is no baseline, and appending it would push real
baselines out of the history (the workers of one machine share the file; see extensions/history.py).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object

from gongkai_spider.errors import CONFIG_CLOSE_REASONS, EXIT_ALERT, EXIT_CONFIG, EXIT_OK
from gongkai_spider.extensions.history import (
    DEFAULT_TEMPLATE,
    SiteHistory,
    history_file,
    history_template,
    site_history_for_crawler,
)
from gongkai_spider.readonly import refuse_when_read_only

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from gongkai_spider.stats import Stats

logger = logging.getLogger(__name__)

# Document fields whose coverage is measured, in schema order.
COVERAGE_FIELDS: tuple[str, ...] = (
    "title", "publish_time", "read_count", "author", "source", "summary", "keywords", "body", "attachments",
    "doc_meta",
)
STORE_OUTCOMES = ("new", "updated", "unchanged")
# Finish reasons of a run that did its job (closespider_* limits are the operator's own choice).
OK_REASONS = ("finished", "shutdown")
OK_REASON_PREFIXES = ("closespider_",)
_ERROR_LIMITS = ("closespider_errorcount",)
# (stats key, alert, message) of the alerts raised whenever the count is above zero, in this order.
COUNT_ALERTS: tuple[tuple[str, str, str], ...] = (
    ("gongkai/listing/empty", "empty_listing",
     "{n} listing page(s) answered but yielded no article links (template change or wrong start URL?)"),
    ("gongkai/store/lost", "store_lost", "{n} document(s) could be neither stored nor spooled"),
    ("gongkai/blocked/gave_up", "blocked", "{n} page(s) abandoned after anti-bot challenges"),
    ("gongkai/pending/given_up", "gave_up",
     "gave up on {n} article(s) after repeated failed runs (`gongkai export --collection pending`)"),
    ("gongkai/pending/unrecorded", "pending_unrecorded",
     "{n} pending-ledger operation(s) failed; articles this run could not store may not be retried"),
    ("gongkai/listing/page_cap_reached", "page_cap",
     "{n} column(s) reached GONGKAI_PAGE_CAP listing pages; the paginator may never end, or the cap is too low"),
)


def override_never_matched(stats: Any) -> dict[str, int]:
    """Site selectors (``listing.links``, ``detail.body`` ...) tried on pages of this run that matched on none:
    key -> pages tried (the spider counts ``gongkai/override/<key>/{matched,missed}``)."""
    values = _all_stats(stats)
    out = {}
    for name, missed in values.items():
        if name.startswith("gongkai/override/") and name.endswith("/missed") and missed:
            key = name[len("gongkai/override/"):-len("/missed")]
            if not values.get(f"gongkai/override/{key}/matched"):
                out[key] = int(missed)
    return out


def _all_stats(stats: Any) -> dict[str, Any]:
    get = getattr(stats, "get_stats", None)
    return dict(get()) if get is not None else {}


def has_value(value: Any) -> bool:
    """A field "has a value" when it is not None/blank/empty; a read count of 0 is a value."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict, set)):
        return bool(value)
    return True


def distributed_crawl(settings: Any) -> bool:
    """True when this process is one worker of a shared crawl: the Redis frontier is on (``REDIS_URL`` /
    ``REDIS_HOST``, what the ``SCHEDULER`` switch of gongkai_spider.distributed reads) or ``SCHEDULER`` names a
    scrapy-redis scheduler itself."""
    from gongkai_spider.distributed import redis_enabled

    if redis_enabled(settings):
        return True
    scheduler = settings.get("SCHEDULER")
    try:
        cls = load_object(scheduler) if isinstance(scheduler, str) else scheduler
    except Exception:  # an unloadable scheduler fails the crawl elsewhere, with its own message
        return False
    return any(str(getattr(c, "__module__", "")).startswith("scrapy_redis") for c in getattr(cls, "__mro__", ()))


def reason_ok(reason: str) -> bool:
    return reason in OK_REASONS or (reason.startswith(OK_REASON_PREFIXES) and reason not in _ERROR_LIMITS)


def coverage_drops(
    current: dict[str, float],
    items: int,
    previous: list[dict],
    *,
    min_items: int = 20,
    min_runs: int = 2,
    drop_ratio: float = 0.5,
    min_baseline: float = 0.2,
) -> list[tuple[str, float, float]]:
    """Fields whose coverage fell below ``drop_ratio`` x the median of earlier comparable runs.

    Returns (field, current coverage, previous median) for each; empty when the sample is too small.
    """
    if items < min_items:
        return []
    comparable = [r for r in previous if int(r.get("items") or 0) >= min_items and isinstance(r.get("coverage"), dict)]
    if len(comparable) < min_runs:
        return []
    drops = []
    for name, value in current.items():
        past = [float(r["coverage"][name]) for r in comparable if name in r["coverage"]]
        if len(past) < min_runs:
            continue
        median = statistics.median(past)
        if median >= min_baseline and value < median * drop_ratio:
            drops.append((name, value, median))
    return drops


def thread_wait_seconds() -> float | None:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (the run-queue delay of Linux's
    ``/proc/thread-self/schedstat``); None where the kernel does not keep it."""
    try:
        with open("/proc/thread-self/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class SiteTally:
    pages: Counter = field(default_factory=Counter)  # request kind -> responses
    items: int = 0  # scraped + dropped: everything extracted as an article
    scraped: int = 0
    quarantined: int = 0  # scraped items marked as spam (the store routes them to "quarantine")
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    filled: Counter = field(default_factory=Counter)  # field -> items with a value

    def coverage(self) -> dict[str, float]:
        return {f: (self.filled[f] / self.items if self.items else 0.0) for f in COVERAGE_FIELDS}


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


class RunMonitor:
    """Extension: per-site stats block at close, coverage history, alerts (see the module docstring)."""

    def __init__(
        self,
        stats: Stats,
        history: str = DEFAULT_TEMPLATE,
        history_size: int = 20,
        min_items: int = 20,
        min_runs: int = 2,
        drop_ratio: float = 0.5,
        min_baseline: float = 0.2,
        stats_file: str = "",
        distributed: bool = False,
        progress_interval: float = 0.0,
        failed_share: float = 0.1,
    ) -> None:
        self.stats = stats
        self.progress_interval = progress_interval  # seconds between progress updates; 0 = none
        self._progress_loop: Any = None
        self._progress_last: tuple[float, int] = (0.0, 0)  # (monotonic time, pages) at the last update
        self.distributed = distributed  # one worker of a shared (Redis) crawl: see the module docstring
        self.stats_file = stats_file  # "" = do not write the stats as JSON
        self.failed_share = failed_share  # share of failed article fetches above which the run alerts
        self.history_size = history_size
        # site -> its history file (None = no history kept, no coverage-drop alerts); from_crawler shares the
        # crawl's one with the incremental middleware
        self._history_for: Callable[[str], SiteHistory | None] = (
            (lambda site: SiteHistory(history_file(history, site), site, history_size)) if history else (lambda site: None))
        self.site_history: SiteHistory | None = None
        self.min_items = min_items
        self.min_runs = min_runs
        self.drop_ratio = drop_ratio
        self.min_baseline = min_baseline
        self.sites: dict[str, SiteTally] = {}
        self.alerts: list[tuple[str, str]] = []  # (reason, message)
        self.default_site = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunMonitor:
        s = crawler.settings
        if not s.getbool("GONGKAI_MONITOR_ENABLED", True):
            raise NotConfigured("GONGKAI_MONITOR_ENABLED is off")
        refuse_when_read_only(s, "no run history, stats file or alerts")
        ext = cls(
            crawler.stats,
            history=history_template(s),
            history_size=s.getint("GONGKAI_RUN_HISTORY_SIZE", 20),
            min_items=s.getint("GONGKAI_COVERAGE_MIN_ITEMS", 20),
            min_runs=s.getint("GONGKAI_COVERAGE_MIN_RUNS", 2),
            drop_ratio=s.getfloat("GONGKAI_COVERAGE_DROP_RATIO", 0.5),
            min_baseline=s.getfloat("GONGKAI_COVERAGE_MIN_BASELINE", 0.2),
            stats_file=s.get("GONGKAI_STATS_FILE", "") or "",
            distributed=distributed_crawl(s),
            progress_interval=s.getfloat("GONGKAI_PROGRESS_INTERVAL", 60.0),
            failed_share=s.getfloat("GONGKAI_FAILED_SHARE_ALERT", 0.1),
        )
        ext._history_for = lambda site: site_history_for_crawler(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # -- signal handlers ---------------------------------------------------------------------------------

    def spider_opened(self, spider: Any) -> None:
        self.default_site = str(getattr(spider, "site_id", None) or getattr(spider, "name", "") or "unknown")
        self.site_history = self._history_for(self.default_site)
        if self.site_history is not None:
            self.site_history.start()
        if self.progress_interval > 0:
            from twisted.internet import task

            self._progress_last = (time.monotonic(), 0)
            self._progress_loop = task.LoopingCall(self.progress)
            self._progress_loop.start(self.progress_interval, now=False)

    def progress(self) -> None:
        """Every GONGKAI_PROGRESS_INTERVAL seconds of a run: per-site figures into the stats (Scrapy's
        PeriodicLog logs them) and the stats file rewritten, so a long run can be watched from outside."""
        now, pages = time.monotonic(), sum(sum(t.pages.values()) for t in self.sites.values())
        then, pages_then = self._progress_last
        self._progress_last = (now, pages)
        self.stats.set_value("gongkai/progress/pages_per_second", round((pages - pages_then) / max(now - then, 1e-6), 2))
        for site, tally in self.sites.items():
            self.stats.set_value(f"gongkai/site/{site}/pages", sum(tally.pages.values()))
            self.stats.set_value(f"gongkai/site/{site}/items", tally.items)
        if self.stats_file:
            self._write_stats()

    def _tally(self, site: Any) -> SiteTally:
        key = str(site or self.default_site or "unknown")
        tally = self.sites.get(key)
        if tally is None:  # not setdefault: that would build a tally (three Counters) on every page
            tally = self.sites[key] = SiteTally()
        return tally

    def response_received(self, response: Any, request: Any, spider: Any = None) -> None:
        meta = request.meta.get("gongkai") if request is not None else None
        meta = meta if isinstance(meta, dict) else {}
        self._tally(meta.get("site")).pages[meta.get("kind") or "other"] += 1

    def _count_fields(self, tally: SiteTally, item: Any) -> None:
        tally.items += 1
        for name in COVERAGE_FIELDS:
            try:
                value = item.get(name)
            except Exception:  # an item type without .get: treat as missing
                value = None
            if has_value(value):
                tally.filled[name] += 1

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        tally = self._tally(item.get("site"))
        tally.scraped += 1
        spam = item.get("spam")
        if isinstance(spam, dict) and spam.get("is_spam"):
            tally.quarantined += 1
        self._count_fields(tally, item)

    def item_dropped(self, item: Any, response: Any = None, exception: Any = None, spider: Any = None) -> None:
        tally = self._tally(item.get("site"))
        reason = str(exception or "").split(":", 1)[0].strip() or "unspecified"
        tally.dropped[reason] += 1
        self._count_fields(tally, item)

    def spider_closed(self, spider: Any = None, reason: str = "finished") -> None:
        if self._progress_loop is not None and self._progress_loop.running:
            self._progress_loop.stop()
        # CPU seconds of the crawl's own process (its extraction workers not included): what sizes a machine
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.stats.set_value("gongkai/progress/cpu_seconds", round(usage.ru_utime + usage.ru_stime, 3))
        # ... and of its reactor's thread alone (this one), which bounds the pages per second a crawl can reach
        self.stats.set_value("gongkai/progress/crawl_thread_cpu_seconds", round(time.thread_time(), 3))
        # ... and how long it was ready to run but waited for a core (Linux): other work on its cores, its own
        # helpers included (GONGKAI_HELPER_NICE)
        waited = thread_wait_seconds()
        if waited is not None:
            self.stats.set_value("gongkai/progress/crawl_thread_wait_seconds", round(waited, 3))
        self.close(reason)

    # -- close ---------------------------------------------------------------------------------------------

    def _alert(self, reason: str, message: str) -> None:
        self.alerts.append((reason, message))
        self.stats.inc_value(f"gongkai/alert/{reason}")
        logger.error("ALERT %s: %s", reason, message)

    def _stat(self, key: str, default: int = 0) -> int:
        return int(self.stats.get_value(key, default) or 0)

    def close(self, reason: str) -> list[tuple[str, str]]:
        """Set per-site stats, write history, raise alerts, log the summary; returns the alerts."""
        if not self.sites and self.default_site:
            self.sites[self.default_site] = SiteTally()
        judged = reason != "shutdown"  # an operator's stop is a pause, not a verdict on the site
        if not reason_ok(reason) and reason not in CONFIG_CLOSE_REASONS:  # those exit 2 (scrapy_commands/crawl.py)
            self._alert("close_reason", f"spider closed with reason {reason!r}")
        for key, alert, message in COUNT_ALERTS:
            count = self._stat(key)
            if count:
                self._alert(alert, message.format(n=count))
        unmatched = override_never_matched(self.stats)
        if unmatched:
            self._alert("override_unmatched", "site selector(s) that matched on no page of this run: "
                        + ", ".join(f"{key} (tried on {n} page(s))" for key, n in unmatched.items()))
        self._judge_failed_share()
        listings_failed = self._listings_failed()
        if listings_failed:
            self._alert("listing_failed", f"{listings_failed} listing page(s) could not be fetched; the articles "
                        "they list were not seen (the next run walks every listing page)")
        seen_elsewhere = self._stat("gongkai/incremental/skipped_known") + self._stat("gongkai/incremental/skipped_old")
        for site, tally in sorted(self.sites.items()):
            coverage = tally.coverage()
            prefix = f"gongkai/site/{site}"
            self.stats.set_value(f"{prefix}/pages", sum(tally.pages.values()))
            for kind, n in tally.pages.items():
                self.stats.set_value(f"{prefix}/pages/{kind}", n)
            self.stats.set_value(f"{prefix}/items", tally.items)
            self.stats.set_value(f"{prefix}/quarantined", tally.quarantined)
            for why, n in tally.dropped.items():
                self.stats.set_value(f"{prefix}/dropped/{why}", n)
            if tally.items:
                for name, value in coverage.items():
                    self.stats.set_value(f"{prefix}/coverage/{name}", round(value, 3))
        record = self._judge_history(reason)
        listings = sum(t.pages.get("listing", 0) for t in self.sites.values())
        if judged and reason_ok(reason):
            nothing = not seen_elsewhere and not any(t.items for t in self.sites.values())
            if self.distributed and (not listings or nothing):
                logger.info("this worker fetched %d listing page(s) and extracted no article; in a distributed "
                            "crawl the other workers may have taken them: no alert", listings)
            elif not listings:
                self._alert("no_pages", "no listing page was fetched (site down, robots.txt or blocked?)")
            elif nothing:
                self._alert("no_items", f"{listings} listing page(s) fetched but no article was extracted "
                            "or already known")
        self.stats.set_value("gongkai/alert", len(self.alerts))
        # (reason, message) of each alert, for the alert messages (extensions/notify.py)
        self.stats.set_value("gongkai/alert_messages", [list(a) for a in self.alerts])
        if self.site_history is not None:
            self.site_history.finish(reason, record, self.run_summary(reason))
        logger.info("%s", self.summary(reason))
        if self.stats_file:
            self._write_stats()
        return self.alerts

    def _listings_failed(self) -> int:
        return sum(int(self.stats.get_value(k) or 0) for k in _stats_keys(self.stats)
                   if k.startswith("gongkai/fetch/failed/listing/"))

    def _judge_failed_share(self) -> None:
        """The ``failed_articles`` alert: the share of this run's article fetches that ended in the pending ledger."""
        failed = self._stat("gongkai/pending/failed")
        fetches = self._stat("gongkai/detail/pages") + sum(
            int(self.stats.get_value(k) or 0) for k in _stats_keys(self.stats)
            if k.startswith("gongkai/fetch/failed/detail/"))
        fetches = max(fetches, failed)
        if failed and failed > self.failed_share * fetches:
            self._alert("failed_articles", f"{failed} of {fetches} article fetch(es) failed ({_pct(failed / fetches)} "
                        f"> {_pct(self.failed_share)}); they are pending and retried by the next runs")

    def _write_stats(self) -> None:
        path = Path(self.stats_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers may share a folder
            tmp.write_text(json.dumps(dict(self.stats.get_stats()), default=str, ensure_ascii=False, indent=1,
                                      sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("could not write stats file %s: %s", path, exc)

    def run_summary(self, reason: str) -> dict[str, Any]:
        """The run's figures kept in the site's history (``last_run`` and ``log``) for ``gongkai sites`` and
        ``gongkai report``: exit status, store outcomes, failures, pending, alerts, field coverage."""
        values = _all_stats(self.stats)
        site = self.site_history.site if self.site_history is not None else self.default_site
        tally = self.sites.get(site) if site else None
        failed = values.get("gongkai/pending/failed")
        if failed is None:
            failed = sum(v for k, v in values.items() if k.startswith("gongkai/fetch/failed/detail/"))
        store = {outcome: int(values.get(f"gongkai/store/{outcome}", 0) or 0)
                 for outcome in ("new", "updated", "unchanged", "quarantined")}
        return {
            "exit_status": EXIT_CONFIG if reason in CONFIG_CLOSE_REASONS else EXIT_ALERT if self.alerts else EXIT_OK,
            **store, "items": tally.items if tally else 0, "failed": int(failed or 0),
            "pending": int(values.get("gongkai/pending/open", 0) or 0),
            # listing pages not fetched: the next run must not trust this one's stop-after-known (history.py)
            "listings_failed": self._listings_failed(),
            "pages": sum(tally.pages.values()) if tally else 0,
            "alerts": [{"reason": r, "message": m} for r, m in self.alerts],
            "coverage": {k: round(v, 4) for k, v in tally.coverage().items()} if tally and tally.items else {},
        }

    def _judge_history(self, reason: str) -> dict | None:
        """Coverage of the run's site against its earlier runs; the run's coverage record for the history."""
        history = self.site_history
        if history is None:
            return None
        tally = self.sites.get(history.site)
        coverage = tally.coverage() if tally and tally.items else None
        if coverage is not None:
            for name, value, median in coverage_drops(
                coverage, tally.items, history.runs, min_items=self.min_items, min_runs=self.min_runs,
                drop_ratio=self.drop_ratio, min_baseline=self.min_baseline,
            ):
                self._alert("coverage_drop", f"site {history.site}: {name} coverage {_pct(value)} over {tally.items} "
                            f"items, previous runs' median {_pct(median)} (template change?)")
        # A paused or failed run is no coverage baseline; its end is recorded all the same.
        record = None
        if self.distributed and tally is not None and tally.items < self.min_items:
            coverage = None  # a worker's small share: no baseline (module docstring)
        if coverage is not None and reason != "shutdown" and reason_ok(reason):
            record = {"reason": reason, "items": tally.items, "pages": sum(tally.pages.values()),
                      "coverage": {k: round(v, 4) for k, v in coverage.items()}}
        return record

    def summary(self, reason: str) -> str:
        """The human-readable block logged at close."""
        lines = [f"gongkai run summary (finish reason: {reason})"]
        for site, tally in sorted(self.sites.items()):
            prefix = f"gongkai/site/{site}"
            pages = ", ".join(f"{k} {n}" for k, n in sorted(tally.pages.items()))
            store = " · ".join(f"{o} {self._stat(f'{prefix}/store/{o}')}" for o in STORE_OUTCOMES)
            dropped = " · ".join(f"{r} {n}" for r, n in sorted(tally.dropped.items())) or "none"
            lines += [
                f"site {site}",
                f"  pages fetched  {sum(tally.pages.values()):>6}  ({pages or 'none'})",
                f"  items          {tally.items:>6}  (quarantined as spam {tally.quarantined})",
                f"  stored                 {store}",
                f"  dropped        {sum(tally.dropped.values()):>6}  ({dropped})",
            ]
            if tally.items:
                cov = tally.coverage()
                lines.append("  coverage       " + " · ".join(f"{f} {_pct(cov[f])}" for f in COVERAGE_FIELDS))
        inc = "gongkai/incremental"
        lines.append(f"skipped        known {self._stat(f'{inc}/skipped_known')} · older than since "
                     f"{self._stat(f'{inc}/skipped_old')} · columns caught up {self._stat(f'{inc}/stopped_columns')}")
        outage = {k: self._stat(f"gongkai/store/{k}") for k in ("spooled", "replayed", "errors", "lost")}
        if any(outage.values()):
            lines.append("store outage   " + " · ".join(f"{k} {n}" for k, n in outage.items()))
        blocked = " · ".join(f"{k} {self._stat(f'gongkai/blocked/{k}')}" for k in ("412", "521", "waf", "gave_up"))
        lines.append(f"blocked        {blocked}")
        drop_keys = sorted(k for k in _stats_keys(self.stats) if k.startswith(
            ("gongkai/validate/dropped/", "item_dropped_reasons_count/", "gongkai/extract/skipped/")))
        if drop_keys:
            lines.append("drops/skips    " + " · ".join(f"{k} {self.stats.get_value(k)}" for k in drop_keys))
        lines.append("alerts         " + ("; ".join(f"{r}: {m}" for r, m in self.alerts) if self.alerts else "none"))
        return "\n".join(lines)


def _stats_keys(stats: Any) -> list[str]:
    getter = getattr(stats, "get_stats", None)
    return list(getter()) if callable(getter) else []
