"""The store pipeline's writer thread: batches written off the reactor's thread, in order, with back-pressure,
stats applied on the reactor's thread, every document stored (or spooled) by the time close_spider returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.store import MAX_IN_FLIGHT

RUN = Path(__file__).with_name("store_writer_run.py")


def run(tmp_path: Path, docs: int, batch: int, write_seconds: float, *extra: str, nice: int = 0) -> dict:
    done = subprocess.run([sys.executable, str(RUN), str(tmp_path / "w.sqlite3"), str(tmp_path / "spool"),
                           str(docs), str(batch), str(write_seconds), *extra],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, WRITER_NICE=str(nice)))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_batches_are_written_on_the_writer_thread_and_counted_on_the_reactors(tmp_path: Path) -> None:
    out = run(tmp_path, docs=60, batch=10, write_seconds=0.0)
    assert out["writers"] == ["PoolThread-gongkai-store-writer-0"] * 6  # six full batches, nothing left at close
    assert out["stored"] == 60
    assert out["stats"]["gongkai/store/new"] == 60
    assert out["stat_threads"] == [out["main"]]  # Scrapy's stats dict is only touched on the reactor's thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_the_writer_thread_runs_below_the_reactors_priority_and_the_reactor_keeps_its_own(tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    out = run(tmp_path, docs=30, batch=10, write_seconds=0.0, nice=6)
    assert out["stored"] == 30
    assert out["main_nice"] == base
    assert out["writer_nice"] == [min(19, base + 6)] * 3
    assert run(tmp_path, docs=10, batch=10, write_seconds=0.0)["writer_nice"] == [base]  # 0: left alone


def test_a_slow_store_holds_the_crawl_back_instead_of_piling_up_batches(tmp_path: Path) -> None:
    out = run(tmp_path, docs=80, batch=10, write_seconds=0.15)
    assert out["stored"] == 80
    # Eight batches of 0.15 s: the first MAX_IN_FLIGHT are handed over at once, later ones wait their turn,
    # so feeding takes about as long as writing all but the last few batches, never the whole of it twice.
    assert out["waited"] and out["waited"][0] == (MAX_IN_FLIGHT + 1) * 10 - 1
    assert 0.15 * (8 - MAX_IN_FLIGHT - 1) <= out["fed"] < 0.15 * 8
    assert out["stats"]["gongkai/store/writer_waits"] == len(out["waited"])
    assert out["stats"]["gongkai/store/writer_wait_ms"] >= 1000 * 0.15 * (8 - MAX_IN_FLIGHT - 1) * 0.9


def test_a_failing_store_spools_from_the_writer_thread_and_loses_nothing(tmp_path: Path) -> None:
    out = run(tmp_path, 30, 10, 0.0, "fail")
    assert out["stored"] == 10
    assert out["stats"]["gongkai/store/spooled"] == 20
    assert out["stats"]["gongkai/store/errors"] >= 1
    assert len(list((tmp_path / "spool").rglob("*.jsonl"))) >= 1


def test_a_batch_hands_the_reactor_one_stats_change_per_site_and_outcome_not_one_per_document() -> None:
    from gongkai_spider.stats import CounterStats
    from pipelines.store import StorePipeline, _ReactorStats

    stats, calls = CounterStats(), []

    def call_from_thread(function, *args):
        calls.append(args)
        function(*args)

    pipeline = StorePipeline(stats=stats)
    pipeline.stats = _ReactorStats(stats, call_from_thread)
    outcomes = {f"id{n}": "new" if n < 150 else "updated" for n in range(200)}
    sites = {_id: "a" if n % 2 else "b" for n, _id in enumerate(outcomes)}
    pipeline._count({"new": 150, "updated": 50}, outcomes, sites)
    assert len(calls) == 2 + 4  # the two totals, then (a, b) x (new, updated)
    assert stats.get_value("gongkai/store/new") == 150
    assert stats.get_value("gongkai/site/a/store/new") == 75 and stats.get_value("gongkai/site/b/store/updated") == 25
