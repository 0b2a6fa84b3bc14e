"""The stats interface every component of the crawl writes to, and a stand-in for use outside a crawl.

Pipelines, middlewares and extensions take a :class:`Stats` (Scrapy's ``crawler.stats`` in a crawl);
``gongkai extract`` and hand-built tests pass a :class:`CounterStats`. Keys are ``gongkai/<stage>/<outcome>``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol


class Stats(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...
    def get_value(self, key: str, default: Any = None) -> Any: ...
    def set_value(self, key: str, value: Any) -> None: ...


class CounterStats:
    """A stats collector for components run outside a crawl (``gongkai extract``, tests built by hand)."""

    def __init__(self) -> None:
        self._values: Counter[str] | dict[str, Any] = Counter()

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self._values[key] = self._values.get(key, start) + count

    def get_value(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._values[key] = value

    def get_stats(self) -> dict[str, Any]:
        return dict(self._values)
