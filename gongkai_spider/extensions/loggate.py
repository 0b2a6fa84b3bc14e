"""Scrapy's per-page DEBUG records, not made when no handler would print them.

Scrapy's logging setup sets the ``scrapy`` logger to DEBUG and lets its root handler drop what is below
``LOG_LEVEL``. Every response ("Crawled (200) ...") and every item ("Scraped from ...") therefore builds a
``LogRecord`` (a stack walk for the caller, a timestamp, the item's formatter call) only for the handler to
discard it: about 2% of the crawl thread's CPU at ``LOG_LEVEL=INFO`` (benchmarks/throughput.py).

``DebugGate`` (an extension, enabled in ``settings.EXTENSIONS``) raises the ``scrapy`` logger to the lowest
level of the root logger's handlers when the engine starts, and puts it back when the engine stops. Nothing
printed or counted changes: every handler there (Scrapy's own, ``log_count/*``'s) already refuses what the gate
refuses, and a handler that wants DEBUG (``LOG_LEVEL=DEBUG``, pytest's ``caplog``) keeps the gate open.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

GATED_LOGGER = "scrapy"


def lowest_handler_level(logger: logging.Logger = logging.root) -> int:
    """The lowest level any handler of ``logger`` emits (NOTSET when it has none: then nothing is gated)."""
    return min((handler.level for handler in logger.handlers), default=logging.NOTSET)


class DebugGate:
    """Extension: the ``scrapy`` logger at the level its handlers print from, while the engine runs."""

    def __init__(self) -> None:
        self.previous: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DebugGate:
        ext = cls()
        crawler.signals.connect(ext.engine_started, signal=signals.engine_started)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def engine_started(self) -> None:
        level = lowest_handler_level()
        gated = logging.getLogger(GATED_LOGGER)
        if level > gated.level:
            self.previous = gated.level
            gated.setLevel(level)

    def engine_stopped(self) -> None:
        if self.previous is not None:
            logging.getLogger(GATED_LOGGER).setLevel(self.previous)
            self.previous = None
