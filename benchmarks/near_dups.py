#!/usr/bin/env python3
"""Near-duplicate precision and recall on a generated labelled set, and the cost of a lookup.

The set (gongkai_spider/demo/copies.py): ``--notices`` distinct notices from the demo portal's phrase tables
(templated like the real notices of one office), one copy of each with K random character edits
(K cycling over 1, 2, 3, 4, 5, 10, 20) and one repost with other page chrome. Every document goes through
the dedup pipeline in that order (notices first, so a copy's original is already indexed).

Prints precision (share of flagged documents that point at the notice they copy; a notice flagged at all
is a false positive), recall per kind of copy, and recall for copies with <= 5 edits.
Acceptance (issue 11): precision >= 0.99, recall >= 0.9 for copies with <= 5 edits.

``--demo N`` instead runs the stage over N articles generated exactly as the demo portal generates them
(three columns, no copies) and counts the articles given a near_duplicate_of (must be 0).

Usage: python3 benchmarks/near_dups.py [--notices 5000] [--seed 0] [--demo 60000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gongkai_spider.demo.copies import MemoryCandidates, demo_articles, labelled_set, score
from gongkai_spider.stats import CounterStats
from pipelines.dedup import DedupPipeline

MIN_PRECISION, MIN_RECALL = 0.99, 0.9
SMALL_EDITS = ("copy-1", "copy-2", "copy-3", "copy-4", "copy-5")


def run_labelled(notices: int, seed: int) -> int:
    data = labelled_set(notices, seed=seed)
    stats, store = CounterStats(), MemoryCandidates()
    pipeline = DedupPipeline(stats, store=store)
    near_of = {}
    started = time.process_time()
    for item in data:
        doc = pipeline.process_item(dict(item.doc))
        near_of[item.doc["_id"]] = doc["near_duplicate_of"]
        store.keep(doc)
    cpu = time.process_time() - started
    result = score(data, near_of)
    print(f"labelled set: {notices} notices + {len(data) - notices} copies and reposts (seed {seed}); "
          f"{1e3 * cpu / len(data):.2f} ms CPU per document")
    print(f"  precision {result.precision:.4f} ({result.correct} of {result.flagged} flagged point at a copy of the same notice)")
    for kind in sorted(result.found, key=lambda k: (not k.startswith("copy"), int(k[5:]) if k[5:].isdigit() else 0)):
        hit, total = result.found[kind]
        print(f"  recall {kind:<8} {hit / total:.3f} ({hit}/{total})")
    recall = result.recall(SMALL_EDITS)
    print(f"  recall, copies with <= 5 edits: {recall:.3f}   candidates rejected by the text check: "
          f"{stats.get_value('gongkai/dedup/rejected_candidate', 0)}")
    ok = result.precision >= MIN_PRECISION and recall >= MIN_RECALL
    print(f"acceptance (precision >= {MIN_PRECISION}, recall <= 5 edits >= {MIN_RECALL}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def run_demo(articles: int, seed: int) -> int:
    docs = demo_articles(-(-articles // 3), seed)
    stats, store = CounterStats(), MemoryCandidates()
    pipeline = DedupPipeline(stats, store=store)
    flagged = []
    started = time.process_time()
    for doc in docs:
        pipeline.process_item(doc)
        store.keep(doc)
        if doc["near_duplicate_of"] is not None:
            flagged.append((doc["_id"], doc["near_duplicate_of"]))
    cpu = time.process_time() - started
    print(f"demo articles: {len(docs)} (seed {seed}), near_duplicate_of set on {len(flagged)}; "
          f"simhash candidates rejected by the text check: {stats.get_value('gongkai/dedup/rejected_candidate', 0)}; "
          f"{1e3 * cpu / len(docs):.2f} ms CPU per article")
    for pair in flagged[:10]:
        print("  ", *pair)
    return 0 if not flagged else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", type=int, metavar="N", help="run over N demo-portal articles instead")
    args = parser.parse_args(argv)
    return run_demo(args.demo, args.seed) if args.demo else run_labelled(args.notices, args.seed)


if __name__ == "__main__":
    sys.exit(main())
