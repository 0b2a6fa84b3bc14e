"""Clean pipeline: the raw strings of extraction -> the typed document (design.md, "The article document").

``clean_item(item) -> dict`` does all the work and is pure; ``CleanPipeline`` runs it on each item, writes the
result back into the item it got (so an ArticleItem stays an ArticleItem, a dict stays a dict) and counts.

Field by field:
- ``raw``: the extracted title, publish_time, author, source, keywords and read_count, untouched, for audits,
  plus the item's ``_page_raw`` strings (``meta_publish_time`` / ``meta_source``: the ``<meta>`` values the
  visible page overruled; ``list_date``: the listing entry's date); an item that already has ``raw`` keeps
  it, so cleaning twice changes nothing.
- ``url``: canonical (normalize.canonical_url); ``_id`` = sha1 hex of it; ``site``: as given, else the host.
- ``title``, ``author``, ``source``, ``summary``: whitespace collapsed (NBSP, full-width), leading labels
  (``来源：``, ``作者:``, ``[来源]``...) stripped; None when nothing is left. Chinese punctuation is untouched.
- ``publish_time``: tz-aware Asia/Shanghai datetime, None when unparseable; when the page gave none, the
  listing entry's date (``raw.list_date``, only with a year: a yearless ``05-24`` is not guessed).
- ``read_count``: int or None (``1,234``, ``86次``, ``1.2万``); never defaulted to 0.
- ``keywords``: list split on ``,，、;；`` and whitespace, deduplicated, order kept.
- ``body``: one paragraph per line, lines collapsed, empty lines dropped.
- ``attachments``: ``[{name, url}]`` without duplicate URLs (compared canonically); a missing name becomes
  the file name of the URL.
- ``doc_meta``: values collapsed, empty values dropped, ``written_date`` and ``published_date`` as
  ``YYYY-MM-DD`` when parseable; ``other`` (label -> value) cleaned the same way.
- ``_page_*`` working fields and any other keys pass through untouched.

Stats: ``gongkai/clean/items``, ``gongkai/clean/no_publish_time`` (none extracted, none listed),
``gongkai/clean/publish_time_from_listing`` (the page showed no date; the listing's was used),
``gongkai/clean/bad_publish_time`` (extracted but not a date: an extraction problem worth a look).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from gongkai_spider.items import DOCUMENT_FIELDS
from gongkai_spider.normalize import (
    AUTHOR_LABELS,
    KEYWORD_LABELS,
    SOURCE_LABELS,
    SUMMARY_LABELS,
    TITLE_LABELS,
    canonical_url,
    clean_lines,
    clean_text,
    doc_id,
    normalize_date_string,
    parse_datetime,
    parse_read_count,
    split_keywords,
    strip_label,
)
from gongkai_spider.stats import CounterStats, Stats
from pipelines.common import as_dict, fields

logger = logging.getLogger(__name__)

# The extracted strings kept in ``raw`` (design.md).
RAW_FIELDS: tuple[str, ...] = ("title", "publish_time", "author", "source", "keywords", "read_count")


def _labelled(value: Any, labels: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    return strip_label(str(value), labels) or None


def _keywords(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return split_keywords(strip_label(value, KEYWORD_LABELS))
    return split_keywords([strip_label(str(v), KEYWORD_LABELS) for v in value if v])


def _file_name(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path.rsplit("/", 1)[-1]) or url


def clean_attachments(value: Any) -> list[dict[str, str]]:
    """``[{name, url}]`` in page order, one per URL (compared canonically), names collapsed."""
    out: list[dict[str, str]] = []
    position: dict[str, int] = {}
    for entry in value or ():
        if isinstance(entry, str):
            name, url = None, entry
        elif isinstance(entry, Mapping):
            name, url = entry.get("name"), entry.get("url")
        else:
            continue
        url = clean_text(url) if url else None
        if not url:
            continue
        key = canonical_url(url)
        name = clean_text(name)
        if key in position:
            earlier = out[position[key]]
            if name and earlier["name"] == _file_name(earlier["url"]):  # a later link carries the real name
                earlier["name"] = name
            continue
        position[key] = len(out)
        out.append({"name": name or _file_name(url), "url": url})
    return out


def clean_doc_meta(value: Any) -> dict[str, str]:
    """The 信息公开 table: values collapsed, empty ones dropped, written_date as YYYY-MM-DD when it parses."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if isinstance(raw, Mapping):  # doc_meta.other: label -> value
            nested = clean_doc_meta(raw)
            if nested:
                out[str(key)] = nested
            continue
        text = clean_text(" ".join(map(str, raw)) if isinstance(raw, (list, tuple)) else raw)
        if text is None:
            continue
        if key in ("written_date", "published_date"):
            text = normalize_date_string(text) or text
        out[str(key)] = text
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _host(url: str | None) -> str | None:
    if not url:
        return None
    return urlsplit(url).hostname or None


def clean_item(item: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The typed document for one raw item (an ArticleItem or a dict); see the module docstring.

    Pure: the input is not modified. Keys come out in schema order (items.DOCUMENT_FIELDS), then the others.
    """
    src = as_dict(item)
    raw = src.get("raw")
    if not isinstance(raw, Mapping):
        raw = {key: src.get(key) for key in RAW_FIELDS}
        extra = src.get("_page_raw")
        if isinstance(extra, Mapping):
            raw.update((key, value) for key, value in extra.items() if key not in raw)
    publish_time = parse_datetime(src.get("publish_time"))
    if publish_time is None and _blank(src.get("publish_time")):
        publish_time = parse_datetime(raw.get("list_date"))  # the page shows no date: the listing's

    url_value = src.get("url")
    url = canonical_url(str(url_value)) if url_value else ""
    cleaned: dict[str, Any] = {
        "_id": doc_id(url) if url else None,
        "url": url or None,
        "site": clean_text(src.get("site")) or _host(url),
        "list_url": clean_text(src.get("list_url")),
        "title": _labelled(src.get("title"), TITLE_LABELS),
        "publish_time": publish_time,
        "read_count": parse_read_count(src.get("read_count")),
        "author": _labelled(src.get("author"), AUTHOR_LABELS),
        "source": _labelled(src.get("source"), SOURCE_LABELS),
        "summary": _labelled(src.get("summary"), SUMMARY_LABELS),
        "keywords": _keywords(src.get("keywords")),
        "body": clean_lines(src.get("body")),
        "attachments": clean_attachments(src.get("attachments")),
        "doc_meta": clean_doc_meta(src.get("doc_meta")),
        "raw": dict(raw),
    }
    out = {key: cleaned[key] if key in cleaned else src[key] for key in DOCUMENT_FIELDS
           if key in cleaned or key in src}
    out.update((key, value) for key, value in src.items() if key not in out)
    return out


class CleanPipeline:
    """Runs clean_item on every item; never drops (validate.py does)."""

    def __init__(self, stats: Stats | None = None) -> None:
        self.stats = stats if stats is not None else CounterStats()

    @classmethod
    def from_crawler(cls, crawler: Any) -> CleanPipeline:
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        cleaned = clean_item(item)
        self.stats.inc_value("gongkai/clean/items")
        raw_time = cleaned["raw"].get("publish_time")
        if cleaned["publish_time"] is not None and _blank(raw_time) and cleaned["raw"].get("list_date"):
            self.stats.inc_value("gongkai/clean/publish_time_from_listing")
        if cleaned["publish_time"] is None:
            if _blank(raw_time):
                self.stats.inc_value("gongkai/clean/no_publish_time")
            else:
                self.stats.inc_value("gongkai/clean/bad_publish_time")
                logger.debug("unparseable publish_time %r: %s", raw_time, cleaned["url"])
        if isinstance(item, dict):
            return cleaned
        adapter = fields(item)
        try:
            for key, value in cleaned.items():
                adapter[key] = value
        except KeyError:  # an item class without one of the schema fields: hand on a dict instead
            return cleaned
        return item
