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

``--store PATH`` measures the stage against a stored index: ``--items`` demo-portal articles go through the
dedup pipeline in-process (built by ``from_crawler`` on an SQLite store, as a crawl builds it; nothing is
written), once against an empty store and once against PATH, taking turns ``--repeat`` times. Prints the CPU
per item (medians), the candidates per item within the simhash distance, those refused in memory by the
second fingerprint and those whose text was read from the store, and what computing the second fingerprint
costs per item. PATH is opened read-write: a store written before ``simhash2`` gets the column and its index
(a one-time pass over the table), so point it at a copy or a store built by ``benchmarks/scale.py``.

Usage: python3 benchmarks/near_dups.py [--notices 5000] [--seed 0] [--demo 60000]
       python3 benchmarks/near_dups.py --store /tmp/gongkai-scale/store-1000000-build2.sqlite3 [--items 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gongkai_spider.demo.copies import MemoryCandidates, demo_articles, labelled_set, score
from gongkai_spider.stats import CounterStats
from pipelines.dedup import DedupPipeline, normalize_for_hash, simhash_pair_unsigned, simhash_unsigned

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
          f"simhash candidates refused by the second fingerprint: "
          f"{stats.get_value('gongkai/dedup/rejected_fingerprint', 0)}, by the text check: "
          f"{stats.get_value('gongkai/dedup/rejected_candidate', 0)}; "
          f"{1e3 * cpu / len(docs):.2f} ms CPU per article")
    for pair in flagged[:10]:
        print("  ", *pair)
    return 0 if not flagged else 1


def _store_round(path: Path, docs: list[dict]) -> dict[str, float]:
    """One pass of ``docs`` through a DedupPipeline on the store at ``path``: CPU and candidates per item."""
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(settings_dict={"GONGKAI_DB": str(path), "MONGO_URI": ""})
    crawler.stats.open_spider()
    pipeline = DedupPipeline.from_crawler(crawler)
    started = time.process_time()
    pipeline.open_spider()
    load = time.process_time() - started
    source, read = pipeline._store, [0]
    texts = source.texts

    def counted(**kwargs):  # candidates whose text came from the store
        rows = texts(**kwargs)
        read[0] += len(rows)
        return rows

    source.texts = counted
    started = time.process_time()
    for doc in docs:
        pipeline.process_item(dict(doc))
    cpu = time.process_time() - started
    stats = crawler.stats
    refused = stats.get_value("gongkai/dedup/rejected_fingerprint", 0)
    compared = stats.get_value("gongkai/dedup/rejected_candidate", 0) + stats.get_value("gongkai/dedup/near_duplicate", 0)
    crawler._gongkai_store.close()
    return {"ms": 1e3 * cpu / len(docs), "load": load, "stored": stats.get_value("gongkai/dedup/index_loaded"),
            "candidates": (refused + compared) / len(docs), "refused": refused / len(docs), "read": read[0] / len(docs),
            "flagged": stats.get_value("gongkai/dedup/near_duplicate", 0)}


def run_store(path: Path, items: int, repeat: int, seed: int) -> int:
    if not path.exists():
        print(f"near_dups: no store at {path}", file=sys.stderr)
        return 2
    docs = demo_articles(-(-items // 3), seed)[:items]
    rounds: dict[str, list[dict[str, float]]] = {"empty": [], path.name: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):  # side by side: the stores take turns
            rounds["empty"].append(_store_round(Path(folder) / "empty.sqlite3", docs))
            rounds[path.name].append(_store_round(path, docs))
    print(f"dedup stage over {len(docs)} demo articles, in-process, medians of {repeat}")
    print(f"{'store':<24} {'stored':>9} {'load s CPU':>10} {'ms CPU/item':>11} {'ratio':>6} {'candidates/item':>15} "
          f"{'refused in memory':>17} {'texts read/item':>15} {'flagged':>7}")
    base = statistics.median(r["ms"] for r in rounds["empty"])
    for name, runs in rounds.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:<24} {med['stored']:>9,.0f} {med['load']:>10.2f} {med['ms']:>11.3f} {med['ms'] / base:>6.2f} "
              f"{med['candidates']:>15.3f} {med['refused']:>17.3f} {med['read']:>15.3f} {med['flagged']:>7.0f}")
    texts = [normalize_for_hash(d["title"]) + normalize_for_hash(d["body"]) for d in docs]
    costs = {}
    for fn in (simhash_unsigned, simhash_pair_unsigned):
        samples = []
        for _ in range(repeat):
            started = time.process_time()
            for text in texts:
                fn(text)
            samples.append(1e3 * (time.process_time() - started) / len(texts))
        costs[fn.__name__] = statistics.median(samples)
    print(f"fingerprints per item: simhash {costs['simhash_unsigned']:.3f} ms, simhash + second "
          f"{costs['simhash_pair_unsigned']:.3f} ms CPU (the second adds "
          f"{costs['simhash_pair_unsigned'] - costs['simhash_unsigned']:.3f} ms)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", type=int, metavar="N", help="run over N demo-portal articles instead")
    parser.add_argument("--store", type=Path, metavar="PATH", help="CPU per item against this SQLite store")
    parser.add_argument("--items", type=int, default=2000, help="demo articles per pass with --store")
    parser.add_argument("--repeat", type=int, default=3, help="passes per store with --store")
    args = parser.parse_args(argv)
    if args.store:
        return run_store(args.store, args.items, args.repeat, args.seed)
    return run_demo(args.demo, args.seed) if args.demo else run_labelled(args.notices, args.seed)


if __name__ == "__main__":
    sys.exit(main())
