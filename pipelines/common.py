"""Small pieces every pipeline shares."""

from __future__ import annotations

from collections import Counter
from collections.abc import MutableMapping
from typing import Any, Protocol


class Stats(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...
    def get_value(self, key: str, default: Any = None) -> Any: ...
    def set_value(self, key: str, value: Any) -> None: ...


class CounterStats:
    """A stats collector for pipelines run outside a crawl (``gongkai extract``, tests built by hand)."""

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


def fields(item: Any) -> MutableMapping[str, Any]:
    """``item`` as a mutable mapping: the item itself when it is a dict or a scrapy ``Item``, else an ItemAdapter.

    Both already have ItemAdapter's get / ``[]`` / ``[]=`` semantics (an Item refuses undeclared fields the same
    way); building an ItemAdapter probes every adapter class (attrs, dataclass, pydantic ...) each time, which
    the pipelines paid several times per item.
    """
    if isinstance(item, dict):
        return item
    # Imported here: `gongkai extract` handles plain dicts and must not pay for Scrapy's import chain.
    from itemadapter import ItemAdapter
    from scrapy import Item

    return item if isinstance(item, Item) else ItemAdapter(item)


def as_dict(item: Any) -> dict[str, Any]:
    """A shallow dict of the item's fields (a dict is returned as it is: callers only read it).

    Not ``ItemAdapter.asdict()``: that one deep-copies every nested value, probing each for an item type
    (0.1 ms per article), and nested values here are plain dicts and lists.
    """
    if isinstance(item, dict):
        return item
    from itemadapter import ItemAdapter
    from scrapy import Item

    if isinstance(item, Item):
        return dict(item)
    return dict(ItemAdapter(item).items())
