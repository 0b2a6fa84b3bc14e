"""``gongkai quarantine``: review the pages the spam pipeline kept out of ``articles``.

``gongkai quarantine list [--limit N] [--json]`` prints the quarantined documents, highest spam score first:
score, URL and the reasons (``pipelines/spam.py`` documents each reason kind). ``--json`` prints one JSON
object per line (url, _id, site, title, score, reasons, last_seen).

``gongkai quarantine release URL --note TEXT`` moves a false positive into ``articles`` and records the
decision on the document: ``review = {"released": true, "note": TEXT, "at": <now, +08:00>, "by": NAME}``
(``by`` from ``--by``, else the login name). The spam verdict stays as it was scored, for audits. The URL
is matched by its canonical form (tracking parameters and fragment do not matter); a 40-hex ``_id`` works
too. An unknown URL is an error (exit 1) naming the URL.

The Store protocol has no "set a field" operation (an upsert with unchanged content only touches
``last_seen``), so a release writes the reviewed document into ``articles`` as a new document (store stamps
start at the release; the quarantine stamps are kept under ``review.quarantined``) and then deletes the
quarantined copy; a failure in between leaves two copies, never none.

A released page stays released: when a later crawl (``-a refresh=1``, or a changed page) scores it spam
again, the store pipeline keeps it in ``articles`` with its ``review`` (``gongkai/store/kept_released``)
instead of quarantining a second copy.

Reads the same store settings as the spider (``MONGO_URI``, else ``GONGKAI_DB``); ``--db PATH`` uses that
SQLite file. Exit status: 0 done, 1 unknown URL, 2 store missing, unusable or not answering (one line,
gongkai_spider.commands).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from datetime import datetime
from typing import Any

from gongkai_spider.commands import one_line_errors

_HEX_ID = re.compile(r"[0-9a-f]{40}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="quarantined pages, highest spam score first")
    listing.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N documents (0 = all; default 50)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    release = sub.add_parser("release", help="move a false positive from quarantine into articles")
    release.add_argument("url", metavar="URL", help="the page's URL (or its _id)")
    release.add_argument("--note", required=True, help="why it is not spam (kept in review.note)")
    release.add_argument("--by", help="reviewer name (default: the login name)")
    for action in (listing, release):
        action.add_argument(
            "--db", metavar="PATH", help="use this SQLite store (default: MONGO_URI, else GONGKAI_DB)"
        )


def _out(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def _err(text: str) -> None:
    print(f"gongkai quarantine: {text}", file=sys.stderr)


def _verdict(doc: dict) -> dict:
    spam = doc.get("spam")
    return spam if isinstance(spam, dict) else {}


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def list_docs(store: Any, limit: int) -> list[dict]:
    """Quarantined documents, highest score first, then most recently seen."""
    docs = list(store.iter_docs("quarantine"))
    docs.sort(key=lambda d: (-(float(_verdict(d).get("score") or 0)), -(_ts(d.get("last_seen")))))
    return docs[:limit] if limit > 0 else docs


def _ts(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


def _run_list(store: Any, args: argparse.Namespace) -> int:
    total = store.count("quarantine")
    docs = list_docs(store, args.limit)
    lines = []
    for doc in docs:
        spam = _verdict(doc)
        if args.json:
            lines.append(
                json.dumps(
                    {
                        "url": doc.get("url"),
                        "_id": doc.get("_id"),
                        "site": doc.get("site"),
                        "title": doc.get("title"),
                        "score": spam.get("score"),
                        "reasons": spam.get("reasons") or [],
                        "last_seen": _when(doc.get("last_seen")),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            score = spam.get("score")
            lines.append(
                f"{score if score is not None else '-':>5}  {doc.get('url')}  "
                + ", ".join(spam.get("reasons") or [])
            )
    if lines:
        _out("\n".join(lines) + "\n")
    print(f"gongkai quarantine: {len(docs)} of {total} quarantined documents", file=sys.stderr)
    return 0


def release(store: Any, url: str, note: str, by: str | None = None, *, now: datetime | None = None) -> dict:
    """Move the quarantined document of ``url`` into articles with its review; return the stored document.

    Raises LookupError (message names the URL) when nothing is quarantined under that URL.
    """
    from gongkai_spider.normalize import SHANGHAI, canonical_url, doc_id
    from gongkai_spider.storage.base import STORE_FIELDS

    key = url.strip()
    _id = key if _HEX_ID.fullmatch(key) else doc_id(canonical_url(key))
    doc = store.get("quarantine", _id)
    if doc is None:
        where = " (it is in articles already)" if store.get("articles", _id) is not None else ""
        raise LookupError(f"not in quarantine: {url}{where}")
    now = now or datetime.now(SHANGHAI)
    review = {"released": True, "note": note, "at": now}
    if by:
        review["by"] = by
    review["quarantined"] = {k: doc[k] for k in STORE_FIELDS if k in doc}
    released = {k: v for k, v in doc.items() if k not in STORE_FIELDS}
    released["review"] = review
    if store.get("articles", _id) is None:
        store.upsert_many([released], "articles", now=now)
    store.delete("quarantine", _id)  # after the write: a crash leaves two copies, never none
    return store.get("articles", _id) or released


def _run_release(store: Any, args: argparse.Namespace) -> int:
    by = args.by
    if by is None:
        try:
            by = getpass.getuser()
        except Exception:  # no login name in some containers: the review just has no "by"
            by = None
    try:
        doc = release(store, args.url, args.note, by)
    except LookupError as exc:
        _err(str(exc))
        return 1
    _out(f"released {doc.get('url')} into articles (was: {', '.join(_verdict(doc).get('reasons') or [])})\n")
    return 0


@one_line_errors("quarantine")
def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import open_store_for_command

    store, _settings = open_store_for_command(args.db)
    try:
        if args.action == "list":
            return _run_list(store, args)
        return _run_release(store, args)
    finally:
        store.close()
