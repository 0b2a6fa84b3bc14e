"""``gongkai demo``: serve the bundled demo portal on 127.0.0.1, crawl it into the store, print a summary.

The crawl is the real one (``gongkai`` spider, project settings, every pipeline, robots.txt obeyed) run
in-process; only politeness is relaxed for the local server (no download delay, no AutoThrottle). The store
is the usual one (``MONGO_URI``, else the SQLite file ``GONGKAI_DB``); ``--db PATH`` forces a SQLite file.
The portal is served on a fixed port by default so that a second run sees the same URLs and stores nothing new.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORT = 8765
DEFAULT_ARTICLES = 200
DEFAULT_SPAM = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=DEFAULT_ARTICLES, metavar="N",
                        help=f"articles per column (7 columns; default {DEFAULT_ARTICLES})")
    parser.add_argument("--spam", type=int, default=DEFAULT_SPAM, metavar="N",
                        help=f"SEO-hijacked pages added to the seed column (default {DEFAULT_SPAM})")
    parser.add_argument("--db", metavar="PATH", help="crawl into this SQLite file (default: MONGO_URI, else GONGKAI_DB)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port of the demo portal on 127.0.0.1 (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the generated portal (default 0)")
    parser.add_argument("--log-level", default="WARNING", help="Scrapy log level during the crawl (default WARNING)")


def run(args: argparse.Namespace) -> int:
    if args.articles < 0 or args.spam < 0:
        print("gongkai demo: --articles and --spam must be >= 0", file=sys.stderr)
        return 2
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "gongkai_spider.settings")
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from gongkai_spider.demo import build_portal, serve
    from gongkai_spider.spiders.gongkai import GongkaiSpider

    settings = get_project_settings()
    # Local demo only: the portal is ours and on this machine, so no politeness delay.
    settings.setdict({"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS": 32,
                      "CONCURRENT_REQUESTS_PER_DOMAIN": 32, "LOG_LEVEL": args.log_level}, priority="cmdline")
    if args.db:
        settings.setdict({"GONGKAI_DB": args.db, "MONGO_URI": ""}, priority="cmdline")

    portal = build_portal(args.articles, seed=args.seed, spam=args.spam)
    with ExitStack() as stack:
        try:
            base_url = stack.enter_context(serve(portal, port=args.port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(f"gongkai demo: port {args.port} is in use; pass --port N (0 = any free port)", file=sys.stderr)
            return 1
        print(f"demo portal: {len(portal.expected)} articles in {len(portal.columns)} columns "
              f"({args.spam} of them hijacked) at {base_url}", flush=True)
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(GongkaiSpider)
        process.crawl(crawler, site="demo", base_url=base_url)
        started = time.perf_counter()
        process.start()
        elapsed = time.perf_counter() - started

    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(_crawl_summary(stats, elapsed))
    print(_store_summary(settings, portal, base_url))
    return 0 if stats.get("finish_reason") == "finished" else 1


def _crawl_summary(stats: dict[str, Any], elapsed: float) -> str:
    pages = int(stats.get("response_received_count", 0))
    dropped = {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("gongkai/validate/dropped/")}
    skipped = {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("gongkai/extract/skipped/")}
    lines = [
        f"crawl: {pages} pages in {elapsed:.1f} s ({pages / elapsed if elapsed else 0:.0f} pages/s), "
        f"finish reason {stats.get('finish_reason', '?')}",
        f"  items {stats.get('gongkai/detail/items', 0)}: new {stats.get('gongkai/store/new', 0)}, "
        f"updated {stats.get('gongkai/store/updated', 0)}, unchanged {stats.get('gongkai/store/unchanged', 0)}, "
        f"quarantined {stats.get('gongkai/store/quarantined', 0)}, dropped {stats.get('item_dropped_count', 0)}"
        + (f" {dropped}" if dropped else ""),
        f"  skipped: already stored {stats.get('gongkai/incremental/skipped_known', 0)}, "
        f"not articles {sum(skipped.values())}" + (f" {skipped}" if skipped else ""),
        f"  attachments: downloaded {stats.get('gongkai/attachments/downloaded', 0)} "
        f"({stats.get('gongkai/attachments/bytes', 0) / 1024:.0f} KiB), "
        f"already stored {stats.get('gongkai/attachments/reused', 0)}, "
        f"other {sum(v for k, v in stats.items() if k.startswith('gongkai/attachments/') and k.split('/')[2] not in ('downloaded', 'reused', 'bytes', 'parse_cpu_ms'))}",
    ]
    return "\n".join(lines)


def _store_summary(settings: Any, portal: Any, base_url: str) -> str:
    from gongkai_spider.storage import open_store

    store = open_store(settings)
    try:
        lines = [f"store ({getattr(store, 'description', type(store).__name__)}):"]
        for collection in ("articles", "quarantine"):
            per_site = ", ".join(f"{site} {n}" for site, n in sorted(store.count_by_site(collection).items()))
            lines.append(f"  {collection}: {store.count(collection)}" + (f"  ({per_site})" if per_site else ""))
        per_column = _per_column(store, portal, base_url)
        lines.append("  demo portal by column: " + ", ".join(
            f"{name} {n_articles}" + (f" (+{n_quarantined} quarantined)" if n_quarantined else "")
            for name, (n_articles, n_quarantined) in per_column.items()))
    finally:
        store.close()
    return "\n".join(lines)


def _per_column(store: Any, portal: Any, base_url: str) -> dict[str, tuple[int, int]]:
    """(articles, quarantined) per demo column, for documents of this portal (same host and port).

    Reads only the url column of this portal's documents (a range on the url index), never the documents.
    """
    netloc = urlsplit(base_url).netloc
    prefix = f"{urlsplit(base_url).scheme}://{netloc}/"
    counts = {name: [0, 0] for name in portal.columns}
    for slot, collection in enumerate(("articles", "quarantine")):
        for url in store.iter_url_prefix(collection, prefix):
            parts = urlsplit(url)
            column = portal.column_of(parts._replace(scheme="", netloc="").geturl()) if parts.netloc == netloc else None
            if column:
                counts[column][slot] += 1
    return {name: (a, q) for name, (a, q) in counts.items()}
