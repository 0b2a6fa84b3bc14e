"""The article item: the document schema of docs/SCHEMA.md, in code, in output order.

The spider fills the extracted fields with raw strings; the pipelines turn them into the typed document
(clean -> validate -> spam -> dedup) and the store adds the crawl-time fields. Keys starting with ``_page``
are working data for the pipelines (e.g. page signals for the spam scorer) and are never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import scrapy

# Fields of the stored document, in the order analysts see them.
DOCUMENT_FIELDS: tuple[str, ...] = (
    "_id",
    "url",
    "site",
    "list_url",
    "title",
    "publish_time",
    "read_count",
    "author",
    "source",
    "summary",
    "keywords",
    "body",
    "attachments",
    "doc_meta",
    "spam",
    "near_duplicate_of",
    "content_hash",
    "simhash",
    "simhash2",
    "first_seen",
    "last_seen",
    "updated_at",
    "version",
    "raw",
)

# Fields the store stamps; never set by extraction or the pipelines before the store.
STORE_FIELDS: tuple[str, ...] = ("first_seen", "last_seen", "updated_at", "version")

# Working fields: filled by the spider for the pipelines, dropped before storing.
WORKING_FIELDS: tuple[str, ...] = (
    "_page_signals",  # dict from gongkai_spider.extract.signals: markup facts the spam scorer reads
    "_page_host",  # host of the final response URL
    "_page_site_hosts",  # the crawled site's hosts (allowed_domains + start URL hosts): not foreign to the scorer
    "_page_requested_url",  # the article link as the listing gave it (before redirects): its pending-ledger key
    "_page_raw",  # dict of extra strings for the document's raw: <meta> values the page overruled, the listing date
    "_page_file",  # {url, body, content_type} of a file served at a detail URL: the attachments pipeline keeps it
    # (content_hash, simhash, simhash2) of the page's own title and body, signed, computed in the extraction
    # worker: the dedup stage takes the two simhashes when its content_hash comes out the same (pipelines/dedup.py)
    "_page_fingerprint",
    # the worker's lookup of the page among the stored articles (pipelines.dedup.WorkerLookups.page), with it
    "_page_stored_near",
)


def _article_item_class() -> type[scrapy.Item]:
    import scrapy

    class ArticleItem(scrapy.Item):
        """One article page; see DOCUMENT_FIELDS for the stored keys."""

        locals().update({name: scrapy.Field() for name in DOCUMENT_FIELDS + WORKING_FIELDS})

    ArticleItem.__module__ = __name__
    return ArticleItem


def __getattr__(name: str) -> Any:
    # ArticleItem is built on first use: the field lists and storable() serve `gongkai extract`, the
    # exporters and the stores, none of which should import Scrapy (and Twisted) to get them.
    if name == "ArticleItem":
        cls = globals()["ArticleItem"] = _article_item_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def storable(doc: dict) -> dict:
    """The document without working fields, in schema order (extra keys kept at the end)."""
    out = {k: doc[k] for k in DOCUMENT_FIELDS if k in doc}
    out.update({k: v for k, v in doc.items() if k not in out and not k.startswith("_page")})
    return out
