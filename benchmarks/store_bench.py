#!/usr/bin/env python3
"""Bulk upsert rates of the stores: SQLite, mongomock-ng, and a real MongoDB when TEST_MONGO_URI is set.

Documents are shaped like what the pipelines hand the store (schema of docs/SCHEMA.md), built from the demo
portal's articles, and written in batches of ``GONGKAI_STORE_BATCH_SIZE`` (200) through
``gongkai_spider.storage`` exactly as ``StorePipeline`` does. Three passes per backend, each timed:

* ``new``        every document is new (insert);
* ``unchanged``  the same documents again (same content hash: only ``last_seen`` moves);
* ``updated``    every body changed (new content hash: ``$set``, version + 1).

mongomock-ng scans every stored document on each write (docs/design: about 30 upserts/s at 10,000 documents),
so it gets a smaller count and its figure says nothing about MongoDB's speed. Used by benchmarks/throughput.py;
runs alone too:

  python3 benchmarks/store_bench.py [--docs 5000] [--mock-docs 500]
  TEST_MONGO_URI=mongodb://127.0.0.1:27017 python3 benchmarks/store_bench.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from gongkai_spider.demo.portal import build_portal
from gongkai_spider.storage import Store, open_store

BATCH = 200


def make_docs(n: int, *, seed: int = 0) -> list[dict]:
    """``n`` store-ready article documents (cleaned field types, hashes, spam verdict, raw strings)."""
    per_column = max(1, -(-n // 3))
    articles = build_portal(per_column, seed=seed).expected_for("http://bench.example.gov.cn")[:n]
    docs = []
    for a in articles:
        body = "\n".join([a["body_first"], *(["……"] * max(0, a["paragraphs"] - 2)), a["body_last"]])
        content_hash = hashlib.sha1(f"{a['title']}\n{body}".encode()).hexdigest()
        docs.append(
            {
                "_id": hashlib.sha1(a["url"].encode()).hexdigest(),
                "url": a["url"],
                "site": "bench",
                "list_url": a["url"].rsplit("/", 1)[0] + "/index.html",
                "title": a["title"],
                "publish_time": datetime.fromisoformat(a["publish_time"]),
                "read_count": a["read_count"],
                "author": a["author"],
                "source": a["source"],
                "summary": a["summary"],
                "keywords": a["keywords"],
                "body": body,
                "attachments": a["attachments"],
                "doc_meta": a["doc_meta"],
                "spam": {"is_spam": False, "score": 0.0, "reasons": []},
                "content_hash": content_hash,
                "simhash": int(content_hash[:15], 16) - (1 << 59),
                "raw": {
                    "title": a["title"],
                    "publish_time": a["publish_time"],
                    "author": a["author"],
                    "source": a["source"],
                    "keywords": ",".join(a["keywords"]),
                    "read_count": None,
                },
            }
        )
    return docs


def _changed(docs: list[dict]) -> list[dict]:
    out = []
    for doc in docs:
        body = doc["body"] + "\n（更新）"
        out.append(
            dict(doc, body=body, content_hash=hashlib.sha1(f"{doc['title']}\n{body}".encode()).hexdigest())
        )
    return out


def _timed_passes(store: Store, docs: list[dict]) -> dict[str, float]:
    """docs/s of the three passes; checks each pass reported what it should."""
    rates = {}
    for name, batch_docs in (("new", docs), ("unchanged", docs), ("updated", _changed(docs))):
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        start = time.perf_counter()
        for i in range(0, len(batch_docs), BATCH):
            for key, value in store.upsert_many(batch_docs[i : i + BATCH]).items():
                counts[key] += value
        elapsed = time.perf_counter() - start
        if counts[name] != len(docs):
            raise RuntimeError(
                f"{store.description}: pass {name!r} reported {counts}, expected {len(docs)} {name}"
            )
        rates[name] = len(docs) / elapsed
    return rates


@contextmanager
def _sqlite(tmp: Path) -> Iterator[Store]:
    store = open_store({"MONGO_URI": "", "GONGKAI_DB": str(tmp / "bench.sqlite3")})
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _mongo(uri: str) -> Iterator[Store]:
    database = f"gongkai_bench_{uuid.uuid4().hex[:8]}"
    store = open_store({"MONGO_URI": uri, "MONGO_DATABASE": database})
    try:
        store.ensure_ready()
        yield store
    finally:
        try:
            store._client.drop_database(database)  # the benchmark's own throw-away database
        finally:
            store.close()


def run(n_docs: int = 5000, n_mock: int = 500, mongo_uri: str | None = None) -> list[dict]:
    """One row per backend: {backend, docs, new, unchanged, updated} (rates in documents per second)."""
    docs = make_docs(max(n_docs, n_mock))
    backends: list[tuple[str, int, Callable[[], object]]] = []
    with tempfile.TemporaryDirectory(prefix="gongkai-store-bench-") as tmp:
        backends.append(("sqlite", n_docs, lambda: _sqlite(Path(tmp))))
        try:
            import mongomock_ng  # noqa: F401
        except ImportError:
            pass
        else:
            backends.append(
                ("mongomock-ng", n_mock, lambda: _mongo(f"mongomock://bench-{uuid.uuid4().hex[:6]}"))
            )
        if mongo_uri:
            backends.append(("mongodb", n_docs, lambda: _mongo(mongo_uri)))
        rows = []
        for name, n, opener in backends:
            with opener() as store:
                rows.append({"backend": name, "docs": n, **_timed_passes(store, docs[:n])})
    return rows


def format_rows(rows: list[dict]) -> list[str]:
    lines = [f"{'store':<14}{'docs':>7}{'new/s':>10}{'unchanged/s':>13}{'updated/s':>11}"]
    for r in rows:
        lines.append(
            f"{r['backend']:<14}{r['docs']:>7}{r['new']:>10.0f}{r['unchanged']:>13.0f}{r['updated']:>11.0f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--docs", type=int, default=5000, help="documents for SQLite and MongoDB (default 5000)"
    )
    parser.add_argument("--mock-docs", type=int, default=500, help="documents for mongomock-ng (default 500)")
    args = parser.parse_args(argv)
    rows = run(args.docs, args.mock_docs, os.environ.get("TEST_MONGO_URI") or None)
    print("\n".join(format_rows(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
