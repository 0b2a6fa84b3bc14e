#!/usr/bin/env python3
"""Search benchmark: recall against a brute-force scan, query time at 100k and 1M documents, index size per
document, and the extra CPU the index costs per stored page. Not a test; prints figures for docs/SCHEMA.md.

Documents are generated: the demo portal's phrase tables (gongkai_spider/demo/text.py) for titles and most
paragraphs, plus sentences of the shared corpus's gold texts (``--corpus``, default ../shared/corpus/pages, read
at run time, never stored in the repository) for a wider vocabulary; bodies of about 1,000 characters, one
document in ten with an attachment text. Stores are built through ``SQLiteStore.upsert_many`` in batches of 200,
exactly as the crawl writes them, and kept under ``--dir`` (default /tmp/gongkai-search-bench) for later runs.

  python3 benchmarks/search.py recall   [--docs 20000]        # SQLite and MongoDB bigrams vs a scan; jieba
  python3 benchmarks/search.py cpu      [--docs 10000] [--repeat 3] [--demo-pages]   # with / without the index
  python3 benchmarks/search.py cpu      --base 1000000 [--docs 10000]   # the same, into a store of 1M documents
  python3 benchmarks/search.py queries  --docs 100000 [--repeat 3]    # builds the store once, then times queries
  python3 benchmarks/search.py queries  --docs 1000000

jieba (``recall`` only) comes from the ``bench`` extra; without it that row is skipped.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import resource
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from gongkai_spider.demo import text as demo_text
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.search import matches, parse_query
from gongkai_spider.search.mongo import search_field, text_clause
from gongkai_spider.storage.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
BATCH = 200
# Query word lists: policy topics analysts search for, by length. Two-character words are the hard case for a
# trigram index; one-character ones are listed for completeness.
QUERIES: dict[int, list[str]] = {
    1: ["镇", "税", "网"],
    2: ["低保", "营商", "安全", "防汛", "补贴", "监察", "审批", "疫情", "养老", "招生", "整改", "通知"],
    3: ["低保户", "营商环", "安全生", "垃圾分", "就业创", "纪检监", "医疗保"],
    4: ["安全生产", "营商环境", "乡村振兴", "垃圾分类", "减税降费", "森林防火", "数据共享", "监察机关", "老旧小区"],
    6: ["安全生产检查", "营商环境优化", "农村人居环境", "城乡居民医疗", "就业创业补贴", "养老服务体系"],
}
BENCH_QUERIES = {"2-char": ["防汛", "营商", "安全", "疫情"], "4-char": ["营商环境", "安全生产", "减税降费", "监察机关"]}


def corpus_sentences(folder: str) -> list[str]:
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.txt"))):
        text = Path(path).read_text(encoding="utf-8")
        out += [s.strip() for s in re.split(r"(?<=[。！？])", text) if 8 <= len(s.strip()) <= 200]
    return out


def generate(n: int, sentences: list[str], seed: int = 7, host: str = "www"):
    """``n`` store-ready documents (deterministic for a seed; ``host`` keeps two sets' URLs apart)."""
    maker = demo_text.TextMaker(seed)
    rng = maker.rng
    start = datetime(2015, 1, 1, 9, 0, tzinfo=SHANGHAI)
    for i in range(n):
        topic, place, org = maker.topic_place_org()
        title = maker._fill(rng.choice(demo_text._TITLE_TEMPLATES), topic=topic, place=place, org=org)
        paras = maker.paragraphs(rng.randint(5, 12), topic, place, org)
        for _ in range(rng.randint(1, 4) if sentences else 0):
            paras.insert(rng.randrange(len(paras)), "".join(rng.choice(sentences) for _ in range(rng.randint(1, 3))))
        body = "\n".join(paras)
        url = f"http://{host}.site{i % 10}.gov.cn/art/{i}.html"
        doc = {"_id": hashlib.sha1(url.encode()).hexdigest(), "url": url, "site": f"site{i % 10}",
               "title": title, "publish_time": start + timedelta(minutes=5 * i + rng.randrange(5)),
               "author": org, "source": org, "keywords": [topic], "body": body,
               "attachments": [], "doc_meta": {"issuer": org},
               "spam": {"is_spam": False, "score": 0.0, "reasons": []},
               "content_hash": hashlib.sha1(f"{title}\n{body}".encode()).hexdigest()}
        if i % 10 == 3:
            doc["attachments"] = [{"name": "附件1.pdf", "url": url + ".pdf",
                                   "text": "\n".join(maker.paragraphs(3, topic, place, org))}]
        yield doc


def _cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def build(path: Path, n: int, sentences: list[str], *, search: bool = True, docs=None) -> tuple[float, int, float]:
    """Write ``n`` generated documents (or ``docs``) into the store at ``path`` (new or not); (CPU seconds of
    upsert_many, documents, the system CPU seconds among them)."""
    store = SQLiteStore(path)
    if not search:
        store._search.sync = lambda *a, **k: None  # the store as it was before the index
    user = system = 0.0
    batch: list[dict] = []
    done = 0

    def write() -> None:
        nonlocal user, system, done
        u, s = _cpu()
        store.upsert_many(batch)
        u2, s2 = _cpu()
        user, system, done = user + u2 - u, system + s2 - s, done + len(batch)
        batch.clear()

    try:
        for doc in docs if docs is not None else generate(n, sentences):
            batch.append(doc)
            if len(batch) == BATCH:
                write()
                if done % 100_000 == 0:
                    print(f"  {path.name}: {done} documents", file=sys.stderr, flush=True)
        if batch:
            write()
    finally:
        store.close()
    return user + system, done, system


def bulk_build(path: Path, n: int, sentences: list[str], chunk: int = 10_000) -> float:
    """A large store fast: the rows and the index entries the store writes (``storage.sqlite._row``,
    ``SQLiteSearch._add_many``), without the per-batch change detection: the rows 10,000 documents per
    transaction, the index entries ``BATCH`` per transaction as a crawl writes them, so that the index has the
    segments a crawl leaves (FTS5 writes one per transaction and merges them as they pile up: its later
    merges, what the ``cpu`` mode measures at 1M, depend on that shape). Past 100,000 documents the texts
    repeat (100,000 generated, then the same with paragraphs rotated)."""
    from gongkai_spider.storage.base import prepare_doc, utc_now
    from gongkai_spider.storage.sqlite import _COLUMNS, _MARKS, _row

    store = SQLiteStore(path)
    conn, now, t0 = store._conn, utc_now(), time.process_time()
    # building, not crawling: no fsync, a large page cache and rare checkpoints (readers still see a consistent
    # snapshot, so `queries` can be run on the growing file)
    for pragma in ("synchronous=OFF", "cache_size=-262144", "wal_autocheckpoint=50000"):
        conn.execute(f"PRAGMA {pragma}")
    pool = list(generate(min(n, 100_000), sentences))
    batch: list[dict] = []

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO articles ({_COLUMNS}) VALUES ({_MARKS})", [_row(d) for d in batch])
        conn.execute("COMMIT")
        for i in range(0, len(batch), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            store._search._add_many("articles", [(d["_id"], d) for d in batch[i:i + BATCH]])
            conn.execute("COMMIT")
        batch.clear()

    try:
        for i in range(n):
            base, turn = pool[i % len(pool)], i // len(pool)
            doc = dict(base)
            if turn:
                paras = base["body"].split("\n")
                url = f"{base['url']}?copy={turn}"
                doc.update(url=url, _id=hashlib.sha1(url.encode()).hexdigest(),
                           body="\n".join(paras[turn % len(paras):] + paras[:turn % len(paras)]),
                           publish_time=base["publish_time"] - timedelta(days=3650 * turn / 10))
            batch.append(prepare_doc({**doc, "first_seen": now, "last_seen": now, "updated_at": now, "version": 1}))
            if len(batch) == chunk:
                flush()
                if (i + 1) % 100_000 == 0:
                    print(f"  {path.name}: {i + 1} documents", file=sys.stderr, flush=True)
        if batch:
            flush()
    finally:
        store.close()
    return time.process_time() - t0


def open_built(directory: Path, n: int, sentences: list[str]) -> SQLiteStore:
    path = directory / f"search-{n}.sqlite3"
    marker = path.with_suffix(".done")
    if not marker.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        wall = time.perf_counter()
        if n > 50_000:
            cpu, how = bulk_build(path, n, sentences), "bulk"
        else:
            cpu, how = build(path, n, sentences)[0], "upsert_many"
        marker.write_text(f"{n}\n")
        print(f"built {path} ({how}): {n} documents, {cpu:.0f} s CPU, {time.perf_counter() - wall:.0f} s wall",
              file=sys.stderr)
    return SQLiteStore(path)


# -- measurements -------------------------------------------------------------------------------------------


def recall(found: set[str], truth: set[str]) -> float:
    return len(found & truth) / len(truth) if truth else 1.0


def cmd_recall(args: argparse.Namespace, sentences: list[str]) -> None:
    directory = Path(args.dir)
    store = open_built(directory, args.docs, sentences)
    docs = list(store.iter_docs("articles"))
    try:
        import jieba
        jieba_ok = True
    except ImportError:
        jieba_ok = False
    if jieba_ok:
        import jieba

        jieba.setLogLevel(60)
        jieba.initialize()
        t0 = time.process_time()
        jieba_tokens = [set(jieba.cut_for_search(" ".join(d.get(k) or "" for k in ("title", "body")).lower()))
                        for d in docs]
        jieba_cpu = (time.process_time() - t0) / len(docs)
    t0 = time.process_time()
    bigram_tokens = []
    for d in docs:
        field = search_field(d)
        bigram_tokens.append(set(field["title"].split()) | set(field["text"].split()))
    bigram_cpu = (time.process_time() - t0) / len(docs)
    print(f"recall against a scan of {len(docs)} documents (the queries' true hits: every document holding the term)")
    print(f"{'len':>3} {'query':8} {'hits':>6}  {'SQLite FTS5':>11} {'Mongo bigram':>12} {'jieba':>6}")
    per_len: dict[int, list[tuple[float, float, float | None]]] = {}
    for length, queries in QUERIES.items():
        for q in queries:
            terms = parse_query(q)
            truth = {d["_id"] for d in docs if matches(d, terms)}
            sqlite_found = {i for i, _ in store.search_ids(terms, "articles", None, 10**7)}
            clause = text_clause(terms)
            wanted = set() if clause is None else {g.strip('"') for g in clause["$search"].split()}
            # bigram candidates (the text index) confirmed by the regex (exact): what the MongoDB query returns
            mongo_found = {d["_id"] for d, toks in zip(docs, bigram_tokens, strict=True)
                           if wanted <= toks and matches(d, terms)}
            jieba_recall = None
            if jieba_ok:
                words = [w for w in jieba.cut(q) if w.strip()]
                jieba_found = {d["_id"] for d, toks in zip(docs, jieba_tokens, strict=True) if all(w in toks for w in words)}
                jieba_recall = recall(jieba_found, truth)
            exact = sqlite_found <= truth and mongo_found <= truth
            per_len.setdefault(length, []).append((recall(sqlite_found, truth), recall(mongo_found, truth),
                                                   jieba_recall))
            print(f"{length:>3} {q:8} {len(truth):>6}  {recall(sqlite_found, truth):>11.3f} "
                  f"{recall(mongo_found, truth):>12.3f} "
                  f"{'-' if jieba_recall is None else f'{jieba_recall:.3f}':>6}" + ("" if exact else "  EXTRA HITS"))
    for length, rows in per_len.items():
        js = [r[2] for r in rows if r[2] is not None]
        print(f"length {length}: min recall SQLite {min(r[0] for r in rows):.3f}, MongoDB bigrams "
              f"{min(r[1] for r in rows):.3f}" + (f", jieba {min(js):.3f} (mean {statistics.mean(js):.3f})" if js else ""))
    sizes = [len(search_field(d)["title"]) + len(search_field(d)["text"]) for d in docs[:2000]]
    print(f"MongoDB _search field: {statistics.mean(sizes):.0f} characters per document (UTF-8 about 2.3x bytes); "
          f"bigrams {bigram_cpu * 1000:.3f} ms CPU per document" +
          (f"; jieba cut_for_search {jieba_cpu * 1000:.3f} ms" if jieba_ok else ""))
    store.close()


def cmd_cpu(args: argparse.Namespace, sentences: list[str]) -> None:
    """Extra CPU per stored page: the same documents into a store with and without the index. ``--base N``: into
    a copy of the ``queries`` store of N documents (index merges cost more as the index grows), runs alternating,
    each adding ``--docs`` new pages; else into a fresh store each run."""
    directory = Path(args.dir)
    demo = None
    if args.demo_pages:  # the throughput benchmark's demo portal pages (benchmarks/store_bench.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from store_bench import make_docs

        demo = make_docs(args.docs)
    if args.base:
        base = open_built(directory, args.base, sentences)
        base._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        base.close()
        copy = directory / f"cpu-base-{args.base}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
        shutil.copyfile(directory / f"search-{args.base}.sqlite3", copy)
    rows: dict[str, list[float]] = {"with index": [], "without": []}
    system: dict[str, list[float]] = {"with index": [], "without": []}
    try:
        for r in range(args.repeat):
            for name, search in (("without", False), ("with index", True)) if r % 2 else (("with index", True), ("without", False)):
                docs = demo
                if args.base:
                    path = copy
                    if docs is None:  # new pages for every run: none of them is in the store yet
                        docs = generate(args.docs, sentences, seed=100, host=f"cpu{r}{int(search)}")
                else:
                    path = directory / f"cpu-{name.replace(' ', '-')}.sqlite3"
                    for suffix in ("", "-wal", "-shm"):
                        Path(str(path) + suffix).unlink(missing_ok=True)
                cpu, done, sys_cpu = build(path, args.docs, sentences, search=search, docs=docs)
                rows[name].append(cpu / done * 1000)
                system[name].append(sys_cpu / done * 1000)
    finally:
        if args.base:
            for suffix in ("", "-wal", "-shm"):
                Path(str(copy) + suffix).unlink(missing_ok=True)
    with_, without = statistics.median(rows["with index"]), statistics.median(rows["without"])
    chars = statistics.mean(len(d["body"]) for d in (demo or generate(2000, sentences)))
    where = f"a store of {args.base} documents" if args.base else "an empty store"
    print(f"upsert_many CPU per page, {args.docs} new pages ({chars:.0f}-character bodies) into {where}, "
          f"median of {args.repeat}:")
    print(f"  without index {without:.3f} ms   with index {with_:.3f} ms   extra {with_ - without:.3f} ms "
          f"({with_ / without:.2f}x)   runs: " + ", ".join(f"{k} " + " ".join(f"{v:.3f}" for v in vs)
                                                      for k, vs in rows.items()))
    # Into one copy the runs with the index are consecutive stretches of one growing index: each pays the
    # merges that fall in it, so the mean is what a crawl pays on average over them, the median a typical run.
    mean = statistics.mean(rows["with index"]) - statistics.mean(rows["without"])
    # CPU time is user + system (the kernel's work for the process: reading pages SQLite does not cache, writing
    # the WAL); time waiting for the disk is neither
    system_extra = statistics.mean(system["with index"]) - statistics.mean(system["without"])
    print(f"  extra, mean of the runs {mean:.3f} ms, of which system CPU {system_extra:.3f} ms")


def _median_ms(fn, repeat: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds, medians of ``repeat`` runs. On a shared machine the wall time includes waiting
    for a core; the CPU time is what the query itself costs."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def cmd_queries(args: argparse.Namespace, sentences: list[str]) -> None:
    directory = Path(args.dir)
    store = SQLiteStore(args.store) if args.store else open_built(directory, args.docs, sentences)
    n = store.count("articles")
    conn = store._conn
    sizes = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    index = sum(v for k, v in sizes.items() if k.startswith("articles_fts"))
    table = sum(v for k, v in sizes.items() if k == "articles" or k.startswith("sqlite_autoindex_articles"))
    print(f"{n} documents: search index {index / n:.0f} bytes per document ({index / 2**30:.2f} GiB); "
          f"the articles table itself {table / n:.0f} bytes per document")
    from gongkai_spider.search import run_search
    from gongkai_spider.storage.query import DocFilter

    print(f"query times, median of {args.repeat} (after one warm-up run), limit 20, milliseconds wall / CPU:")
    print(f"{'query':13} {'hits':>8} {'ranked ids':>13} {'+ docs, snippets':>16} {'site filter':>13}")
    for label, queries in {**BENCH_QUERIES, "1-char": QUERIES[1][:2], "3-char": QUERIES[3][1:3],
                           "6-char": QUERIES[6][1:3]}.items():
        for q in queries:
            terms = parse_query(q)
            hits = len(store.search_ids(terms, "articles", None, 10**8))
            store.search_ids(terms, "articles", None, 20)
            cols = [_median_ms(lambda t=terms: store.search_ids(t, "articles", None, 20), args.repeat),
                    _median_ms(lambda q=q: run_search(store, q, limit=20), args.repeat),
                    _median_ms(lambda t=terms: store.search_ids(t, "articles", DocFilter(site="site3"), 20),
                               args.repeat)]
            print(f"{label} {q:6} {hits:>8}" + "".join(f" {w:>7.1f} /{c:>5.1f}" for w, c in cols), flush=True)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("recall", "cpu", "queries"))
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/gongkai-search-bench")
    parser.add_argument("--demo-pages", action="store_true", help="cpu: the demo portal's pages instead")
    parser.add_argument("--base", type=int, default=0, help="cpu: add the pages to a copy of the store of N documents")
    parser.add_argument("--store", help="queries: time this existing store (e.g. one still being built)")
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "pages"))
    args = parser.parse_args()
    args.docs = args.docs or {"recall": 20000, "cpu": 10000, "queries": 100000}[args.what]
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    sentences = corpus_sentences(args.corpus)
    if not sentences:
        print(f"no corpus texts in {args.corpus}: demo phrase tables only", file=sys.stderr)
    {"recall": cmd_recall, "cpu": cmd_cpu, "queries": cmd_queries}[args.what](args, sentences)


if __name__ == "__main__":
    main()
