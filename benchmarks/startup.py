#!/usr/bin/env python3
"""Crawl start-up against stores of several sizes: benchmarks/scale.py's start-up column alone.

The same command as scale.py's start-up (``scrapy crawl gongkai`` of a demo portal with no articles into a
fresh copy of each store, every pipeline, the SQLite store: imports, store open, near-duplicate index load,
the few listing pages, shutdown), ``--repeat`` rounds (default 3) with the stores taking turns; medians of
wall and CPU (the child's user + system) printed, with the ratios to the first size. The stores are
scale.py's (``--dir``, built there when missing), copied and fsynced before each crawl. ``--profile SIZE``:
one start-up under cProfile (process CPU time; the main thread only, not the index loader's) instead, and the
functions that took most of it.

A second column crawls a portal with one article, so the run ends only after that article went through the
dedup stage: the near-duplicate index is loaded in a thread of its own while the crawl starts, and a crawl
that closes before any item needed it stops the load, so only this column is sure to include all of it.

Acceptance (issue 11): start-up <= 3 s at a 1M-document store.

Usage: python3 benchmarks/startup.py [--sizes 0,1000000] [--repeat 3] [--dir DIR] [--profile SIZE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale import MAX_STARTUP_S, REPO, _fresh_copy, build_stores, crawl, fast_serve

from gongkai_spider.demo.portal import build_portal


def print_profile(path: Path, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nprofile ({path}): {total:.2f} s CPU under cProfile; top {top} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000000", help="store sizes (default 0,1000000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians printed (default 3)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "gongkai-scale",
                        help="where scale.py keeps its stores (default /tmp/gongkai-scale)")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="instead: one start-up under cProfile")
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    if args.profile is not None:
        sizes = [args.profile]
    masters = build_stores(sizes, args.dir, rebuild=False)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPY_", "GONGKAI_", "MONGO_", "REDIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    runs: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
    firsts: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}  # the one-article portal
    with tempfile.TemporaryDirectory(prefix="gongkai-startup-", dir=args.dir) as tmp_name, \
            fast_serve(build_portal(0)) as empty_url, fast_serve(build_portal({"seed": 1})) as one_url:
        tmp = Path(tmp_name)
        if args.profile is not None:
            dump = args.dir / f"startup-{args.profile}.prof"
            run = crawl(empty_url, _fresh_copy(masters.get(args.profile), tmp / "store.sqlite3"), tmp, env,
                        profile=dump)
            print(f"store {args.profile:,}: start-up {run.wall:.2f} s wall, {run.cpu:.2f} s CPU (profiled)")
            print_profile(dump)
            return 0
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        for round_no in range(args.repeat):
            for n in sizes:
                run = crawl(empty_url, _fresh_copy(masters.get(n), tmp / "store.sqlite3"), tmp, env)
                runs[n].append((run.wall, run.cpu))
                first = crawl(one_url, _fresh_copy(masters.get(n), tmp / "store.sqlite3"), tmp, env)
                if first.items != 1:
                    raise SystemExit(f"the one-article crawl into the {n:,} store scraped {first.items} items")
                firsts[n].append((first.wall, first.cpu))
                print(f"  round {round_no + 1} store {n:>9,}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU; "
                      f"one article {first.wall:.2f} s wall, {first.cpu:.2f} s CPU", flush=True)
    print(f"\nstart-up, median of {args.repeat} (wall and CPU seconds, ratio to the {sizes[0]:,} store):")
    print(f"{'store size':>12} {'no article: wall':>17} {'CPU':>12} {'one article: wall':>19} {'CPU':>12}")
    for n in sizes:
        cells = []
        for values in (runs, firsts):
            for k in (0, 1):
                value, base = (statistics.median(v[k] for v in values[m]) for m in (n, sizes[0]))
                cells.append(f"{value:.2f} ({value / base:.2f})")
        print(f"{n:>12,} {cells[0]:>17} {cells[1]:>12} {cells[2]:>19} {cells[3]:>12}")
    largest = max(statistics.median(w for w, _ in values[max(sizes)]) for values in (runs, firsts))
    print(f"\nacceptance at {max(sizes):,} documents (start-up <= {MAX_STARTUP_S} s, both portals): "
          f"{'PASS' if largest <= MAX_STARTUP_S else 'FAIL'}")
    return 0 if largest <= MAX_STARTUP_S else 1


if __name__ == "__main__":
    sys.exit(main())
