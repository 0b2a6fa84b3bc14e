"""DebugGate (extensions/loggate.py): Scrapy's DEBUG records are not made when no root handler would print them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from scrapy.utils.test import get_crawler

from gongkai_spider import settings as project_settings
from gongkai_spider.extensions.loggate import GATED_LOGGER, DebugGate


class _Recorder(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def only_handlers(*handlers: logging.Handler) -> Iterator[None]:
    """The root logger with only ``handlers`` (not pytest's, added for each test phase), put back after."""
    saved, saved_level = logging.root.handlers[:], logging.getLogger(GATED_LOGGER).level
    logging.root.handlers = list(handlers)
    logging.getLogger(GATED_LOGGER).setLevel(logging.DEBUG)  # as Scrapy's logging set-up leaves it
    try:
        yield
    finally:
        logging.root.handlers = saved
        logging.getLogger(GATED_LOGGER).setLevel(saved_level)


def _made(logger_name: str) -> int:
    """How many records a DEBUG call on ``logger_name`` makes (LogRecord built, whatever handlers then do)."""
    made = 0
    factory = logging.getLogRecordFactory()

    def counting(*args, **kwargs):
        nonlocal made
        made += 1
        return factory(*args, **kwargs)

    logging.setLogRecordFactory(counting)
    try:
        logging.getLogger(logger_name).debug("Crawled (200) <GET http://a.example/> (referer: None)")
    finally:
        logging.setLogRecordFactory(factory)
    return made


def test_the_project_enables_it():
    assert "gongkai_spider.extensions.loggate.DebugGate" in project_settings.EXTENSIONS


def test_at_info_scrapy_debug_records_are_not_made_and_what_is_printed_is_the_same():
    printed = _Recorder(logging.INFO)
    with only_handlers(printed):
        _gated_crawl(printed)


def _gated_crawl(printed: _Recorder) -> None:
    ext = DebugGate.from_crawler(get_crawler())
    printed.records.clear()  # the crawler's own start-up lines
    assert _made("scrapy.core.engine") == 1  # without the gate: made, then dropped by the handler
    ext.engine_started()
    try:
        assert _made("scrapy.core.engine") == 0
        logging.getLogger("scrapy.core.engine").info("Spider opened")
        logging.getLogger("scrapy.core.scraper").warning("a warning")
        assert [r.getMessage() for r in printed.records] == ["Spider opened", "a warning"]
    finally:
        ext.engine_stopped()
    assert logging.getLogger(GATED_LOGGER).level == logging.DEBUG and _made("scrapy.core.engine") == 1
    ext.engine_stopped()  # a second stop changes nothing
    assert logging.getLogger(GATED_LOGGER).level == logging.DEBUG


@pytest.mark.parametrize("levels", [(logging.DEBUG,), (logging.INFO, logging.NOTSET), ()])
def test_a_handler_that_wants_debug_or_no_handler_keeps_the_gate_open(levels):
    recorders = [_Recorder(level) for level in levels]
    with only_handlers(*recorders):
        ext = DebugGate.from_crawler(get_crawler())
        ext.engine_started()
        try:
            assert _made("scrapy.core.engine") == 1
            if levels:
                assert any(r.records for r in recorders)
        finally:
            ext.engine_stopped()


def test_a_logger_level_set_higher_by_the_user_is_left_as_it_is():
    with only_handlers(_Recorder(logging.INFO)):
        logging.getLogger(GATED_LOGGER).setLevel(logging.ERROR)
        ext = DebugGate.from_crawler(get_crawler())
        ext.engine_started()
        ext.engine_stopped()
        assert logging.getLogger(GATED_LOGGER).level == logging.ERROR
