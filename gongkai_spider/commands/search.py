"""``gongkai search QUERY``: the stored articles holding every term of QUERY, best first.

A term is matched as a substring, ignoring case, in the title, the body and the text of attachments
(``gongkai_spider/search/``); terms are separated by spaces and all must occur. Each hit shows title, site,
publish date, URL and a snippet with the hits in ``[...]`` (bold on a terminal). ``--json`` prints one JSON
object per hit. Filters: ``--site``, ``--since`` / ``--until`` (publish dates, Asia/Shanghai, both days
included). ``--collection quarantine`` searches the held-back spam instead; articles never show it.

The SQLite store indexes the documents stored before the search index existed on the first search (a
message says how many). Exit status: 0 (also with no hit), 2 bad query or store missing / unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from gongkai_spider.commands import one_line_errors
from gongkai_spider.commands.export import _since as _date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", metavar="QUERY", help="terms separated by spaces; every one must occur")
    parser.add_argument("--site", help="only this site")
    parser.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="published on or after this day")
    parser.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="published on or before this day")
    parser.add_argument("--collection", choices=("articles", "quarantine"), default="articles",
                        help="collection to search (default: articles)")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="at most N hits (default 20)")
    parser.add_argument("--json", action="store_true", help="one JSON object per hit")
    parser.add_argument("--db", metavar="PATH", help="search this SQLite store (default: MONGO_URI, else GONGKAI_DB)")


def _out(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def format_hit(n: int, hit: dict, *, bold: bool = False) -> str:
    when = hit["publish_time"].strftime("%Y-%m-%d") if isinstance(hit["publish_time"], datetime) else "-"
    snippet = hit["snippet"]
    if bold:
        snippet = snippet.replace("[", "\x1b[1m").replace("]", "\x1b[0m")
    return f"{n}. {hit['title']}\n   {hit['site']}  {when}  {hit['url']}\n   {snippet}\n"


@one_line_errors("search")
def run(args: argparse.Namespace) -> int:
    from gongkai_spider.search import QueryError, parse_query, run_search
    from gongkai_spider.storage import open_store_for_command
    from gongkai_spider.storage.query import DocFilter

    try:
        parse_query(args.query)
        if args.limit < 1:
            raise QueryError(f"--limit must be at least 1, not {args.limit}")
        if args.since and args.until and args.until < args.since:
            raise QueryError(f"--until {args.until} is before --since {args.since}")
    except QueryError as exc:
        print(f"gongkai search: {exc}", file=sys.stderr)
        return 2
    store, _settings = open_store_for_command(args.db)
    try:
        built = store.ensure_search_index(args.collection)
        if built:
            print(f"gongkai search: indexed {built} documents stored before the search index", file=sys.stderr)
        hits = run_search(store, args.query, collection=args.collection, limit=args.limit,
                          filters=DocFilter(site=args.site, since=args.since, until=args.until))
    finally:
        store.close()
    if args.json:
        _out("".join(json.dumps({**h, "publish_time": h["publish_time"].isoformat()
                                 if isinstance(h["publish_time"], datetime) else None},
                                ensure_ascii=False) + "\n" for h in hits))
    else:
        bold = sys.stdout.isatty()
        _out("".join(format_hit(n, h, bold=bold) for n, h in enumerate(hits, 1)))
    print(f"gongkai search: {len(hits)} hits in {args.collection}", file=sys.stderr)
    return 0
