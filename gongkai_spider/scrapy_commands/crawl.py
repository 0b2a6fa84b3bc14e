"""``scrapy crawl`` with an exit status a scheduler (cron, systemd, CI) can act on.

Scrapy's own ``crawl`` exits 1 only when the crawl could not start (``CrawlerProcess.bootstrap_failed``); a site
that silently broke still exits 0. Scrapy looks up commands in the project's ``COMMANDS_MODULE`` after its own, and a
module named ``crawl`` there replaces the built-in command (``scrapy/cmdline.py: _get_commands_dict``). This one
runs the crawl exactly as Scrapy does and then reads the stats the run monitor set:

* 0 — the run finished and raised no alert;
* 1 — the crawl could not start (Scrapy's own rule: unknown spider, bad arguments, an exception at start-up);
* 3 — the run monitor raised an alert (``gongkai/alert`` > 0: a listing page without links, a field-coverage
  drop, pages abandoned after anti-bot challenges, an unexpected close reason such as ``site_config_missing``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

if TYPE_CHECKING:
    import argparse

logger = logging.getLogger(__name__)

EXIT_BOOTSTRAP_FAILED = 1
EXIT_ALERT = 3


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider; exit 3 when the run monitor raised an alert (gongkai/alert)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_BOOTSTRAP_FAILED
            return
        alerts = int(crawler.stats.get_value("gongkai/alert", 0) or 0) if crawler.stats else 0
        if alerts:
            reasons = sorted(k.rsplit("/", 1)[1] for k in crawler.stats.get_stats() if k.startswith("gongkai/alert/"))
            logger.error("exiting with status %d: %d alert(s) (%s)", EXIT_ALERT, alerts, ", ".join(reasons))
            self.exitcode = EXIT_ALERT
