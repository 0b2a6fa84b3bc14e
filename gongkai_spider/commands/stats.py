"""``gongkai stats``: what the store holds — articles and quarantine, per site, newest publish time, last crawl.

Reads the same store settings as the spider (``MONGO_URI``, else ``GONGKAI_DB``); ``--db PATH`` reads that
SQLite file instead. Also reports documents waiting in the spool after an outage: this store's folder of
``GONGKAI_SPOOL_DIR`` (storage/spool.py), and how many wait there for other stores; and per site the pending
ledger (extensions/ledger.py): articles not stored yet and those given up. A store that cannot be used or
does not answer ends the command with one line and exit 2 (gongkai_spider.commands).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from gongkai_spider.commands import one_line_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="read this SQLite store (default: MONGO_URI, else GONGKAI_DB)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _when(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value else "-"


def collect(store: Any, spool_dir: str) -> dict[str, Any]:
    """The figures ``gongkai stats`` prints, as plain data (datetimes tz-aware)."""
    from gongkai_spider.storage import COLLECTIONS
    from gongkai_spider.storage.spool import Spool, spool_summary

    report: dict[str, Any] = {"store": getattr(store, "description", type(store).__name__), "collections": {}}
    for name in COLLECTIONS:
        sites = store.site_summary(name)
        seen = [s["last_seen"] for s in sites.values() if s["last_seen"]]
        published = [s["newest_publish_time"] for s in sites.values() if s["newest_publish_time"]]
        report["collections"][name] = {
            "count": sum(s["count"] for s in sites.values()),
            "newest_publish_time": max(published, default=None),
            "last_crawled": max(seen, default=None),
            "sites": sites,
        }
    spool = Spool(spool_dir, getattr(store, "identity", None))
    others = sum(s["pending"] for s in spool_summary(spool_dir) if s["dir"] != str(spool.directory))
    report["spool"] = {"dir": str(spool.directory), "pending": spool.pending(), "other_stores": others}
    report["pending"] = pending_by_site(store)
    return report


def pending_by_site(store: Any) -> dict[str, dict[str, int]]:
    """site -> {pending, given_up}: entries of the completeness ledger (``pending`` counts every entry)."""
    from gongkai_spider.storage.base import PENDING

    sites: dict[str, dict[str, int]] = {}
    for entry in store.iter_docs(PENDING):
        tally = sites.setdefault(str(entry.get("site")), {"pending": 0, "given_up": 0})
        tally["pending"] += 1
        tally["given_up"] += bool(entry.get("given_up"))
    return dict(sorted(sites.items()))


def _table(report: dict[str, Any]) -> str:
    lines = [f"store: {report['store']}"]
    for name, col in report["collections"].items():
        lines.append(f"{name}: {col['count']}  (newest publish_time {_when(col['newest_publish_time'])}, "
                     f"last crawled {_when(col['last_crawled'])})")
        rows = [("site", "count", "newest publish_time", "last crawled")]
        rows += [(str(site), str(s["count"]), _when(s["newest_publish_time"]), _when(s["last_seen"]))
                 for site, s in col["sites"].items()]
        if len(rows) > 1:
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for r in rows:
                lines.append("  " + "  ".join([r[0].ljust(widths[0]), r[1].rjust(widths[1]),
                                               r[2].ljust(widths[2]), r[3]]).rstrip())
    pending = report["pending"]
    lines.append(f"pending: {sum(p['pending'] for p in pending.values())} articles not stored yet, "
                 f"{sum(p['given_up'] for p in pending.values())} of them given up")
    for site, p in pending.items():
        lines.append(f"  {site}  pending {p['pending']}  given up {p['given_up']}")
    spool = report["spool"]
    lines.append(f"spool: {spool['pending']} documents waiting in {spool['dir']}")
    if spool.get("other_stores"):
        lines.append(f"spool: {spool['other_stores']} more documents wait for other stores beside it "
                     "(replayed only by a run on their own store)")
    return "\n".join(lines) + "\n"


@one_line_errors("stats")
def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import open_store_for_command

    store, settings = open_store_for_command(args.db)
    try:
        report = collect(store, str(settings.get("GONGKAI_SPOOL_DIR") or "data/spool"))
    finally:
        store.close()
    if args.json:
        text = json.dumps(report, ensure_ascii=False, indent=2,
                          default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)) + "\n"
    else:
        text = _table(report)
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0
