#!/usr/bin/env python3
"""`gongkai extract PAGE` against `python3 -c "import lxml.html"`: wall and CPU, side by side.

Both commands run in their own process (the same interpreter and environment, the repository first on
``PYTHONPATH``), taking turns within each of ``--repeat`` rounds (default 5) so a busy moment hits both; the
medians and their ratio are printed. CPU is the child's user + system time. ``--raw`` adds the extractor alone
(``gongkai extract --raw``). The page defaults to tests/fixtures/bad_input/article.html.

Our modules are timed as installed, from cached bytecode: the children write and read it under a temporary
``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` dropped), filled by a warm-up run, so the checkout is not
touched. ``--source`` times them compiled from source at every start instead (about 40 ms more).

Acceptance (issue 11): ``gongkai extract PAGE`` wall time <= 3.5 x ``python3 -c "import lxml.html"``.

Usage: python3 benchmarks/extract_startup.py [--repeat 5] [--page FILE] [--raw] [--source]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGE = ROOT / "tests" / "fixtures" / "bad_input" / "article.html"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command``; its output is discarded, a failure raised."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # cwd: `python3 -m` puts the working directory first on sys.path, before PYTHONPATH
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--page", type=Path, default=DEFAULT_PAGE, help="HTML file to extract")
    parser.add_argument("--raw", action="store_true", help="also time `gongkai extract --raw`")
    parser.add_argument("--source", action="store_true", help="no bytecode cache: compile our modules each time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gongkai-pycache-") as pycache:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        if args.source:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
        return measure(args, env)


def measure(args: argparse.Namespace, env: dict[str, str]) -> int:
    forms = {
        "import lxml.html": [sys.executable, "-c", "import lxml.html"],
        "gongkai extract": [sys.executable, "-m", "gongkai_spider.cli", "extract", str(args.page)],
    }
    if args.raw:
        forms["gongkai extract --raw"] = [*forms["gongkai extract"], "--raw"]
    for command in forms.values():  # warm the page cache and the bytecode
        timed(command, env)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in forms}
    for _ in range(args.repeat):
        for name, command in forms.items():
            runs[name].append(timed(command, env))

    base_wall = statistics.median(w for w, _ in runs["import lxml.html"])
    base_cpu = statistics.median(c for _, c in runs["import lxml.html"])
    print(f"median of {args.repeat}, side by side, {'from source' if args.source else 'cached bytecode'}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'command':<24} {'wall s':>7} {'CPU s':>7} {'x wall':>7} {'x CPU':>7}")
    for name, values in runs.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:<24} {wall:>7.3f} {cpu:>7.3f} {wall / base_wall:>7.2f} {cpu / base_cpu:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
