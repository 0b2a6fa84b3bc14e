"""Distributed crawling: many ``scrapy crawl gongkai`` workers sharing one frontier in Redis.

``settings.SCHEDULER`` points at :class:`Scheduler` below. Without ``REDIS_URL`` it *is* Scrapy's own
scheduler (memory/disk queues, local duplicate filter), so single-process crawls are untouched. With
``REDIS_URL`` set (setting, ``-s REDIS_URL=...`` or environment) it builds
:class:`gongkai_spider.distributed.redis_scheduler.RedisScheduler` instead: the request queue and the
duplicate filter live in Redis (scrapy-redis 0.9.1 underneath) and any number of workers share them.

scrapy-redis is an optional dependency (``pip install 'gongkai-spider[redis]'``); it is only imported when
``REDIS_URL`` is set. Operating a cluster of workers is described in docs/SCALING.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.core.scheduler import Scheduler as ScrapyScheduler

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["Scheduler", "redis_enabled"]


def redis_enabled(settings: Any) -> bool:
    """True when the settings ask for the shared Redis frontier (``REDIS_URL`` or ``REDIS_HOST`` set)."""
    return bool(settings.get("REDIS_URL") or settings.get("REDIS_HOST"))


class Scheduler(ScrapyScheduler):
    """``SCHEDULER`` switch: Scrapy's scheduler, or the shared Redis scheduler when ``REDIS_URL`` is set.

    The choice is made per crawl in ``from_crawler`` rather than in settings.py at import time, so that
    ``scrapy crawl gongkai -s REDIS_URL=redis://...`` distributes a crawl just like the environment variable.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        if not redis_enabled(crawler.settings):
            return super().from_crawler(crawler)
        try:
            from gongkai_spider.distributed.redis_scheduler import RedisScheduler
        except ImportError as exc:  # the [redis] extra is not installed
            raise ImportError(
                "REDIS_URL is set but scrapy-redis is not installed: pip install 'gongkai-spider[redis]'"
            ) from exc
        return RedisScheduler.from_crawler(crawler)
