#!/usr/bin/env python3
"""Throughput benchmark: the full gongkai crawl against a bare parsel spider, side by side, in one run.

1. Generates the demo portal (gongkai_spider/demo/portal.py) with ``--articles`` articles (default 5,100,
   split over the seed-template, TRS and Hanweb columns) and serves it on 127.0.0.1 from an asyncio server in
   a thread of this process (prebuilt responses, keep-alive; its CPU is not counted).
2. Crawls it, each crawl in its own subprocess so its CPU time is read from the child's rusage:
   * ``bare``: benchmarks/bare_spider.py, parsel selectors, JSONL feed, at the full crawl's CONCURRENT_ITEMS:
     the acceptance baseline, like for like. Run a second time on Scrapy's default (CONCURRENT_ITEMS=100),
     printed as its own row (that setting alone costs the bare spider CPU of its own);
   * ``full``: ``scrapy crawl gongkai -a site=demo`` with the project settings (extraction, clean ->
     validate -> spam -> dedup -> store pipelines, middlewares, extensions) into a fresh SQLite store,
     once per ``--concurrent-items`` value (default 10 and Scrapy's default 100). Article pages are extracted
     in the crawl's worker process (GONGKAI_EXTRACT_WORKERS=auto: one on a machine with 2+ cores), whose CPU
     is counted with the crawl's; once more with GONGKAI_EXTRACT_WORKERS=0 (one process, one core, as the bare
     spider), printed as its own row.
   Both use the same politeness-free settings: no AutoThrottle, no delay, robots.txt off, 16 concurrent
   requests, 8 per host. Runs are interleaved; with ``--repeat N`` the medians are printed.
3. Prints per crawl: pages (responses), items, wall seconds, pages/s, CPU ms per page (whole process: start-up
   included, so slightly pessimistic), then the headline, like for like (both at the first
   ``--concurrent-items`` value): the ratio full/bare of pages/s and the extra CPU of extraction + pipelines
   per page (full minus bare); then what CONCURRENT_ITEMS=100 costs against 10. As a cross-check,
   extraction and the clean -> validate -> spam -> dedup chain are also timed in-process, without Scrapy
   (``time.process_time`` over every article page of the portal).
4. Bulk upsert rates of the stores (benchmarks/store_bench.py): SQLite, mongomock-ng, and MongoDB when
   TEST_MONGO_URI is set.

Acceptance: like-for-like ratio full/bare >= 0.7 (issue 11) and extraction + pipelines <= 3 ms CPU per page.

Usage:
  python3 benchmarks/throughput.py [--articles 5100] [--repeat 3] [--concurrent-items 10,100] [--no-store]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

import store_bench

from gongkai_spider import settings as project_settings
from gongkai_spider.demo.portal import COLUMNS, Portal, build_portal

REPO = Path(__file__).resolve().parents[1]
BARE_SPIDER = Path(__file__).resolve().parent / "bare_spider.py"

# The same for both crawls: no politeness delays against our own local server.
COMMON_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "ROBOTSTXT_OBEY": "0",
    "CONCURRENT_REQUESTS": "16",
    # The total is the limit, as it was in practice before the downloader kept the per-domain one.
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "INFO",
    "TELNETCONSOLE_ENABLED": "0",
    # The bare spider fetches no attachment files; the full crawl's downloads would be pages the bare one
    # never pays for (benchmarks/attachments.py measures them).
    "GONGKAI_ATTACHMENTS_ENABLED": "0",
    # The full crawl's downloader on both sides (gongkai_spider/downloader.py): Scrapy's starts every request
    # queued in a slot at once, and the connections over the per-domain limit are closed and opened again.
    "DOWNLOADER": "gongkai_spider.downloader.Downloader",
    # The project's bound on responses held unfinished (settings.py), on both sides: the bare spider finishes each
    # page in its callback and never nears it; the full crawl would otherwise run downloads far ahead of its worker.
    "SCRAPER_SLOT_MAX_ACTIVE_SIZE": str(project_settings.SCRAPER_SLOT_MAX_ACTIVE_SIZE),
}
BENCH_COLUMNS = ("seed", "trs", "hanweb")
MIN_RATIO = 0.7
MAX_EXTRA_CPU_MS = 3.0


@dataclass
class Run:
    name: str
    pages: int
    items: int
    stored: int
    wall: float
    cpu: float
    own_cpu: float = 0.0  # the crawl process alone (gongkai/progress/cpu_seconds), without its workers
    thread_cpu: float = 0.0  # its reactor thread alone (gongkai/progress/crawl_thread_cpu_seconds)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall

    @property
    def cpu_ms_per_page(self) -> float:
        return 1000 * self.cpu / self.pages


class _PortalProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive responder for the demo portal: GET and HEAD answered from prebuilt
    responses, POST (the API columns) through ``Portal.respond`` with the request body read by Content-Length."""

    def __init__(self, portal: Portal, cache: dict[bytes, tuple[bytes, bytes]]) -> None:
        self.portal, self.cache, self.buffer = portal, cache, b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head_lines = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head_lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the body has not all arrived
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target = [*head_lines[0].split(b" ", 2), b"", b""][:2]
            if method in (b"GET", b"HEAD"):
                head, payload = self._cached(target)
            else:
                head, payload = self._build(method.decode("latin-1"), target, body, headers)
            self.transport.write(head if method == b"HEAD" else head + payload)

    def _cached(self, target: bytes) -> tuple[bytes, bytes]:
        cached = self.cache.get(target)
        if cached is None:
            cached = self.cache[target] = self._build("GET", target, b"", {})
        return cached

    def _build(self, method: str, target: bytes, body: bytes, headers: dict[str, str]) -> tuple[bytes, bytes]:
        status, payload, content_type = self.portal.respond(method, target.decode("latin-1"), body, headers)
        reason = "OK" if status == 200 else "Not Found"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
            "Server: gongkai-bench\r\n\r\n"
        ).encode("latin-1")
        return head, payload


def bench_sites_dir(tmp: Path) -> Path:
    """A sites folder whose ``demo`` config starts at the three HTML columns only (see ``bench_portal``): the
    empty API columns would only add requests and an ``empty_listing`` alert."""
    import yaml

    config = yaml.safe_load((REPO / "gongkai_spider" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
    paths = {COLUMNS[name] for name in BENCH_COLUMNS}
    config["start_urls"] = [u for u in config["start_urls"] if isinstance(u, str) and u in paths]
    folder = tmp / "sites"
    folder.mkdir(exist_ok=True)
    (folder / "demo.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return folder


def bench_portal(articles: int) -> Portal:
    """The demo portal with ``articles`` split over the three HTML columns the bare spider walks (seed, TRS,
    Hanweb); the API columns are there but empty, so both crawls fetch the same article pages."""
    return build_portal(dict.fromkeys(BENCH_COLUMNS, _per_column(articles)))


def _per_column(articles: int) -> int:
    return -(-articles // len(BENCH_COLUMNS))


@contextmanager
def fast_serve(portal: Portal) -> Iterator[str]:
    """Serve ``portal`` on 127.0.0.1 from an asyncio loop in a thread of this process; yields the base URL.

    The demo server (http.server, a thread per connection) tops out at a few hundred pages/s here, which
    would hide the crawlers' own costs; this one answers thousands per second on one core."""
    loop = asyncio.new_event_loop()
    cache: dict[bytes, tuple[bytes, bytes]] = {}
    server = loop.run_until_complete(
        loop.create_server(lambda: _PortalProtocol(portal, cache), "127.0.0.1", 0, backlog=128)
    )
    thread = threading.Thread(target=loop.run_forever, name="bench-portal", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        server.close()
        loop.close()


def measure_in_process(portal: Portal, limit: int | None = None) -> tuple[int, float, float]:
    """(pages, extract_detail ms/page, pipelines ms/page) over the portal's article pages, in this process."""
    import asyncio as _asyncio
    import inspect

    from scrapy.exceptions import DropItem

    from gongkai_spider.extract import extract_detail
    from gongkai_spider.items import ArticleItem
    from gongkai_spider.spiders.gongkai import DETAIL_FIELDS
    from gongkai_spider.stats import CounterStats
    from pipelines.clean import CleanPipeline
    from pipelines.dedup import DedupPipeline
    from pipelines.spam import SpamPipeline
    from pipelines.validate import ValidatePipeline

    base = "http://bench.example.gov.cn"
    stats = CounterStats()
    chain = [CleanPipeline(stats), ValidatePipeline(stats), SpamPipeline(stats), DedupPipeline(stats)]
    pages = [
        (base + doc["url"], portal.lookup(doc["url"])[0]) for doc in portal.expected[:limit]
    ]  # page 1 each
    extract_s = pipe_s = 0.0
    for url, body in pages:
        t0 = time.process_time()
        result = extract_detail(body, url)
        t1 = time.process_time()
        item = ArticleItem({name: result.get(name) for name in DETAIL_FIELDS})
        item.update(
            url=url, site="demo", list_url=base + "/", _page_signals=result.get("signals"), _page_host="bench"
        )
        try:
            for pipeline in chain:
                item = pipeline.process_item(item)
                if inspect.isawaitable(item):
                    item = _asyncio.run(item)
        except DropItem:
            pass
        pipe_s += time.process_time() - t1
        extract_s += t1 - t0
    return len(pages), 1000 * extract_s / len(pages), 1000 * pipe_s / len(pages)


def _settings_args(settings: dict[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in ("-s", f"{key}={value}")]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_crawl(name: str, cmd: list[str], cwd: Path, env: dict[str, str], stats_file: Path, log: Path) -> Run:
    """Run one crawl subprocess (the only child alive) and read its wall time, CPU time and stats."""
    stats_file.unlink(missing_ok=True)
    cpu0, wall0 = _child_cpu(), time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall, cpu = time.perf_counter() - wall0, _child_cpu() - cpu0
    if proc.returncode != 0 or not stats_file.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{name}: crawl failed (exit {proc.returncode}); log {log}:\n{tail}")
    stats = json.loads(stats_file.read_text())
    bad = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if "] WARNING:" in line or "] ERROR:" in line
    ]
    if bad:
        print(f"  note: {name} logged {len(bad)} warnings/errors, first: {bad[0]}", file=sys.stderr)
    stored = sum(int(stats.get(f"gongkai/store/{k}", 0)) for k in ("new", "updated", "unchanged"))
    return Run(
        name,
        int(stats.get("downloader/response_count", 0)),
        int(stats.get("item_scraped_count", 0)),
        stored,
        wall,
        cpu,
        float(stats.get("gongkai/progress/cpu_seconds") or 0.0),
        float(stats.get("gongkai/progress/crawl_thread_cpu_seconds") or 0.0),
    )


def run_bare(base_url: str, tmp: Path, env: dict[str, str], concurrent_items: int | None = None) -> Run:
    """The bare spider on Scrapy's defaults (``concurrent_items`` None: CONCURRENT_ITEMS=100), or with the
    full crawl's CONCURRENT_ITEMS for a like-for-like baseline."""
    # Run outside the repository so Scrapy finds no scrapy.cfg: the bare spider gets Scrapy's defaults only.
    workdir = tmp / f"bare-{concurrent_items or 'default'}"
    workdir.mkdir(exist_ok=True)
    out, stats = workdir / "items.jsonl", workdir / "stats.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "runspider",
        str(BARE_SPIDER),
        *(_settings_args({"CONCURRENT_ITEMS": str(concurrent_items)}) if concurrent_items else []),
        "-a",
        f"base_url={base_url}",
        "-a",
        f"stats_file={stats}",
        "-o",
        f"{out}:jsonlines",
        *_settings_args(COMMON_SETTINGS),
    ]
    return _run_crawl("bare", cmd, workdir, env, stats, workdir / "crawl.log")


def run_full(base_url: str, tmp: Path, env: dict[str, str], concurrent_items: int,
             extract_workers: str = "auto") -> Run:
    workdir = tmp / f"full-{concurrent_items}-{extract_workers}"
    workdir.mkdir(exist_ok=True)
    db, stats = workdir / "gongkai.sqlite3", workdir / "stats.json"
    for path in workdir.glob("gongkai.sqlite3*"):
        path.unlink()
    run_env = dict(
        env,
        GONGKAI_DB=str(db),
        GONGKAI_STATS_FILE=str(stats),
        GONGKAI_SPOOL_DIR=str(workdir / "spool"),
        GONGKAI_RUN_HISTORY="",
        GONGKAI_SITES_DIR=str(bench_sites_dir(tmp)),
        MONGO_URI="",
        REDIS_URL="",
    )
    settings = dict(COMMON_SETTINGS, CONCURRENT_ITEMS=str(concurrent_items), GONGKAI_EXTRACT_WORKERS=extract_workers)
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "gongkai",
        "-a",
        "site=demo",
        "-a",
        f"base_url={base_url}",
        *_settings_args(settings),
    ]
    return _run_crawl(
        f"full CONCURRENT_ITEMS={concurrent_items} GONGKAI_EXTRACT_WORKERS={extract_workers}", cmd, REPO, run_env,
        stats, workdir / "crawl.log"
    )


def _median_run(runs: list[Run]) -> Run:
    return Run(
        runs[0].name,
        runs[0].pages,
        runs[0].items,
        runs[0].stored,
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.own_cpu for r in runs),
        statistics.median(r.thread_cpu for r in runs),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Full gongkai crawl vs a bare parsel spider; store upsert rates."
    )
    parser.add_argument("--articles", type=int, default=5100, help="articles in the portal (default 5100)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each crawl; medians printed (default 1)"
    )
    parser.add_argument(
        "--concurrent-items",
        default="10,100",
        help="CONCURRENT_ITEMS values for the full crawl; the first is the one judged (default 10,100)",
    )
    parser.add_argument("--no-store", action="store_true", help="skip the store upsert benchmark")
    parser.add_argument(
        "--store-docs", type=int, default=5000, help="documents for the SQLite/MongoDB upserts"
    )
    args = parser.parse_args(argv)
    items_values = [int(v) for v in args.concurrent_items.split(",") if v.strip()]

    portal = bench_portal(args.articles)
    per_column = _per_column(args.articles)
    n_articles = len(portal.expected)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SCRAPY_", "GONGKAI_", "MONGO_", "REDIS_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    results: dict[str, list[Run]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="gongkai-throughput-") as tmp_name,
        fast_serve(portal) as base_url,
    ):
        tmp = Path(tmp_name)
        print(
            f"portal: {n_articles} articles ({per_column} per column: seed, TRS, Hanweb), "
            f"{len(portal.pages)} pages, served at {base_url}; {os.cpu_count()} CPUs",
            flush=True,
        )
        for _ in range(args.repeat):
            results.setdefault("bare", []).append(run_bare(base_url, tmp, env))
            results.setdefault("bare_same", []).append(run_bare(base_url, tmp, env, items_values[0]))
            for value in items_values:
                run = run_full(base_url, tmp, env, value)
                results.setdefault(f"full{value}", []).append(run)
            results.setdefault("full_inline", []).append(run_full(base_url, tmp, env, items_values[0], "0"))
    runs = {key: _median_run(value) for key, value in results.items()}

    suffix = f" (median of {args.repeat})" if args.repeat > 1 else ""
    print(
        f"\n{'crawl' + suffix:<44}{'pages':>7}{'items':>7}{'stored':>7}{'wall s':>8}{'pages/s':>9}{'CPU ms/page':>12}"
    )
    judged = items_values[0]
    labels = {"bare_same": f"bare: parsel -> JSONL, CONC_ITEMS={judged}",
              "bare": "bare, Scrapy default (CONC_ITEMS=100)"}
    labels.update({f"full{v}": f"full: gongkai -> SQLite, CONC_ITEMS={v}" for v in items_values})
    labels["full_inline"] = f"full, extraction inline (WORKERS=0), {judged}"
    order = ["bare_same", *(f"full{v}" for v in items_values), "full_inline", "bare"]
    for key in order:
        run = runs[key]
        stored = "-" if key.startswith("bare") else str(run.stored)
        print(
            f"{labels[key]:<44}{run.pages:>7}{run.items:>7}{stored:>7}{run.wall:>8.2f}{run.pages_per_s:>9.0f}"
            f"{run.cpu_ms_per_page:>12.2f}"
        )

    # The headline is like for like: the bare spider at the full crawl's CONCURRENT_ITEMS. Scrapy's default
    # (100) costs the bare spider CPU of its own, so comparing against it mixes that cost into the ratio.
    full, bare = runs[f"full{judged}"], runs["bare_same"]
    ratio = full.pages_per_s / bare.pages_per_s
    extra = full.cpu_ms_per_page - bare.cpu_ms_per_page
    print(
        f"\nlike for like (both CONCURRENT_ITEMS={judged}): ratio full/bare pages/s {ratio:.2f} "
        f"(need >= {MIN_RATIO}), CPU per page full/bare {full.cpu_ms_per_page / bare.cpu_ms_per_page:.2f}"
    )
    if args.repeat > 1:  # the rounds took turns: each round's ratio shows how far the machine moved both
        rounds = ", ".join(f"{f.pages_per_s / b.pages_per_s:.2f}"
                           for f, b in zip(results[f"full{judged}"], results["bare_same"], strict=True))
        print(f"  round by round: {rounds}")
    print(f"extraction + pipelines: {extra:.2f} ms CPU per page (full - bare; need <= {MAX_EXTRA_CPU_MS}); the full "
          "crawl's CPU includes its extraction worker's")
    if full.own_cpu:
        print(f"the full crawl's own process: {1000 * full.own_cpu / full.pages:.2f} ms CPU per page (the rest, "
              f"{full.cpu_ms_per_page - 1000 * full.own_cpu / full.pages:.2f} ms, in its extraction worker)")
    if full.thread_cpu:
        print(f"the full crawl's reactor thread: {1000 * full.thread_cpu / full.pages:.2f} ms CPU per page (the rest "
              "of its process: the store's writer thread, the near-duplicate index load), against the bare "
              f"spider's {bare.cpu_ms_per_page:.2f} ms in all")
    inline = runs["full_inline"]
    print(f"full with extraction in the crawl's own process (GONGKAI_EXTRACT_WORKERS=0, one core like the bare "
          f"spider): ratio {inline.pages_per_s / bare.pages_per_s:.2f}, {inline.cpu_ms_per_page:.2f} ms CPU per page")
    default = runs["bare"]
    print(
        f"for reference, bare on Scrapy's default CONCURRENT_ITEMS=100: {default.pages_per_s:.0f} pages/s, "
        f"{default.cpu_ms_per_page:.2f} ms CPU per page (full/this {full.pages_per_s / default.pages_per_s:.2f})"
    )
    if len(items_values) > 1:
        for value in items_values[1:]:
            other = runs[f"full{value}"]
            change = other.cpu_ms_per_page / full.cpu_ms_per_page - 1
            print(
                f"CONCURRENT_ITEMS={value} vs {items_values[0]}: {change:+.0%} CPU per page "
                f"({other.cpu_ms_per_page:.2f} vs {full.cpu_ms_per_page:.2f} ms), "
                f"{other.pages_per_s / full.pages_per_s - 1:+.0%} pages/s"
            )
    n, extract_ms, pipe_ms = measure_in_process(portal)
    print(
        f"in-process, no Scrapy ({n} article pages): extract_detail {extract_ms:.2f} ms/page, "
        f"clean+validate+spam+dedup {pipe_ms:.2f} ms/page"
    )
    ok = ratio >= MIN_RATIO and extra <= MAX_EXTRA_CPU_MS and full.stored == n_articles
    if full.stored != n_articles:
        print(f"full crawl stored {full.stored} documents, expected {n_articles}")

    if not args.no_store:
        print("\nstore bulk upserts (documents/s, batches of 200):")
        rows = store_bench.run(args.store_docs, 500, os.environ.get("TEST_MONGO_URI") or None)
        print("\n".join(store_bench.format_rows(rows)))
        if not os.environ.get("TEST_MONGO_URI"):
            print(
                "(MongoDB server: set TEST_MONGO_URI to measure one; mongomock-ng says nothing about its speed)"
            )
    print(f"\nacceptance: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
