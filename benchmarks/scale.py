#!/usr/bin/env python3
"""Scale benchmark: the same crawl into an empty store, a 100k-document store and a 1M-document store.

1. Builds the stores once (kept in ``--dir``, default /tmp/gongkai-scale; rebuilt only when missing or with
   ``--rebuild``): documents generated from the demo portal's phrase tables (so their simhashes are as
   templated as real notices of one office), written with direct bulk inserts (no journal, one
   transaction) into the store's own schema with all its indexes in place, so that each index grows as a
   crawl grows it (see ``BUILD``), then the full-text index built as ``gongkai search`` builds it (again
   whenever its format changed), and the snapshot of the near-duplicate fingerprints that a crawl leaves
   behind. The 100k store holds the first 100k documents of the 1M one.
2. Serves one generated demo portal of ``--articles`` articles (default 5,000) on 127.0.0.1
   (benchmarks/throughput.py's in-process server) and crawls it with ``scrapy crawl gongkai`` (every
   pipeline, the SQLite store) into a fresh copy of each store, each crawl in its own process, ``--settle``
   seconds after the copy was made (default 15: ``SETTLE_S``); the stores take turns within each round, in
   the reverse order every other round (so a machine that speeds up or slows down during the run favours no
   store), ``--repeat`` rounds (default 3), medians printed.
3. Per store: pages/s, CPU ms per page, peak RSS of the crawl process, and start-up: the wall (and CPU)
   time of the same command against a portal with no articles (imports, store open, near-duplicate index
   load, the few listing pages, shutdown). Ratios to the empty store. On a loaded machine the wall
   start-up is mostly waiting for a core; its CPU seconds say what the process itself needs.

Acceptance (issue 11), at 1M documents: pages/s >= 0.9 x the empty store's, start-up <= 3 s, RSS <= 400 MB.

Usage: python3 benchmarks/scale.py [--sizes 0,100000,1000000] [--articles 5000] [--repeat 3] [--dir DIR]
       [--settle 15]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from throughput import COMMON_SETTINGS, REPO, _settings_args, bench_portal, bench_sites_dir, fast_serve

from gongkai_spider.demo.copies import _notice
from gongkai_spider.demo.portal import build_portal
from gongkai_spider.demo.text import TextMaker
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.storage.base import fingerprint_index_file
from gongkai_spider.storage.sqlite import _COLUMNS, _MARKS, SQLiteStore
from pipelines.dedup import DedupPipeline, StoreCandidates, _fingerprint

MIN_RATIO, MAX_STARTUP_S, MAX_RSS_MB = 0.9, 3.0, 400
# Seconds between making a store's fresh copy and crawling it, for every store. Copying the 1M store writes 4.5 GB
# and deletes the previous copy; a crawl started at once ran slower and used more CPU than one started 15 s later
# (1M store, four rounds each, taking turns: 368 against 414 pages/s, 20.9 against 19.7 s of CPU, two of the four
# immediate crawls at 315-337 pages/s), which charged the benchmark's own copying to the 1M store's crawl alone.
SETTLE_S = 15.0
# How the stores are built, part of their file names (a store of another build is built anew). Build 1 created
# the secondary indexes after the rows, sorted, which packs their pages full (content_hash 99% against 89% for
# an index grown by inserts, as a crawl grows it): the first crawl into such a store split a page for almost
# every new document (35.6 KiB written to the WAL per new document at 1M, 24.8 grown by inserts).
BUILD = 2
SITES = 40
_DATETIME_PATHS = json.dumps([["publish_time"], ["first_seen"], ["last_seen"], ["updated_at"]])


# ---------------------------------------------------------------------------------------------------------
# Building the stores
# ---------------------------------------------------------------------------------------------------------


_CHUNK = 10_000


def _chunk_rows(chunk: int, seed: int = 11) -> list[tuple]:
    """Store rows (the columns of sqlite._COLUMNS) of generated articles ``chunk * _CHUNK`` onwards."""
    maker = TextMaker(seed * 1_000_003 + chunk)  # one generator per chunk: chunks can be built in parallel
    stamp = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    seen = stamp.astimezone(SHANGHAI).isoformat(timespec="milliseconds")
    rows = []
    for i in range(chunk * _CHUNK, (chunk + 1) * _CHUNK):
        notice = _notice(maker, i)
        site = f"site{i % SITES:02d}"
        url = f"http://www.{site}.example.gov.cn/art/{2015 + i % 10}/{i}.html"
        _id = hashlib.sha1(url.encode()).hexdigest()
        digest, simhash, _chars, _text, simhash2 = _fingerprint(notice["title"], notice["body"])
        published = stamp - timedelta(minutes=7 * i)
        local = published.astimezone(SHANGHAI).isoformat(timespec="milliseconds")
        doc = {
            "_id": _id, "url": url, "site": site, "list_url": url.rsplit("/", 1)[0] + "/index.html",
            "title": notice["title"], "publish_time": local, "read_count": i % 5000 or None,
            "author": None, "source": "市人民政府办公室", "summary": None, "keywords": [],
            "body": notice["body"], "attachments": [], "doc_meta": {},
            "spam": {"is_spam": False, "score": 0.0, "reasons": []}, "near_duplicate_of": None,
            "content_hash": digest, "simhash": simhash, "simhash2": simhash2, "first_seen": seen, "last_seen": seen,
            "updated_at": seen, "version": 1,
            "raw": {"title": notice["title"], "publish_time": local[:16].replace("T", " ")},
        }
        rows.append((_id, url, site, published.isoformat(timespec="milliseconds"), digest, simhash, simhash2, None,
                     stamp.isoformat(timespec="milliseconds"),
                     json.dumps(doc, ensure_ascii=False, separators=(",", ":")), _DATETIME_PATHS))
    return rows


def build_stores(sizes: list[int], folder: Path, rebuild: bool) -> dict[int, Path]:
    """{size: path of a store holding that many generated articles}; missing ones are built."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"store-{n}-build{BUILD}.sqlite3" for n in sizes if n}
    todo = {n: p for n, p in paths.items() if rebuild or not (p.exists() and _count(p) == n)}
    for older in (folder / f"store-{n}.sqlite3" for n in paths):  # build 1's name
        if older.exists():
            print(f"{older} is a store of an earlier build, no longer used: delete it to free its space", flush=True)
    if todo:
        largest = max(todo)
        print(f"building stores of {sorted(todo)} documents in {folder} ...", flush=True)
        started = time.perf_counter()
        conns = {}
        for n, path in todo.items():
            for old in folder.glob(path.name + "*"):
                old.unlink()
            SQLiteStore(path).close()  # the store's own schema
            conn = sqlite3.connect(path, isolation_level=None)
            conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000;")
            conn.execute("BEGIN")
            conns[n] = conn
        insert = f"INSERT INTO articles ({_COLUMNS}) VALUES ({_MARKS})"
        done = 0
        # Generating the text and its simhash is most of the cost: two worker processes, in chunk order.
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for batch in pool.imap(_chunk_rows, range(-(-largest // _CHUNK))):
                for n, conn in conns.items():  # the smaller stores hold a prefix of the largest one's documents
                    if done < n:
                        conn.executemany(insert, batch[:n - done])
                done += len(batch)
                if done % 100_000 == 0:
                    print(f"  {done:,} documents, {time.perf_counter() - started:.0f} s", flush=True)
        for n, conn in conns.items():
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
            SQLiteStore(todo[n]).close()  # no ANALYZE: a store grown by crawls has no planner statistics
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    for n, path in paths.items():  # a store grown by crawls has every document in its search index: so must these
        _unmark_unindexed(path)
        started = time.perf_counter()
        store = SQLiteStore(path)
        try:
            indexed = store.ensure_search_index("articles")
        finally:
            store.close()
        if indexed:
            print(f"search index of the {n:,} store: {indexed:,} documents in {time.perf_counter() - started:.0f} s",
                  flush=True)
        _snapshot_pairs(path, n)
    return paths


def _snapshot_pairs(path: Path, n: int) -> None:
    """Leave the store as a crawl leaves it: with the snapshot of its near-duplicate fingerprints
    (gongkai_spider/storage/simhash_snapshot.py) and their sorted index beside it (``SimhashIndex.save``), both
    loaded the way the crawl's dedup stage loads them, which the first crawl after the build would otherwise
    write."""
    started = time.perf_counter()
    store = SQLiteStore(path)
    try:
        pipeline = DedupPipeline(store=StoreCandidates(store=store))
        pipeline.open_spider()
        pairs = len(pipeline.index)  # waits for the load (and the index file's writing)
        pipeline.close_spider()
    finally:
        store.close()
    print(f"fingerprints of the {n:,} store loaded (their snapshot and sorted index saved when they were not) in "
          f"{time.perf_counter() - started:.2f} s: {pairs:,} pairs", flush=True)


def _unmark_unindexed(path: Path) -> None:
    """The rows inserted above went past the search index, which the empty schema calls complete: mark it
    incomplete when it holds fewer documents than the store (a store just built, or built by an earlier version
    of this script), so that it is built as for a store of an older release."""
    with sqlite3.connect(path) as conn:
        indexed = conn.execute("SELECT COUNT(*) FROM articles_fts_ids").fetchone()[0]
        if indexed < conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]:
            conn.execute("UPDATE search_meta SET complete=0 WHERE collection='articles'")


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    except sqlite3.Error:
        return -1


# ---------------------------------------------------------------------------------------------------------
# Crawling
# ---------------------------------------------------------------------------------------------------------


# The crawl's command (argv: peak RSS file, profile file or "", scrapy's arguments): `scrapy ...`, or under
# cProfile timed by process CPU time (its default wall clock would charge other processes' turns on a loaded
# machine to whatever function was running). The peak RSS comes from the crawl's own /proc/self/status: on Linux
# ru_maxrss also counts the parent's resident set at the fork (kept across exec), so a benchmark process grown
# large (building a store) would show as the crawl's.
_CRAWL = """
import atexit, cProfile, sys, time
from scrapy.cmdline import execute
hwm_file, dump = sys.argv.pop(1), sys.argv.pop(1)

def _peak_rss():
    with open("/proc/self/status") as status, open(hwm_file, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))

atexit.register(_peak_rss)
if not dump:
    execute(["scrapy", *sys.argv[1:]])  # exits with the crawl's status
    sys.exit(0)
profiler = cProfile.Profile(time.process_time)
try:
    profiler.runcall(execute, ["scrapy", *sys.argv[1:]])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
profiler.dump_stats(dump)
sys.exit(code)
"""


@dataclass
class Crawl:
    pages: int
    items: int
    wall: float
    cpu: float
    rss_mb: float
    thread_cpu: float = 0.0  # the crawl's reactor thread alone (gongkai/progress/crawl_thread_cpu_seconds)
    writer_wait_ms: int = 0  # the crawl waiting for the store's writer thread (gongkai/store/writer_wait_ms)
    index_wait_ms: int = 0  # the first item waiting for the near-duplicate index load (gongkai/dedup/index_wait_ms)
    workers: int = 0  # extraction worker processes the crawl started (gongkai/extract/workers_started)
    thread_wait: float = 0.0  # the reactor thread ready but waiting for a core (crawl_thread_wait_seconds)


def crawl(base_url: str, db: Path, workdir: Path, env: dict[str, str], profile: Path | None = None) -> Crawl:
    """One ``scrapy crawl gongkai`` into ``db``, in its own process; CPU and peak RSS from its own rusage."""
    stats = workdir / "stats.json"
    stats.unlink(missing_ok=True)
    run_env = dict(env, GONGKAI_DB=str(db), GONGKAI_STATS_FILE=str(stats), GONGKAI_SPOOL_DIR=str(workdir / "spool"),
                   GONGKAI_RUN_HISTORY="off", MONGO_URI="", REDIS_URL="",
                   GONGKAI_SITES_DIR=str(bench_sites_dir(workdir)))
    peak_rss = workdir / "peak_rss_kb"
    peak_rss.unlink(missing_ok=True)
    cmd = [sys.executable, "-c", _CRAWL, str(peak_rss), str(profile or ""), "crawl", "gongkai", "-a", "site=demo",
           "-a", f"base_url={base_url}", *_settings_args(COMMON_SETTINGS)]
    log = workdir / "crawl.log"
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=run_env, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3) or not stats.exists():
        raise SystemExit(f"crawl into {db} failed (exit {proc.returncode}); log {log}:\n"
                         + log.read_text(errors="replace")[-3000:])
    values = json.loads(stats.read_text())
    rss_kb = int(peak_rss.read_text()) if peak_rss.exists() else usage.ru_maxrss
    return Crawl(int(values.get("downloader/response_count", 0)), int(values.get("item_scraped_count", 0)),
                 wall, usage.ru_utime + usage.ru_stime, rss_kb / 1024,
                 float(values.get("gongkai/progress/crawl_thread_cpu_seconds") or 0.0),
                 int(values.get("gongkai/store/writer_wait_ms") or 0),
                 int(values.get("gongkai/dedup/index_wait_ms") or 0),
                 int(values.get("gongkai/extract/workers_started") or 0),
                 float(values.get("gongkai/progress/crawl_thread_wait_seconds") or 0.0))


# Where a profiled crawl's CPU goes, by the file a function lives in (first match wins).
_AREAS = (("extraction", "gongkai_spider/extract/"), ("pipelines: dedup", "pipelines/dedup.py"),
          ("pipelines: spam", "pipelines/spam.py"), ("pipelines: clean/validate", "pipelines/"),
          ("store (SQLite)", "gongkai_spider/storage/"), ("sqlite3 C calls", "sqlite3.Connection"),
          ("json", "json/"), ("lxml / parsel", "lxml"), ("our middlewares/extensions", "gongkai_spider/"),
          ("Scrapy", "scrapy/"), ("Twisted", "twisted/"), ("numpy", "numpy"))


def profile_report(path: Path, pages: int, top: int = 25) -> None:
    """Own CPU (tottime) per area and the most expensive functions of a cProfile dump, per page."""
    import pstats

    stats = pstats.Stats(str(path))
    areas: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        area = next((a for a, key in _AREAS if key in where), "other (stdlib, builtins)")
        areas[area] = areas.get(area, 0.0) + tottime
        rows.append((tottime, cumtime, f"{Path(filename).name}:{line}({name})"))
    total = sum(areas.values())
    print(f"\nprofile ({path}): {1e3 * total / pages:.2f} ms CPU per page under cProfile, by area (own time):")
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:<30}{1e3 * seconds / pages:>7.3f} ms/page  {seconds / total:>5.1%}")
    print(f"top {top} functions by own time (ms per page own / cumulative):")
    for tottime, cumtime, where in sorted(rows, reverse=True)[:top]:
        print(f"  {1e3 * tottime / pages:>7.3f} {1e3 * cumtime / pages:>8.3f}  {where}")


def write_cost(db: Path, docs: list[dict], batch: int = 200) -> tuple[float, float]:
    """(µs per new document, µs per unchanged document) of ``upsert_many`` batches into ``db``."""
    store = SQLiteStore(db)
    try:
        costs = []
        for _pass in range(2):  # new, then the same documents again (only last_seen moves)
            started = time.perf_counter()
            for i in range(0, len(docs), batch):
                store.upsert_many(docs[i:i + batch])
            costs.append(1e6 * (time.perf_counter() - started) / len(docs))
        return costs[0], costs[1]
    finally:
        store.close()


def export_rates(db: Path) -> tuple[int, float, float]:
    """(documents, JSONL docs/s of `gongkai export`'s SQLite fast path, docs/s of the per-document path), per
    CPU second of this process (the wall rate on a loaded machine is mostly the wait for a core)."""
    import io

    from gongkai_spider.commands import export

    store = SQLiteStore(db)
    try:
        rates = []
        for write in (lambda out: export.write_stored_jsonl(store.iter_json("articles"), out),
                      lambda out: export.write_jsonl(store.iter_docs("articles"), out)):
            out = io.BytesIO()
            started = time.process_time()
            n = write(out)
            rates.append(n / (time.process_time() - started))
        return n, rates[0], rates[1]
    finally:
        store.close()


def _fresh_copy(source: Path | None, target: Path) -> Path:
    for old in target.parent.glob(target.name + "*"):
        old.unlink()
    if source is not None:
        conn = sqlite3.connect(source)  # everything in the main file before copying it alone
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.copyfile(source, target)
        copies = [target]
        index = fingerprint_index_file(source)
        if index.exists():  # a store keeps its sorted fingerprints between crawls
            copies.append(fingerprint_index_file(target))
            shutil.copyfile(index, copies[-1])
        # On disk before the crawl starts: otherwise the crawl's first fsync (the WAL checkpoint at close)
        # waits for the kernel to write back the whole fresh copy, seconds at 1M documents, none of it the crawl's.
        for path in copies:
            with path.open("rb+") as copy:
                os.fsync(copy.fileno())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100000,1000000", help="store sizes (default 0,100000,1000000)")
    parser.add_argument("--articles", type=int, default=5000, help="articles in the crawled portal (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians printed (default 3)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gongkai-scale",
                        help="where the stores are kept between runs (default /tmp/gongkai-scale)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the stores even if present")
    parser.add_argument("--settle", type=float, default=SETTLE_S,
                        help=f"seconds to wait after making each store's fresh copy, before its crawls "
                             f"(default {SETTLE_S:g}; see SETTLE_S)")
    parser.add_argument("--build-only", action="store_true", help="build the stores and stop")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the JSONL export rates (minutes at 1M: benchmarks/export.py measures them alone)")
    parser.add_argument("--profile", type=int, metavar="SIZE",
                        help="instead: one crawl under cProfile into the store of SIZE documents, and where its CPU goes")
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    masters = build_stores(sizes, args.dir, args.rebuild)
    if args.build_only:
        return 0

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPY_", "GONGKAI_", "MONGO_", "REDIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    portal = bench_portal(args.articles)
    empty_portal = build_portal(0)
    if args.profile is not None:
        with tempfile.TemporaryDirectory(prefix="gongkai-scale-", dir=args.dir) as tmp_name, \
                fast_serve(portal) as base_url:
            tmp = Path(tmp_name)
            db = _fresh_copy(masters.get(args.profile), tmp / "store.sqlite3")
            dump = args.dir / f"crawl-{args.profile}.prof"
            run = crawl(base_url, db, tmp, env, profile=dump)
            print(f"store {args.profile:,}: {run.pages} pages in {run.wall:.1f} s (profiled)")
            profile_report(dump, run.pages)
        return 0
    import store_bench

    docs = store_bench.make_docs(args.articles)
    for d in docs:  # the store stamps are the store's to set
        d["near_duplicate_of"] = None
    writes: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
    runs: dict[int, list[Crawl]] = {n: [] for n in sizes}
    startups: dict[int, list[Crawl]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="gongkai-scale-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        with fast_serve(portal) as base_url, fast_serve(empty_portal) as empty_url:
            print(f"portal: {len(portal.expected)} articles, {len(portal.pages)} pages at {base_url}; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
            for round_no in range(args.repeat):
                for n in sizes if round_no % 2 == 0 else sizes[::-1]:
                    db = _fresh_copy(masters.get(n), tmp / "store.sqlite3")
                    time.sleep(args.settle)  # every store alike (SETTLE_S)
                    startups[n].append(crawl(empty_url, db, tmp, env))
                    run = crawl(base_url, db, tmp, env)
                    runs[n].append(run)
                    writes[n].append(write_cost(db, docs))  # other URLs than the portal's: all new
                    print(f"  round {round_no + 1} store {n:>9,}: {run.pages} pages in {run.wall:.1f} s, "
                          f"start-up {startups[n][-1].wall:.2f} s, RSS {run.rss_mb:.0f} MB, items waited "
                          f"{run.writer_wait_ms} ms in all for the store's writer, the first "
                          f"{run.index_wait_ms} ms for the index load, {run.workers} extraction worker(s), the "
                          f"reactor thread {run.thread_cpu:.2f} s on a core and {run.thread_wait:.2f} s waiting for one",
                          flush=True)
    rows = {}
    threads: dict[int, float] = {}
    for n in sizes:
        pages_s = statistics.median(r.pages / r.wall for r in runs[n])
        cpu = statistics.median(1000 * r.cpu / r.pages for r in runs[n])
        rss = statistics.median(r.rss_mb for r in runs[n])
        rows[n] = (runs[n][0].pages, pages_s, cpu, rss, statistics.median(s.wall for s in startups[n]),
                   statistics.median(s.cpu for s in startups[n]))
        threads[n] = statistics.median(1000 * r.thread_cpu / r.pages for r in runs[n])
    base = rows[sizes[0]]
    print(f"\nstore size (median of {args.repeat})   pages   pages/s  ratio  CPU ms/page  ratio  peak RSS MB"
          "  start-up s (CPU s)")
    for n, (pages, pages_s, cpu, rss, startup, startup_cpu) in rows.items():
        print(f"{n:>28,}{pages:>8}{pages_s:>10.0f}{pages_s / base[1]:>7.2f}{cpu:>13.2f}{cpu / base[2]:>7.2f}"
              f"{rss:>13.0f}{startup:>12.2f} ({startup_cpu:.2f})")
    for n in sizes[1:]:  # each round crawls the stores one after the other: its own ratio, less of the drift
        per_round = [(r.pages / r.wall) / (b.pages / b.wall) for r, b in zip(runs[n], runs[sizes[0]], strict=True)]
        print(f"{n:>28,}  pages/s ratio round by round: " + ", ".join(f"{v:.2f}" for v in per_round)
              + f" (median {statistics.median(per_round):.2f}, spread {max(per_round) - min(per_round):.2f})")
    print("the crawl's reactor thread alone, CPU ms per page (what bounds its pages/s; the rest of the CPU is its "
          "extraction worker, the store's writer thread and the index load): "
          + ", ".join(f"{n:,}: {ms:.2f} ({ms / threads[sizes[0]]:.2f}x)" for n, ms in threads.items()))
    print(f"\nupsert_many after the crawl, batches of 200, {len(docs)} documents (median of {args.repeat}): "
          "µs per document")
    for n in sizes:
        new = statistics.median(w[0] for w in writes[n])
        same = statistics.median(w[1] for w in writes[n])
        print(f"{n:>28,}  new {new:>6.0f} ({new / statistics.median(w[0] for w in writes[sizes[0]]):.2f}x)"
              f"   unchanged {same:>6.0f} ({same / statistics.median(w[1] for w in writes[sizes[0]]):.2f}x)")
    export_db = None if args.no_export else masters.get(100_000) or masters.get(max(sizes))
    if export_db is not None:
        measured = [export_rates(export_db) for _ in range(args.repeat)]
        fast, slow = statistics.median(m[1] for m in measured), statistics.median(m[2] for m in measured)
        print(f"\nJSONL export of {measured[0][0]:,} documents (median of {args.repeat}): {fast:,.0f} docs per CPU "
              f"second from the stored JSON, {slow:,.0f} decoding each document ({fast / slow:.1f}x); need >= 20,000")
    largest = rows[max(sizes)]
    ok = largest[1] >= MIN_RATIO * base[1] and largest[4] <= MAX_STARTUP_S and largest[3] <= MAX_RSS_MB
    print(f"\nacceptance at {max(sizes):,} documents (pages/s >= {MIN_RATIO} x empty, start-up <= {MAX_STARTUP_S} s, "
          f"RSS <= {MAX_RSS_MB} MB): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
