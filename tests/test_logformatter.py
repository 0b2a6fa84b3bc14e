"""PageLogFormatter (extensions/logformatter.py): the per-page DEBUG lines only when a handler shows them."""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.http import HtmlResponse
from scrapy.logformatter import LogFormatter

from gongkai_spider import settings as project_settings
from gongkai_spider.extensions import logformatter
from gongkai_spider.extensions.logformatter import PageLogFormatter, shows_debug

REQUEST = Request("http://gov.example/a.html", headers={"Referer": "http://gov.example/list.html"})
RESPONSE = HtmlResponse(REQUEST.url, body=b"<html></html>", request=REQUEST)
SPIDER = Spider("gongkai")
ITEM = {"url": REQUEST.url, "title": "通知"}


def test_the_project_uses_it():
    assert project_settings.LOG_FORMATTER == "gongkai_spider.extensions.logformatter.PageLogFormatter"


def test_shows_debug_follows_levels_and_handlers():
    logger = logging.getLogger("gongkai.test.page_log")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        handler.setLevel(logging.INFO)
        assert not shows_debug(logger)
        handler.setLevel(logging.DEBUG)
        assert shows_debug(logger)
        logger.setLevel(logging.INFO)
        assert not shows_debug(logger)
    finally:
        logger.removeHandler(handler)


def test_page_lines_only_when_shown(monkeypatch):
    formatter, scrapys = PageLogFormatter(), LogFormatter()
    monkeypatch.setattr(logformatter, "shows_debug", lambda logger: False)
    assert formatter.crawled(REQUEST, RESPONSE, SPIDER) is None
    assert formatter.scraped(ITEM, RESPONSE, SPIDER) is None
    assert "dropped" not in vars(PageLogFormatter) and "item_error" not in vars(PageLogFormatter)  # Scrapy's
    monkeypatch.setattr(logformatter, "shows_debug", lambda logger: True)
    assert formatter.crawled(REQUEST, RESPONSE, SPIDER) == scrapys.crawled(REQUEST, RESPONSE, SPIDER)
    assert formatter.scraped(ITEM, RESPONSE, SPIDER) == scrapys.scraped(ITEM, RESPONSE, SPIDER)
