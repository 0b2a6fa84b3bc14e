"""``scrapy crawl`` with an exit status a scheduler (cron, systemd, CI) can act on.

Scrapy's own ``crawl`` exits 1 only when the crawl could not start (``CrawlerProcess.bootstrap_failed``); a site
that silently broke still exits 0. Scrapy looks up commands in the project's ``COMMANDS_MODULE`` after its own, and a
module named ``crawl`` there replaces the built-in command (``scrapy/cmdline.py: _get_commands_dict``). This one
runs the crawl exactly as Scrapy does and then decides (codes in ``gongkai_spider/errors.py``):

* 0 — the run finished and raised no alert: every article its listings showed is stored, or pending with fewer
  than ``GONGKAI_FAILED_SHARE_ALERT`` of the fetches failed and nothing given up (README "Guarantees");
* 2 — a usage or configuration error: a ``ConfigError`` raised while the crawler, the spider or a component was
  built or opened (bad ``-a`` value, unusable store, JOBDIR held by a live crawl), or a close reason in
  ``CONFIG_CLOSE_REASONS`` (``site_config_missing``, ``site_config_invalid``, ...). One line on stderr
  (``scrapy crawl: <message>``), no traceback;
* 3 — the run monitor raised an alert (``gongkai/alert`` > 0: failed or given-up articles, a listing page without
  links, a field-coverage drop, pages abandoned after anti-bot challenges, the listing page cap ...);
* 1 — anything unexpected (an exception at start-up that is no configuration error, with its traceback).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from gongkai_spider.errors import CONFIG_CLOSE_REASONS, EXIT_ALERT, EXIT_CONFIG, EXIT_UNEXPECTED, ConfigError

if TYPE_CHECKING:
    import argparse

logger = logging.getLogger(__name__)

EXIT_BOOTSTRAP_FAILED = EXIT_UNEXPECTED


def _config_error(exc: BaseException | None) -> ConfigError | None:
    """The ConfigError behind ``exc`` (itself, or a cause/context a wrapper kept), else None."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConfigError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider; exit 3 on an alert (gongkai/alert), 2 on a configuration error"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        errors: list[BaseException] = []
        self._watch(self.crawler_process.crawl(crawler, **opts.spargs), errors)
        self.crawler_process.start()
        config = next((e for e in map(_config_error, errors) if e is not None), None)
        if config is not None:
            self._config_exit(str(config) or config.reason)
            return
        reason = str(crawler.stats.get_value("finish_reason", "") or "") if crawler.stats else ""
        if reason in CONFIG_CLOSE_REASONS:
            problem = getattr(getattr(crawler, "spider", None), "site_problem", None)
            self._config_exit(problem[1] if problem and problem[0] == reason else f"the crawl closed with reason {reason}")
            return
        if self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_BOOTSTRAP_FAILED
            return
        alerts = int(crawler.stats.get_value("gongkai/alert", 0) or 0) if crawler.stats else 0
        if alerts:
            reasons = sorted(k.rsplit("/", 1)[1] for k in crawler.stats.get_stats() if k.startswith("gongkai/alert/"))
            logger.error("exiting with status %d: %d alert(s) (%s)", EXIT_ALERT, alerts, ", ".join(reasons))
            self.exitcode = EXIT_ALERT

    def _config_exit(self, message: str) -> None:
        print(f"scrapy crawl: {message}", file=sys.stderr, flush=True)
        self.exitcode = EXIT_CONFIG

    @staticmethod
    def _watch(running: Any, errors: list[BaseException]) -> None:
        """Collect the exception that ends the crawl; a ConfigError is taken out of the way so that neither asyncio
        ("Task exception was never retrieved") nor Twisted ("Unhandled error in Deferred") prints its traceback."""
        if isinstance(running, asyncio.Future):
            def done(task: asyncio.Future) -> None:
                if not task.cancelled() and task.exception() is not None:  # exception() marks it retrieved
                    exc = task.exception()
                    errors.append(exc)
                    if _config_error(exc) is None:  # unexpected: keep the traceback
                        logger.error("the crawl failed", exc_info=exc)
            running.add_done_callback(done)
            return
        if hasattr(running, "addErrback"):  # a Twisted Deferred (CrawlerProcess with the Twisted reactor)
            def failed(failure: Any) -> Any:
                errors.append(failure.value)
                return None if _config_error(failure.value) is not None else failure
            running.addErrback(failed)
