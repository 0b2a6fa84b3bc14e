#!/usr/bin/env python3
"""Attachment benchmark: what reading attachments costs, next to the crawl's own per-page cost. Not a test.

1. ``--compare``: the three PDF text libraries on generated 20-page Chinese PDFs, one with an embedded subset
   TrueType CJK font (Debian fonts-wqy-microhei), one with the non-embedded CID font STSong-Light: median CPU
   of 3 runs and the share of the 800 generated lines each returns exactly (needs ``pip install -e '.[bench]'``).
2. PDF text through the worker the crawl uses (gongkai_spider.filetext.FileTextRunner): CPU per PDF page and
   per MB of PDF, worker and crawl side together, over ``--pdfs`` generated PDFs of 1-40 pages.
3. The demo portal crawled twice in subprocesses, side by side, attachments off and on (``GONGKAI_ATTACHMENTS``):
   CPU ms per HTML page of each crawl (process CPU from rusage, the text worker included) and the extra CPU
   per attachment downloaded and read. Uses benchmarks/throughput.py's local server and crawl runner.

Measured (2 shared cores under load, `--compare --articles 600 --pdfs 30 --repeat 3`, medians of 3):
  pypdfium2 9.2 / 39.2 ms, pdfminer.six 518.5 / 570.5 ms, pypdf 136.4 / 106.9 ms per 20-page PDF (embedded / CID
  font), all 800/800 lines exact; PDF text through the worker 0.62 ms CPU per page, 222 ms CPU per MB (text-only
  PDFs with subset fonts, ~2.7 KB a page: a scan is far cheaper per MB); demo crawl 6.43 ms CPU per HTML page
  without attachments, 7.98 with (205 attachments on 627 pages: +4.76 ms CPU per attachment downloaded, stored
  and read, the worker's start-up included).

Usage: python3 benchmarks/attachments.py [--compare] [--articles 600] [--pdfs 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
LINES = ("关于做好二〇二四年度政府信息公开工作年度报告编制的通知", "各区县人民政府，市政府各部门：",
         "为进一步规范政府信息公开年度报告的编制和发布，现将有关事项通知如下。",
         "一、报告内容应当包括主动公开政府信息情况、收到和处理政府信息公开申请情况。",
         "二、各单位于三月三十一日前在门户网站公布本机关年度报告。", "联系电话：０５７１－８７６５４３２１")


def make_pdf(pages: int, font: str, seed: int = 0) -> tuple[bytes, list[str]]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfgen import canvas

    if font == "WQY" and "WQY" not in pdfmetrics.getRegisteredFontNames():
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("WQY", CJK_FONT, subfontIndex=0))
    elif font == "STSong-Light":
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    rng = random.Random(seed)
    buf, lines = io.BytesIO(), []
    c = canvas.Canvas(buf)
    for p in range(pages):
        c.setFont(font, 12)
        y = 800
        for i in range(40):
            line = f"{p + 1}-{i} " + LINES[rng.randrange(len(LINES))]
            lines.append(line)
            c.drawString(40, y, line)
            y -= 19
        c.showPage()
    c.save()
    return buf.getvalue(), lines


def compare() -> None:
    import pypdfium2 as pdfium
    from pdfminer.high_level import extract_text
    from pypdf import PdfReader

    def with_pdfium(data: bytes) -> str:
        doc = pdfium.PdfDocument(data)
        out = []
        for i in range(len(doc)):
            page = doc[i]
            textpage = page.get_textpage()
            out.append(textpage.get_text_range())
            textpage.close()
            page.close()
        doc.close()
        return "\n".join(out)

    readers = {"pypdfium2": with_pdfium, "pdfminer.six": lambda d: extract_text(io.BytesIO(d)),
               "pypdf": lambda d: "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(d)).pages)}
    print("PDF text libraries, 20 pages x 40 lines of Chinese (median CPU of 3; exact lines found):")
    for font in ("WQY", "STSong-Light"):
        if font == "WQY" and not Path(CJK_FONT).exists():
            print(f"  {font}: skipped, {CJK_FONT} missing")
            continue
        data, lines = make_pdf(20, font)
        for name, read in readers.items():
            times = []
            for _ in range(3):
                t = time.process_time()
                text = read(data)
                times.append(time.process_time() - t)
            got = {line.strip() for line in text.replace("\r", "").split("\n")}
            exact = sum(1 for line in lines if line in got)
            print(f"  {font:13} {name:13} {statistics.median(times) * 1000:7.1f} ms CPU  {exact}/{len(lines)} lines")


def pdf_cost(n: int) -> tuple[float, float]:
    """(CPU ms per PDF page, CPU ms per MB of PDF) through the worker, both sides counted."""
    from gongkai_spider.filetext import FileTextRunner

    font = "WQY" if Path(CJK_FONT).exists() else "STSong-Light"
    rng = random.Random(1)
    pdfs = [make_pdf(rng.randint(1, 40), font, seed=i)[0] for i in range(n)]
    runner = FileTextRunner(timeout=120)
    runner.extract(pdfs[0], "warm.pdf")  # the worker's start-up is paid once per crawl, not per file
    pages = size = 0
    worker_ms = 0.0
    t = time.process_time()
    for data in pdfs:
        out = runner.extract(data, "x.pdf")
        pages += out.get("pages") or 0
        size += len(data)
        worker_ms += out.get("cpu_ms") or 0.0
    parent_ms = (time.process_time() - t) * 1000
    runner.close()
    total = worker_ms + parent_ms
    print(f"PDF text through the worker: {n} PDFs, {pages} pages, {size / 1e6:.1f} MB, {font}: "
          f"{total / pages:.2f} ms CPU per page, {total / (size / 1e6):.1f} ms CPU per MB "
          f"(worker {worker_ms:.0f} ms, crawl side {parent_ms:.0f} ms)")
    return total / pages, total / (size / 1e6)


def crawl_cost(articles: int, repeat: int) -> None:
    import os

    import throughput

    from gongkai_spider.demo.portal import build_portal

    portal = build_portal(articles // 3)
    attachments = sum(len(e["attachments"]) for e in portal.expected if not e["is_spam"])
    with tempfile.TemporaryDirectory() as tmp_dir, throughput.fast_serve(portal) as base_url:
        tmp = Path(tmp_dir)
        results: dict[str, list] = {"off": [], "on": []}
        html_pages: dict[str, int] = {}
        for _ in range(repeat):
            for mode in ("off", "on"):  # interleaved: the machine's load hits both alike
                env = dict(os.environ, GONGKAI_ATTACHMENTS="1" if mode == "on" else "0")
                (tmp / mode).mkdir(exist_ok=True)
                run = throughput.run_full(base_url, tmp / mode, env, 10)
                stats = __import__("json").loads((tmp / mode / "full-10" / "stats.json").read_text())
                html_pages[mode] = sum(int(stats.get(k, 0)) for k in (
                    "gongkai/listing/pages", "gongkai/detail/pages", "gongkai/detail/continuation_pages"))
                results[mode].append(run.cpu)
        off, on = statistics.median(results["off"]), statistics.median(results["on"])
        pages = html_pages["off"]
        print(f"demo portal, {articles} articles ({attachments} attachments: PDF, DOCX, XLSX, GBK TXT, ZIP), "
              f"{pages} HTML pages, median of {repeat}:")
        print(f"  crawl without attachments: {1000 * off / pages:.2f} ms CPU per HTML page")
        print(f"  crawl with attachments:    {1000 * on / pages:.2f} ms CPU per HTML page "
              f"(+{1000 * (on - off) / attachments:.2f} ms CPU per attachment downloaded, stored and read)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="also compare pypdfium2, pdfminer.six and pypdf")
    parser.add_argument("--articles", type=int, default=600, help="demo portal articles (default 600)")
    parser.add_argument("--pdfs", type=int, default=30, help="PDFs for the per-page figure (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="crawls of each kind; medians (default 3)")
    args = parser.parse_args(argv)
    if args.compare:
        compare()
    pdf_cost(args.pdfs)
    crawl_cost(args.articles, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
