"""Small pieces every pipeline shares (the stats interface is in ``gongkai_spider.stats``)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any


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


def attachment_text(item: Mapping[str, Any]) -> str:
    """The text of the item's attachments (``attachments[].text``, set by pipelines/attachments.py), joined."""
    attachments = item.get("attachments")
    if not isinstance(attachments, list):
        return ""
    return "\n".join(a["text"] for a in attachments if isinstance(a, Mapping) and isinstance(a.get("text"), str))


def attachment_sha1s(item: Mapping[str, Any]) -> list[str]:
    """The sha1s of the item's stored attachment files, sorted (the order of links on the page is no change)."""
    attachments = item.get("attachments")
    if not isinstance(attachments, list):
        return []
    return sorted({a["sha1"] for a in attachments if isinstance(a, Mapping) and isinstance(a.get("sha1"), str)})
