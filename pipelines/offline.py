"""The pipeline chain without a crawl or a store: what ``gongkai extract`` prints.

``process_offline(raw_item)`` runs clean -> validate -> spam -> dedup (hashes only: no stored fingerprints, so
``near_duplicate_of`` is None) by building the same pipeline classes the crawl uses, each with a
``CounterStats``, and returns the document as the store would receive it (``items.storable``: working
``_page_*`` fields removed). The spam stage is ``pipelines.spam.SpamPipeline`` when that module exists.

A validation drop is returned, not raised, so a command can always print one JSON object:
``{"dropped": "<reason>", "message": "<reason>: <url>", "url": ..., "document": {...cleaned...}}``
(reasons: pipelines.validate.REASONS). Test with ``"dropped" in result``. ``jsonable(result)`` turns the
datetimes into ISO 8601 strings with their +08:00 offset for ``json.dumps``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gongkai_spider.items import storable
from gongkai_spider.stats import CounterStats, Stats
from pipelines.clean import CleanPipeline
from pipelines.dedup import DedupPipeline
from pipelines.spam import SpamLists, SpamPipeline
from pipelines.validate import ValidatePipeline, drop_message


def _run(pipeline: Any, item: Any) -> Any:
    result = pipeline.process_item(item)
    if inspect.isawaitable(result):  # a pipeline written as `async def process_item`
        import asyncio

        async def wait() -> Any:
            return await result

        result = asyncio.run(wait())
    return result


def _spam_pipeline(stats: Stats, threshold: float | None, lists_dir: str | None) -> SpamPipeline:
    """The crawl's SpamPipeline, with the same keyword lists the crawl would use."""
    kwargs: dict[str, Any] = {"stats": stats, "lists": SpamLists.load(lists_dir) if lists_dir else None}
    if threshold is not None:
        kwargs["threshold"] = threshold
    pipeline = SpamPipeline(**kwargs)
    pipeline.open_spider()
    return pipeline


def process_offline(raw_item: Mapping[str, Any], settings: Any = None, *,
                    spam_threshold: float | None = None, stats: Stats | None = None) -> dict[str, Any]:
    """The cleaned, checked, spam-scored, fingerprinted document for one raw item (see module docstring).

    ``settings``: anything with ``.get`` (a dict, Scrapy Settings); read for GONGKAI_SPAM_THRESHOLD,
    GONGKAI_SPAM_LISTS_DIR and GONGKAI_MIN_BODY_CHARS. ``spam_threshold`` overrides the setting; with neither, the spam pipeline's default
    applies. ``stats``: pass a CounterStats to see the counters of the run. ``raw_item`` is not modified.
    """
    stats = stats if stats is not None else CounterStats()
    get = settings.get if settings is not None else (lambda _key, default=None: default)
    if spam_threshold is None and get("GONGKAI_SPAM_THRESHOLD") not in (None, ""):
        spam_threshold = float(get("GONGKAI_SPAM_THRESHOLD"))
    min_body_chars = int(get("GONGKAI_MIN_BODY_CHARS", 0) or 0)

    item = _run(CleanPipeline(stats), dict(raw_item))
    reason = ValidatePipeline(stats, min_body_chars=min_body_chars).check(item)
    if reason is not None:  # the crawl's DropItem, returned instead of raised (no Scrapy import needed)
        return {"dropped": reason, "message": drop_message(reason, item), "url": item.get("url"),
                "document": storable(item)}
    item = _run(_spam_pipeline(stats, spam_threshold, get("GONGKAI_SPAM_LISTS_DIR") or None), item)
    item = _run(DedupPipeline(stats, near_duplicates=False), item)  # one document: nothing to compare it with
    return storable(dict(item))


def jsonable(value: Any) -> Any:
    """``value`` with datetimes/dates as ISO 8601 strings (+08:00 kept), tuples and sets as lists."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value
