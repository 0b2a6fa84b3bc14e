"""``gongkai history URL``: the versions of a stored page and a unified diff of the body between two.

Lists every version: the earlier ones kept in ``article_versions`` when the content changed (with the time
range each was current) and the stored document (current since ``updated_at``), with version number, title,
publish time and content hash. Then prints ``diff -u`` of the body from ``--from`` to ``--to`` (default: the
previous version to the current one; nothing when there is only one). The URL is matched as given, else by its
canonical form (tracking parameters and fragment do not matter). Exit status: 0, 1 unknown URL or version,
2 store missing / unreachable.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import datetime
from typing import Any

from gongkai_spider.commands import one_line_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="the page's URL")
    parser.add_argument("--from", dest="old", type=int, metavar="N", help="diff from version N (default: previous)")
    parser.add_argument("--to", dest="new", type=int, metavar="N", help="diff to version N (default: current)")
    parser.add_argument("--json", action="store_true", help="the versions as JSON lines (with bodies), no diff")
    parser.add_argument("--db", metavar="PATH", help="read this SQLite store (default: MONGO_URI, else GONGKAI_DB)")


def _when(value: Any) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else "-"


def collect(store: Any, url: str) -> tuple[str, list[dict]] | None:
    """(collection, versions oldest first) of the page at ``url``: each ``{version, title, publish_time,
    content_hash, valid_from, valid_to, body}`` (``valid_to`` None for the current one)."""
    from gongkai_spider.normalize import canonical_url

    found = store.find_url(url)
    if found is None and canonical_url(url) != url:
        url = canonical_url(url)
        found = store.find_url(url)
    if found is None:
        return None
    collection, current = found
    out = []
    for v in store.versions(url):
        out.append({k: v.get(k) for k in ("version", "title", "publish_time", "content_hash", "valid_from",
                                          "valid_to", "body")})
    out.append({"version": current.get("version"), "title": current.get("title"),
                "publish_time": current.get("publish_time"), "content_hash": current.get("content_hash"),
                "valid_from": current.get("updated_at"), "valid_to": None, "body": current.get("body")})
    return collection, out


def body_diff(old: dict, new: dict) -> str:
    """``diff -u`` of the bodies, line by line (a paragraph per line)."""
    lines = difflib.unified_diff((old.get("body") or "").splitlines(), (new.get("body") or "").splitlines(),
                                 fromfile=f"version {old['version']} ({_when(old['valid_from'])})",
                                 tofile=f"version {new['version']} ({_when(new['valid_from'])})", lineterm="")
    return "".join(line + "\n" for line in lines)


@one_line_errors("history")
def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import open_store_for_command

    store, _settings = open_store_for_command(args.db)
    try:
        found = collect(store, args.url)
    finally:
        store.close()
    if found is None:
        print(f"gongkai history: no stored page at {args.url}", file=sys.stderr)
        return 1
    collection, versions = found
    out = sys.stdout.buffer
    if args.json:
        for v in versions:
            out.write((json.dumps(v, ensure_ascii=False, default=lambda d: d.isoformat()) + "\n").encode("utf-8"))
        return 0
    lines = [f"{args.url}  ({collection}, {len(versions)} versions)"]
    for v in versions:
        until = _when(v["valid_to"]) if v["valid_to"] else "now"
        lines.append(f"  v{v['version']}  {_when(v['valid_from'])} .. {until}  {v['content_hash'] or '-'}  "
                     f"{v['title']}")
    by_number = {v["version"]: v for v in versions}
    old_n = args.old if args.old is not None else (versions[-2]["version"] if len(versions) > 1 else None)
    new_n = args.new if args.new is not None else versions[-1]["version"]
    for n in (old_n, new_n):
        if n is not None and n not in by_number:
            print(f"gongkai history: no version {n} of {args.url} (versions: "
                  f"{', '.join(str(v) for v in by_number)})", file=sys.stderr)
            return 1
    text = "\n".join(lines) + "\n"
    if old_n is not None:
        diff = body_diff(by_number[old_n], by_number[new_n])
        text += "\n" + (diff or f"(body of version {old_n} and version {new_n} is the same)\n")
    out.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0
