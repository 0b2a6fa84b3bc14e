"""``gongkai attachments fetch [--site S] [--since D]``: download and read the attachments of stored articles.

For articles stored before attachments were downloaded (or whose downloads failed, or were too large then):
every stored article of ``articles`` with an attachment lacking a stored file goes through the same
attachments pipeline as a crawl (pipelines/attachments.py: Scrapy's downloader, the files store, the text
worker, the same limits and settings), then gets its ``content_hash``/``simhash``/``simhash2`` recomputed (the files'
sha1s and text join them, see pipelines/dedup.py) and is upserted by the store pipeline: an article that
gained files is ``updated`` (version + 1), one whose files are still missing is ``unchanged``. Attachments
already stored are not downloaded again (FILES_EXPIRES). Quarantined pages are left alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from gongkai_spider.commands.export import _since

# statuses that leave nothing to fetch
DONE = ("downloaded", "no_text:")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = sub.add_parser("fetch", help="download and read the attachments of stored articles that lack their files")
    fetch.add_argument("--site", help="only articles of this site id")
    fetch.add_argument("--since", type=_since, metavar="YYYY-MM-DD",
                       help="only articles published on or after this day (Asia/Shanghai)")
    fetch.add_argument("--db", metavar="PATH", help="this SQLite store (default: MONGO_URI, else GONGKAI_DB)")
    fetch.add_argument("--log-level", default="WARNING", help="Scrapy log level (default WARNING)")


def needs_fetch(doc: dict) -> bool:
    """Whether some attachment of ``doc`` has no stored file and is worth another try."""
    return any(isinstance(a, dict) and a.get("url") and not a.get("sha1")
               and not str(a.get("status") or "").startswith(DONE) for a in doc.get("attachments") or ())


def backfill_spider() -> type:
    """The spider yielding the stored articles to fetch as items (no page is requested). Built on call so that
    importing this module (every ``gongkai`` command does, for its arguments) does not import Scrapy."""
    import scrapy

    class AttachmentBackfillSpider(scrapy.Spider):
        name = "gongkai_attachments"

        def __init__(self, ids: list[str] | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.ids = ids or []

        async def start(self) -> AsyncIterator[Any]:
            from gongkai_spider.storage import store_for_crawler

            store = store_for_crawler(self.crawler)
            for _id in self.ids:
                doc = store.get("articles", _id)
                if doc is not None:
                    yield doc

    return AttachmentBackfillSpider


class RehashPipeline:
    """content_hash, simhash and simhash2 again, with the attachments (near_duplicate_of is kept as stored)."""

    def process_item(self, item: dict) -> dict:
        from pipelines.common import attachment_sha1s, attachment_text
        from pipelines.dedup import fingerprint_fields

        item.update(fingerprint_fields(item.get("title"), item.get("body"), attachment_text(item),
                                       attachment_sha1s(item)))
        return item


def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import CommandError, open_store_for_command

    try:
        store, _settings = open_store_for_command(args.db)
    except CommandError as exc:
        print(f"gongkai attachments: {exc}", file=sys.stderr)
        return 2
    try:
        ids = [doc["_id"] for doc in store.iter_docs("articles", since=args.since)
               if (not args.site or doc.get("site") == args.site) and needs_fetch(doc)]
    finally:
        store.close()
    if not ids:
        print("gongkai attachments: nothing to fetch")
        return 0

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "gongkai_spider.settings")
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    settings.setdict({
        "ITEM_PIPELINES": {"pipelines.attachments.AttachmentsPipeline": 350,
                           "gongkai_spider.commands.attachments.RehashPipeline": 400,
                           "pipelines.store.StorePipeline": 900},
        "GONGKAI_MONITOR_ENABLED": False, "GONGKAI_INCREMENTAL_ENABLED": False, "LOG_LEVEL": args.log_level,
    }, priority="cmdline")
    if args.db:
        settings.setdict({"GONGKAI_DB": args.db, "MONGO_URI": ""}, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(backfill_spider())
    process.crawl(crawler, ids=ids)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    statuses = {k.removeprefix("gongkai/attachments/"): v for k, v in sorted(stats.items())
                if k.startswith("gongkai/attachments/") and k.rsplit("/", 1)[-1] not in ("bytes", "parse_cpu_ms")}
    print(f"gongkai attachments: {len(ids)} articles; attachments {statuses}; "
          f"articles updated {stats.get('gongkai/store/updated', 0)}, unchanged {stats.get('gongkai/store/unchanged', 0)}")
    return 0 if stats.get("finish_reason") == "finished" else 1
