#!/usr/bin/env python3
"""Export benchmark: `gongkai export` from a 100k-document SQLite store, documents per second, wall and CPU.

The store is built once (kept in ``--dir``, default /tmp/gongkai-export-bench; ``--rebuild`` to redo it): the
documents of benchmarks/search.py (``generate``: bodies of about 1,000 characters, one document in ten with
an attachment holding its text, plus the sentences of the shared corpus's gold texts when ``--corpus`` exists)
with the stamps a crawl adds, written as the store writes them (``storage.sqlite._row``) without the search
index, which export does not read.

Each form is the real command, ``python3 -m gongkai_spider.cli export ... --output FILE``, in its own process
(imports and store open included), the forms taking turns within each of ``--repeat`` rounds; medians
printed. CPU is the child's user + system time. ``--per-document`` also times, in this process, the path the
MongoDB store takes (every document decoded into Python datetimes, walked into Extended JSON, encoded), for the
ratio. The last row is the start-up of the command alone (imports, store open, a query that selects nothing):
the rate of a small export (``--site``: 10,000 documents) is mostly that.

Acceptance (issue 11): JSONL export >= 20,000 documents per second, judged on every JSONL form that exports
the whole store (a form over a tenth of it is mostly the command's start-up; its rate after it is printed).

Usage: python3 benchmarks/export.py [--docs 100000] [--repeat 3] [--dir DIR] [--per-document]
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import corpus_sentences, generate

from gongkai_spider.storage.base import prepare_doc, utc_now
from gongkai_spider.storage.sqlite import _COLUMNS, _MARKS, SQLiteStore, _row

REPO = Path(__file__).resolve().parents[1]
NEED = 20_000
FORMS: dict[str, list[str]] = {
    "jsonl (default: no attachment text)": [],
    "jsonl --with-attachment-text": ["--with-attachment-text"],
    "jsonl --site site3 (a tenth)": ["--site", "site3"],
    "jsonl --fields _id,title,publish_time": ["--fields", "_id,title,publish_time"],
    "csv (default)": ["--format", "csv"],
    "start-up alone (--site none: no document)": ["--site", "none"],
}


def build(path: Path, n: int, sentences: list[str]) -> None:
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    store = SQLiteStore(path)
    conn, now, batch = store._conn, utc_now(), []
    conn.execute("PRAGMA synchronous=OFF")

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO articles ({_COLUMNS}) VALUES ({_MARKS})", batch)
        conn.execute("COMMIT")
        batch.clear()

    try:
        for doc in generate(n, sentences):
            stamps = {"first_seen": now, "last_seen": now, "updated_at": now, "version": 1}
            batch.append(_row(prepare_doc({**doc, **stamps})))
            if len(batch) == 10_000:
                flush()
        if batch:
            flush()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()


def _count(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def run_command(db: Path, extra: list[str], out: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """(documents, wall s, CPU s) of one `gongkai export` in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gongkai_spider.cli", "export", "--db", str(db), *extra,
                           "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return int(done.stderr.split("gongkai export: ")[1].split()[0]), wall, cpu


def per_document_rate(db: Path, out: Path) -> tuple[float, float]:
    """(docs/s wall, docs/s CPU) of the per-document path (decode, strip, walk, encode) in this process."""
    from gongkai_spider.commands import export

    store = SQLiteStore(db)
    try:
        with open(out, "wb") as target:
            started, cpu = time.perf_counter(), time.process_time()
            n = export.write_jsonl(map(export.without_attachment_text, store.iter_docs("articles")), target)
            return n / (time.perf_counter() - started), n / (time.process_time() - cpu)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the store (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians printed (default 3)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gongkai-export-bench",
                        help="where the store is kept between runs (default /tmp/gongkai-export-bench)")
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/corpus/pages"),
                        help="gold texts whose sentences widen the vocabulary (optional)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the store even if present")
    parser.add_argument("--per-document", action="store_true", help="also time the per-document path")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / f"export-{args.docs}.sqlite3"
    if args.rebuild or _count(db) != args.docs:
        print(f"building {db} ({args.docs:,} documents) ...", flush=True)
        started = time.perf_counter()
        build(db, args.docs, corpus_sentences(args.corpus) if os.path.isdir(args.corpus) else [])
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    measured: dict[str, list[tuple[int, float, float]]] = {form: [] for form in FORMS}
    baseline: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="gongkai-export-", dir=args.dir) as tmp:
        out = Path(tmp) / "out"
        for _ in range(args.repeat):
            for form, extra in FORMS.items():
                measured[form].append(run_command(db, extra, out, env))
            if args.per_document:
                baseline.append(per_document_rate(db, out))

    print(f"\n`gongkai export` from {args.docs:,} documents (SQLite), median of {args.repeat}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'form':40} {'documents':>10} {'wall s':>7} {'docs/s wall':>12} {'docs/s CPU':>11}")
    ok = True
    partial: list[tuple[str, int, float]] = []  # JSONL forms over part of the store: mostly start-up
    startup = 0.0
    for form, runs in measured.items():
        n = runs[0][0]
        wall, cpu = statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs)
        if not n:
            startup = wall
            print(f"{form:40} {n:>10,} {wall:>7.2f} {'':>12} {'':>11}   ({cpu:.2f} s CPU)")
            continue
        print(f"{form:40} {n:>10,} {wall:>7.2f} {n / wall:>12,.0f} {n / cpu:>11,.0f}")
        if form.startswith("jsonl") and n == args.docs:
            ok &= n / wall >= NEED
        elif form.startswith("jsonl"):
            partial.append((form, n, wall))
    if baseline:
        print(f"{'per-document path, default (in-process)':40} {args.docs:>10,} {'':>7} "
              f"{statistics.median(b[0] for b in baseline):>12,.0f} {statistics.median(b[1] for b in baseline):>11,.0f}")
    for form, n, wall in partial:  # a fixed start-up over fewer documents: its rate says little about export
        if wall > startup:
            print(f"{form}: {n / (wall - startup):,.0f} documents/s after the command's start-up "
                  f"({startup:.2f} s); not judged")
    print(f"\nacceptance: every JSONL form over all {args.docs:,} documents >= {NEED:,} documents/s wall: "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
