#!/usr/bin/env python3
"""Extraction accuracy benchmark: our extractor against trafilatura, GNE and readability-lxml.

Runs every extractor IN-PROCESS on a folder of pages with ground truth (the format of the shared corpus:
``NAME.html`` original bytes, ``NAME.json`` answers, ``NAME.txt`` gold body) and prints ONE table, side
by side: title exact, publish date, body start found, body end found, body character F1, the share of
pages classified as articles (ours only: every corpus page is one) and the median milliseconds per page. Ours is ``gongkai_spider.extract.extract_detail(bytes, url)``; the URL is the
page's canonical / og:url when it has one, else a file:// URL (the extractor never uses it to decide).
Competitors run only when their package is installed.

The metrics re-implement the corpus scorer's definitions (``score.py``): text compared after NFKC and
removal of all whitespace; ``title`` = exact headline (or an alt_title); ``date`` = the YYYY-MM-DD of the
predicted publish time equals the gold one (or an alt_date; pages without a gold date skipped);
``start``/``end`` = the gold first/last ~30 characters found in the body; ``F1`` = bag-of-characters F1
against the gold body. Time is the CPU time of this process per page (``--wall`` for wall-clock time),
the fastest of ``--repeat`` runs, median over pages. Competitors get the inputs the corpus scorer gives them (bytes to trafilatura, the
scorer's simple decoding to GNE and readability), so their figures match ``score.py``'s.

Government pages: the pages whose ground truth says ``gov: true`` get their own row per extractor
(``NAME [gov]``). The 信息公开 metadata table is scored field by field (``doc_meta``) on the pages that
carry a gold ``doc_meta`` -- the shared corpus has none, so by default the project's own fixtures
(``tests/fixtures/<template>/<case>/`` with ``page.html``, ``url.txt`` and an ``expected.json`` holding
``doc_meta``; ``--meta-pages``): per key, how many gold values came out exactly (dates by their
YYYY-MM-DD), wrong, missing, and how many keys came out that the page does not have (spurious);
``other.<label>`` for the table's other labels.

Gate (trafilatura ``tests/eval_gate.py`` habit): ``--check`` compares our figures with the floors pinned
in ``benchmarks/baseline.json`` and exits 1 on a regression (any metric below its floor, or the median
time above its ceiling); ``--pin`` writes the current figures as the new floors, never lowering one unless
``--allow-lower`` is given. Floors are tied to a checksum of the corpus: on another corpus ``--check``
warns, and with ``--strict-corpus`` fails.

Usage:
  python3 benchmarks/accuracy.py                      # default pages: $EXTRACT_EVAL_PAGES or ../shared/corpus/pages
  python3 benchmarks/accuracy.py --pages DIR --show-fails
  python3 benchmarks/accuracy.py --check              # exit 1 on regression against baseline.json
  python3 benchmarks/accuracy.py --pin                # raise the floors to the current figures
  python3 benchmarks/accuracy.py --meta-pages DIR     # doc_meta scored on another fixture tree
"""

from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import json
import math
import os
import re
import statistics
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / "baseline.json"
META_PAGES = REPO / "tests" / "fixtures"
COLUMNS = ("title", "date", "start", "end", "F1", "article")
COMPETITORS = ("trafilatura", "gne", "readability")

# ----------------------------------------------------------------------------- metrics (as score.py)
_NORM_DROP_RE = re.compile(r"[\s\u200b\u200c\u200d\ufeff]+")
_DATE_RES = (
    re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})"),
    re.compile(r"(\d{4})(\d{2})(\d{2})(?:\D|$)"),
)


def norm(text: str | None) -> str:
    return _NORM_DROP_RE.sub("", unicodedata.normalize("NFKC", text or ""))


def date_part(value: object) -> str | None:
    """YYYY-MM-DD from whatever an extractor returns (str, datetime, epoch)."""
    if value is None or value == "":
        return None
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, (int, float)) and value > 10**8:
        seconds = value / 1000 if value > 10**11 else value
        return time.strftime("%Y-%m-%d", time.localtime(seconds))
    text = str(value)
    for rx in _DATE_RES:
        m = rx.search(text)
        if m:
            y, mo, d = (int(x) for x in m.groups())
            if 1 <= mo <= 12 and 1 <= d <= 31:
                return f"{y:04d}-{mo:02d}-{d:02d}"
    return None


def char_f1(pred: str, gold: str) -> float:
    p = collections.Counter(norm(pred))
    g = collections.Counter(norm(gold))
    if not p or not g:
        return 0.0
    tp = sum((p & g).values())
    precision, recall = tp / sum(p.values()), tp / sum(g.values())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score_page(gt: dict, pred: dict) -> dict[str, float | None]:
    body = norm(pred.get("body"))
    titles = [norm(t) for t in [gt["title"], *(gt.get("alt_titles") or [])]]
    gold_dates = [
        d for d in [date_part(gt.get("publish_time")), *map(date_part, gt.get("alt_dates") or [])] if d
    ]
    return {
        "title": float(norm(pred.get("title")) in titles),
        "date": float(date_part(pred.get("publish_time")) in gold_dates) if gold_dates else None,
        "start": float(bool(body) and norm(gt["body_start"]) in body),
        "end": float(bool(body) and norm(gt["body_end"]) in body),
        "F1": char_f1(pred.get("body") or "", gt["_gold"]) if gt.get("_gold") else None,
        # only extractors that classify pages report a kind: every corpus page is an article
        "article": float(pred["kind"] == "article") if "kind" in pred else None,
    }


# ----------------------------------------------------------------------------- pages
def default_pages() -> Path:
    env = os.environ.get("EXTRACT_EVAL_PAGES")
    return Path(env) if env else REPO.parent / "shared" / "corpus" / "pages"


def load_pages(folder: Path) -> list[dict]:
    pages = []
    for jf in sorted(glob.glob(str(folder / "*.json"))):
        name = Path(jf).stem
        if name.startswith("_"):
            continue
        gt = json.loads(Path(jf).read_text(encoding="utf-8"))
        gold = folder / (gt.get("gold_body_file") or f"{name}.txt")
        gt["_gold"] = gold.read_text(encoding="utf-8") if gold.exists() else None
        gt["_name"] = name
        gt["_raw"] = (folder / f"{name}.html").read_bytes()
        gt["_path"] = folder / f"{name}.html"
        pages.append(gt)
    return pages


def corpus_checksum(pages: list[dict]) -> str:
    digest = hashlib.sha256()
    for gt in pages:
        digest.update(gt["_name"].encode())
        digest.update(hashlib.sha256(gt["_raw"]).digest())
        digest.update(hashlib.sha256((gt.get("_gold") or "").encode()).digest())
    return digest.hexdigest()[:16]


_CANONICAL_RES = (
    re.compile(rb"""<link[^>]+rel=["']?canonical["']?[^>]*href=["']([^"'>\s]+)""", re.I),
    re.compile(rb"""<link[^>]+href=["']([^"'>\s]+)["'][^>]*rel=["']?canonical""", re.I),
    re.compile(rb"""<meta[^>]+property=["']og:url["'][^>]*content=["']([^"'>\s]+)""", re.I),
    re.compile(rb"""<meta[^>]+content=["']([^"'>\s]+)["'][^>]*property=["']og:url""", re.I),
)


def page_url(raw: bytes, path: Path) -> str:
    """The page's own canonical / og:url when absolute, else its file:// URL."""
    for rx in _CANONICAL_RES:
        m = rx.search(raw)
        if m:
            url = m.group(1).decode("ascii", "ignore")
            if url.startswith(("http://", "https://")):
                return url
    return path.resolve().as_uri()


def simple_decode(raw: bytes) -> str:
    """The corpus scorer's decoding for extractors that need str: declared charset (gb2312/gbk widened to
    gb18030), then utf-8, gb18030, big5."""
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", raw[:8000], re.I)
    candidates = []
    if m:
        cs = m.group(1).decode("ascii", "ignore").lower()
        candidates.append("gb18030" if cs in ("gb2312", "gbk", "x-gbk", "gb_2312-80") else cs)
    candidates += ["utf-8", "gb18030", "big5"]
    for codec in candidates:
        try:
            return raw.decode(codec)
        except (LookupError, UnicodeDecodeError):
            pass
    return raw.decode("utf-8", "replace")


# ----------------------------------------------------------------------------- extractors
Runner = Callable[[bytes, str], dict]


def make_ours() -> Runner:
    sys.path.insert(0, str(REPO))
    from gongkai_spider.extract import extract_detail

    def run(raw: bytes, url: str) -> dict:
        d = extract_detail(raw, url)
        return {"title": d.get("title"), "publish_time": d.get("publish_time"), "body": d.get("body") or "",
                "kind": d.get("kind"), "doc_meta": d.get("doc_meta") or {}}

    return run


def make_trafilatura() -> Runner:
    import trafilatura

    def run(raw: bytes, url: str) -> dict:
        out = trafilatura.extract(raw, output_format="json", with_metadata=True)
        d = json.loads(out) if out else {}
        return {"title": d.get("title"), "publish_time": d.get("date"), "body": d.get("text") or ""}

    return run


def make_gne() -> Runner:
    from gne import GeneralNewsExtractor

    extractor = GeneralNewsExtractor()

    def run(raw: bytes, url: str) -> dict:
        d = extractor.extract(simple_decode(raw))
        return {
            "title": d.get("title"),
            "publish_time": d.get("publish_time"),
            "body": d.get("content") or "",
        }

    return run


def html_to_text(html: str) -> str:
    import lxml.html

    if not html:
        return ""
    doc = lxml.html.fromstring(html)
    for bad in doc.xpath("//script|//style"):
        bad.drop_tree()
    for br in doc.xpath("//br"):
        br.tail = "\n" + (br.tail or "")
    for block in doc.xpath("//p|//div|//li|//h1|//h2|//h3|//h4|//tr"):
        block.tail = "\n" + (block.tail or "")
    return doc.text_content()


def make_readability() -> Runner:
    from readability import Document

    def run(raw: bytes, url: str) -> dict:
        doc = Document(simple_decode(raw))
        return {"title": doc.title(), "publish_time": None, "body": html_to_text(doc.summary())}

    return run


FACTORIES: dict[str, Callable[[], Runner]] = {
    "ours": make_ours,
    "trafilatura": make_trafilatura,
    "gne": make_gne,
    "readability": make_readability,
}


# ----------------------------------------------------------------------------- running
def summarize(rows: list[dict]) -> dict:
    summary: dict = {}
    for col in COLUMNS:
        values = [r[col] for r in rows if r[col] is not None]
        summary[col] = round(sum(values) / len(values), 4) if values else None
    return summary


def evaluate(name: str, run: Runner, pages: list[dict], repeat: int, show_fails: bool,
             clock: Callable[[], float] = time.process_time) -> dict:
    rows, times, errors, gov_rows = [], [], 0, []
    for gt in pages:
        url = page_url(gt["_raw"], gt["_path"])
        best, pred = None, None
        for _ in range(max(1, repeat)):
            t0 = clock()
            try:
                pred = run(gt["_raw"], url)
                err = None
            except Exception as exc:  # a crashing extractor scores zero on the page, the run goes on
                pred, err = {"title": None, "publish_time": None, "body": ""}, repr(exc)[:200]
            elapsed = (clock() - t0) * 1000
            best = elapsed if best is None else min(best, elapsed)
        times.append(best)
        errors += err is not None
        row = score_page(gt, pred)
        rows.append(row)
        if gt.get("gov"):
            gov_rows.append(row)
        if show_fails:
            miss = [k for k in ("title", "date", "start", "end") if row.get(k) == 0]
            if miss or err or (row["F1"] is not None and row["F1"] < 0.95):
                print(
                    f"  {name:12s} {gt['_name']:32s} miss={miss} F1={row['F1'] or 0:.3f} "
                    f"title={pred.get('title')!r:.50} time={str(pred.get('publish_time'))!r:.28} {err or ''}",
                    file=sys.stderr,
                )
    summary = summarize(rows)
    summary["median_ms"] = round(statistics.median(times), 2) if times else None
    summary["errors"] = errors
    summary["n"] = len(pages)
    if gov_rows:
        summary["gov"] = summarize(gov_rows) | {"n": len(gov_rows)}
    return summary


# ----------------------------------------------------------------------------- doc_meta, field by field
def load_meta_pages(root: Path) -> list[dict]:
    """Fixture cases (``<template>/<case>/expected.json`` with a ``doc_meta``) as pages to score."""
    pages = []
    for expected in sorted(root.glob("*/*/expected.json")):
        gt = json.loads(expected.read_text(encoding="utf-8"))
        case = expected.parent
        if not isinstance(gt.get("doc_meta"), dict) or not (case / "page.html").is_file():
            continue
        url_file = case / "url.txt"
        url = url_file.read_text(encoding="utf-8").strip() if url_file.is_file() else (case / "page.html").as_uri()
        pages.append({"_name": f"{case.parent.name}/{case.name}", "_raw": (case / "page.html").read_bytes(),
                      "_url": url, "doc_meta": gt["doc_meta"]})
    return pages


def _flat_meta(meta: dict) -> dict[str, str]:
    out = {}
    for key, value in (meta or {}).items():
        if isinstance(value, dict):
            out.update((f"{key}.{label}", str(v)) for label, v in value.items())
        elif value not in (None, ""):
            out[key] = str(value)
    return out


def _same_value(key: str, pred: str, gold: str) -> bool:
    if key.endswith("_date"):
        pd, gd = date_part(pred), date_part(gold)
        if pd and gd:
            return pd == gd
    return norm(pred) == norm(gold)


def score_doc_meta(run: Runner, pages: list[dict], show_fails: bool) -> dict[str, dict[str, int]]:
    """Per doc_meta key: gold, correct, wrong, missing, spurious counts over ``pages``."""
    fields: dict[str, dict[str, int]] = collections.defaultdict(
        lambda: {"gold": 0, "correct": 0, "wrong": 0, "missing": 0, "spurious": 0})
    for page in pages:
        try:
            pred = _flat_meta(run(page["_raw"], page["_url"]).get("doc_meta") or {})
        except Exception:  # a crash scores every field of the page as missing
            pred = {}
        gold = _flat_meta(page["doc_meta"])
        for key, value in gold.items():
            f = fields[key.split(".", 1)[0] + ".*" if "." in key else key]
            f["gold"] += 1
            if key not in pred:
                f["missing"] += 1
            elif _same_value(key, pred[key], value):
                f["correct"] += 1
            else:
                f["wrong"] += 1
        for key in pred.keys() - gold.keys():
            fields[key.split(".", 1)[0] + ".*" if "." in key else key]["spurious"] += 1
        if show_fails and pred != gold:
            diff = {k: (pred.get(k), gold.get(k)) for k in pred.keys() | gold.keys() if pred.get(k) != gold.get(k)}
            print(f"  doc_meta     {page['_name']:40s} (got, gold): {diff}", file=sys.stderr)
    return dict(sorted(fields.items()))


def doc_meta_accuracy(fields: dict[str, dict[str, int]]) -> float | None:
    """Correct values over gold values plus spurious ones (a wrong extra key costs like a miss)."""
    gold = sum(f["gold"] for f in fields.values())
    spurious = sum(f["spurious"] for f in fields.values())
    correct = sum(f["correct"] for f in fields.values())
    return round(correct / (gold + spurious), 4) if gold + spurious else None


def print_doc_meta(fields: dict[str, dict[str, int]], n_pages: int, folder: Path) -> None:
    print()
    print(f"doc_meta, field by field (ours; {n_pages} pages with a gold 信息公开 table: {folder})")
    print()
    print("| field | gold | correct | wrong | missing | spurious |")
    print("|---|---|---|---|---|---|")
    for key, f in fields.items():
        print(f"| {key} | {f['gold']} | {f['correct']} | {f['wrong']} | {f['missing']} | {f['spurious']} |")
    acc = doc_meta_accuracy(fields)
    print(f"| all (correct / (gold + spurious)) | | {'-' if acc is None else f'{acc:.3f}'} | | | |")


def print_table(results: dict[str, dict], n_pages: int, folder: Path) -> None:
    print(f"pages: {n_pages} ({folder})")
    print()
    header = ["extractor", "title", "date", "start", "end", "F1", "article", "ms/page (median)", "errors"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, s in results.items():
        cells = [name]
        for col in COLUMNS:
            v = s[col]
            cells.append("-" if v is None else (f"{v:.3f}" if col == "F1" else f"{v:.2f}"))
        cells.append(f"{s['median_ms']:.1f}")
        cells.append(str(s["errors"]))
        print("| " + " | ".join(cells) + " |")
    for name, s in results.items():
        gov = s.get("gov")
        if not gov:
            continue
        cells = [f"{name} [gov, {gov['n']} pages]"]
        cells += ["-" if gov[col] is None else (f"{gov[col]:.3f}" if col == "F1" else f"{gov[col]:.2f}")
                  for col in COLUMNS]
        print("| " + " | ".join([*cells, "", ""]) + " |")


# ----------------------------------------------------------------------------- gate
def check(ours: dict, checksum: str, baseline: dict, strict_corpus: bool) -> list[str]:
    problems = []
    if baseline.get("corpus_checksum") != checksum:
        msg = f"corpus checksum {checksum} != pinned {baseline.get('corpus_checksum')}"
        if strict_corpus:
            problems.append(msg)
        else:
            print(f"warning: {msg}; comparing anyway", file=sys.stderr)
    for col, floor in baseline.get("floors", {}).items():
        value = ours.get(col)
        if value is None or value + 1e-9 < floor:
            problems.append(f"{col} = {value} < floor {floor}")
    meta_floor = baseline.get("doc_meta_floor")
    if meta_floor is not None and (ours.get("doc_meta") is None or ours["doc_meta"] + 1e-9 < meta_floor):
        problems.append(f"doc_meta = {ours.get('doc_meta')} < floor {meta_floor}")
    ceiling = baseline.get("max_median_ms")
    if ceiling is not None and ours["median_ms"] > ceiling:
        problems.append(f"median {ours['median_ms']} ms/page > ceiling {ceiling}")
    return problems


def pin(ours: dict, checksum: str, baseline: dict, allow_lower: bool) -> dict:
    floors = dict(baseline.get("floors", {}))
    for col in COLUMNS:
        value = ours.get(col)
        if value is None:
            continue
        value = math.floor(value * 1000) / 1000  # 3 decimals, rounded down: no float-noise failures
        old = floors.get(col)
        if old is None or value > old or allow_lower:
            floors[col] = value
        elif value < old:
            print(f"keeping floor {col} = {old} (now {value}; --allow-lower to lower it)", file=sys.stderr)
    out = dict(baseline)
    out["floors"] = floors
    meta = ours.get("doc_meta")
    if meta is not None:
        meta = math.floor(meta * 1000) / 1000
        old = baseline.get("doc_meta_floor")
        if old is None or meta > old or allow_lower:
            out["doc_meta_floor"] = meta
    out["corpus_checksum"] = checksum
    out.setdefault("max_median_ms", 5.0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pages",
        type=Path,
        default=default_pages(),
        help="folder with NAME.html/.json/.txt (default: $EXTRACT_EVAL_PAGES, else ../shared/corpus/pages)",
    )
    ap.add_argument(
        "-e",
        "--extractors",
        default=",".join(FACTORIES),
        help="comma list among ours,trafilatura,gne,readability (default: all installed)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per page; time = fastest run (default 3)")
    ap.add_argument("--wall", action="store_true",
                    help="time with the wall clock instead of the process CPU time (noisy on a busy machine)")
    ap.add_argument("--show-fails", action="store_true", help="list per-page misses on stderr")
    ap.add_argument("--check", action="store_true", help="exit 1 when ours falls below baseline.json")
    ap.add_argument("--pin", action="store_true", help="write ours as the new floors of baseline.json")
    ap.add_argument("--allow-lower", action="store_true", help="with --pin: allow lowering a floor")
    ap.add_argument(
        "--strict-corpus", action="store_true", help="with --check: fail on a corpus checksum mismatch"
    )
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--meta-pages", type=Path, default=META_PAGES,
                    help="fixture tree whose expected.json files carry doc_meta (default: tests/fixtures)")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args(argv)

    pages = load_pages(args.pages)
    if not pages:
        print(f"no pages found in {args.pages}", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.extractors.split(",") if n.strip()]
    if (args.check or args.pin) and "ours" not in names:
        names.insert(0, "ours")
    warnings.filterwarnings("ignore")
    results: dict[str, dict] = {}
    for name in names:
        if name not in FACTORIES:
            print(f"unknown extractor {name!r}", file=sys.stderr)
            return 2
        try:
            runner = FACTORIES[name]()
        except ImportError as exc:
            if name == "ours":
                raise
            print(f"[skip] {name}: not installed ({exc})", file=sys.stderr)
            continue
        clock = time.perf_counter if args.wall else time.process_time
        results[name] = evaluate(name, runner, pages, args.repeat, args.show_fails, clock)
    print_table(results, len(pages), args.pages)
    if "ours" in results:
        meta_pages = load_meta_pages(args.meta_pages) if args.meta_pages.is_dir() else []
        if meta_pages:
            fields = score_doc_meta(FACTORIES["ours"](), meta_pages, args.show_fails)
            print_doc_meta(fields, len(meta_pages), args.meta_pages)
            results["ours"]["doc_meta"] = doc_meta_accuracy(fields)
            results["ours"]["doc_meta_fields"] = fields
    checksum = corpus_checksum(pages)
    if args.json:
        print(json.dumps({"corpus_checksum": checksum, "results": results}, ensure_ascii=False, indent=1))

    status = 0
    baseline = json.loads(args.baseline.read_text(encoding="utf-8")) if args.baseline.exists() else {}
    if args.check:
        problems = check(results["ours"], checksum, baseline, args.strict_corpus)
        for p in problems:
            print(f"REGRESSION: {p}", file=sys.stderr)
        print("check: " + ("FAILED" if problems else "ok"), file=sys.stderr)
        status = 1 if problems else 0
    if args.pin:
        new = pin(results["ours"], checksum, baseline, args.allow_lower)
        args.baseline.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"pinned {args.baseline}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
