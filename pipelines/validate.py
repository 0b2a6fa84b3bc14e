"""Validate pipeline: drop items that are not articles worth storing, each drop counted with its reason.

Reasons (stats ``gongkai/validate/dropped/<reason>``; Scrapy logs the DropItem message ``<reason>: <url>``):
- ``no_url``: no URL (the document key is derived from it).
- ``no_title``: no headline after cleaning.
- ``no_body``: no body text and no attachments. A page whose content is only attachments (a PDF-only
  notice, common in 信息公开) is kept and counted under ``gongkai/validate/attachment_only``.
- ``body_too_short``: fewer than ``min_body_chars`` non-space characters and no attachments. Off by default
  (``GONGKAI_MIN_BODY_CHARS`` = 0): a two-line 任免 notice is a real document.

``validation_error(item)`` is the pure check (used by ``pipelines.offline``); it reads cleaned or raw items.
Kept items are counted under ``gongkai/validate/passed``.
"""

from __future__ import annotations

from typing import Any

from gongkai_spider.stats import CounterStats, Stats
from pipelines.common import fields

REASONS: tuple[str, ...] = ("no_url", "no_title", "no_body", "body_too_short")


def _text(value: Any) -> str:
    return "".join(str(value).split()) if value else ""


def validation_error(item: Any, *, min_body_chars: int = 0) -> str | None:
    """The reason to drop ``item`` (one of REASONS), or None when it is a storable article."""
    adapter = fields(item)
    if not _text(adapter.get("url")):
        return "no_url"
    if not _text(adapter.get("title")):
        return "no_title"
    body = _text(adapter.get("body"))
    if adapter.get("attachments"):
        return None
    if not body:
        return "no_body"
    if min_body_chars and len(body) < min_body_chars:
        return "body_too_short"
    return None


def drop_message(reason: str, item: Any) -> str:
    adapter = fields(item)
    return f"{reason}: {adapter.get('url') or adapter.get('list_url') or '?'}"


class ValidatePipeline:
    """Drops (DropItem, counted, logged at INFO) items validation_error rejects."""

    def __init__(self, stats: Stats | None = None, min_body_chars: int = 0) -> None:
        self.stats = stats if stats is not None else CounterStats()
        self.min_body_chars = min_body_chars

    @classmethod
    def from_crawler(cls, crawler: Any) -> ValidatePipeline:
        return cls(crawler.stats, crawler.settings.getint("GONGKAI_MIN_BODY_CHARS", 0))

    def check(self, item: Any) -> str | None:
        """Count the verdict on ``item``; return the drop reason, or None when it passes (no Scrapy needed)."""
        reason = validation_error(item, min_body_chars=self.min_body_chars)
        if reason is not None:
            self.stats.inc_value(f"gongkai/validate/dropped/{reason}")
            return reason
        if not _text(fields(item).get("body")):
            self.stats.inc_value("gongkai/validate/attachment_only")
        self.stats.inc_value("gongkai/validate/passed")
        return None

    def process_item(self, item: Any) -> Any:
        reason = self.check(item)
        if reason is not None:
            from scrapy.exceptions import DropItem  # the crawl has Scrapy loaded already

            raise DropItem(drop_message(reason, item), log_level="INFO")
        return item
