"""``gongkai report --output report.html``: one self-contained HTML page about the store's health.

Per site: articles by publish month, each run's new / failed / quarantined articles (the run history's ``log``,
written by the run monitor), field coverage across runs (the drift the coverage-drop alert watches) and the
reasons pages were quarantined. Inline SVG charts and inline CSS only: no script, no external file or font, so the
page opens anywhere (mail attachment, an intranet folder) and shows the same. Every chart is a ``<svg
class="chart" data-chart=KIND>``: bars are ``<rect class="bar">``, points ``<circle class="point">``, each with a
``<title>`` tooltip giving its value. Reads the same store settings as the crawl (``MONGO_URI``, else
``GONGKAI_DB``; ``--db PATH``) and the run history beside it (``GONGKAI_RUN_HISTORY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from gongkai_spider.normalize import SHANGHAI

RUN_SERIES = (("new", "#2f6fb2"), ("failed", "#c0392b"), ("quarantined", "#e0a030"))
FIELD_COLOURS = ("#2f6fb2", "#c0392b", "#27ae60", "#8e44ad", "#e0a030", "#16a085", "#7f8c8d", "#d35400",
                 "#2c3e50", "#b03a86")
MAX_MONTHS = 36
W, H, PAD = 640, 180, 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", metavar="FILE", required=True, help="the HTML file to write")
    parser.add_argument("--db", metavar="PATH", help="read this SQLite store (default: MONGO_URI, else GONGKAI_DB)")


# ------------------------------------------------------------------------------------------ data


def collect(store: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """site -> {articles, quarantined, months: {YYYY-MM: n}, quarantine_reasons: {kind: n}, runs: [...]}."""
    from gongkai_spider.extensions.history import history_file, history_template

    sites: dict[str, dict[str, Any]] = defaultdict(lambda: {"articles": 0, "quarantined": 0, "months": Counter(),
                                                            "quarantine_reasons": Counter(), "runs": []})
    for doc in store.iter_docs("articles"):
        site = sites[str(doc.get("site") or "unknown")]
        site["articles"] += 1
        when = doc.get("publish_time")
        if isinstance(when, datetime):
            when = when.astimezone(SHANGHAI) if when.tzinfo else when
            site["months"][when.strftime("%Y-%m")] += 1
    for doc in store.iter_docs("quarantine"):
        site = sites[str(doc.get("site") or "unknown")]
        site["quarantined"] += 1
        reasons = (doc.get("spam") or {}).get("reasons") or ["unknown"]
        for kind in {str(r).split(":", 1)[0] for r in reasons}:
            site["quarantine_reasons"][kind] += 1
    template = history_template(settings)
    if template:
        folder = history_file(template, "x").parent
        names = {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
        for name in sorted(names | set(sites)):
            runs = _runs(history_file(template, name))
            if runs or name in sites:
                sites[name]["runs"] = runs
    return dict(sorted(sites.items()))


def _runs(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    log = data.get("log") if isinstance(data, dict) else None
    return [r for r in log if isinstance(r, dict)] if isinstance(log, list) else []


# ------------------------------------------------------------------------------------------ charts


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def bar_chart(kind: str, values: list[tuple[str, float]], colour: str = "#2f6fb2", unit: str = "") -> str:
    """One bar per value, labelled below (every label when few, else every few)."""
    if not values:
        return f'<p class="empty" data-chart="{kind}">no data</p>'
    top = max(v for _, v in values) or 1
    step = (W - 2 * PAD) / len(values)
    every = max(1, len(values) // 12)
    parts = [f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {H + 20}" role="img">',
             f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" class="axis"/>',
             f'<text x="{PAD - 4}" y="{PAD}" class="tick" text-anchor="end">{_fmt(top)}</text>']
    for i, (label, value) in enumerate(values):
        height = (H - PAD) * value / top
        x = PAD + i * step
        parts.append(f'<rect class="bar" x="{x + step * 0.1:.1f}" y="{H - height:.1f}" width="{step * 0.8:.1f}" '
                     f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {_fmt(value)}{unit}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{H + 14}" class="tick" text-anchor="middle">'
                         f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(kind: str, values: list[tuple[str, float]], colour: str) -> str:
    """One horizontal bar per value, its label on the left: for categories with long names."""
    if not values:
        return f'<p class="empty" data-chart="{kind}">no data</p>'
    top = max(v for _, v in values) or 1
    row, left = 22, 200
    height = row * len(values) + 10
    parts = [f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {height}" role="img">']
    for i, (label, value) in enumerate(values):
        width = (W - left - PAD - 40) * value / top
        y = 5 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 14}" class="tick" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar" x="{left}" y="{y + 3}" width="{width:.1f}" height="{row - 6}" '
                     f'fill="{colour}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
                     f'<text x="{left + width + 4:.1f}" y="{y + 14}" class="tick">{_fmt(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(kind: str, groups: list[tuple[str, dict[str, float]]],
                      series: tuple[tuple[str, str], ...]) -> str:
    if not groups:
        return f'<p class="empty" data-chart="{kind}">no runs recorded</p>'
    top = max((v for _, g in groups for v in g.values()), default=0) or 1
    step = (W - 2 * PAD) / len(groups)
    width = step * 0.8 / len(series)
    parts = [f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {H + 20}" role="img">',
             f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" class="axis"/>',
             f'<text x="{PAD - 4}" y="{PAD}" class="tick" text-anchor="end">{_fmt(top)}</text>']
    for i, (label, values) in enumerate(groups):
        for j, (name, colour) in enumerate(series):
            value = values.get(name, 0.0)
            height = (H - PAD) * value / top
            x = PAD + i * step + step * 0.1 + j * width
            parts.append(f'<rect class="bar" data-series="{name}" x="{x:.1f}" y="{H - height:.1f}" '
                         f'width="{width:.1f}" height="{height:.1f}" fill="{colour}"><title>{escape(label)} '
                         f'{name}: {_fmt(value)}</title></rect>')
        if i % max(1, len(groups) // 6) == 0:
            parts.append(f'<text x="{PAD + i * step + step / 2:.1f}" y="{H + 14}" class="tick" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts) + _legend(series)


def line_chart(kind: str, labels: list[str], lines: dict[str, list[float | None]]) -> str:
    """Coverage 0..1 per run, one polyline and one point per (field, run) with a value."""
    if not labels or not lines:
        return f'<p class="empty" data-chart="{kind}">no runs recorded</p>'
    step = (W - 2 * PAD) / max(len(labels) - 1, 1)
    parts = [f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {H + 20}" role="img">',
             f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" class="axis"/>',
             f'<text x="{PAD - 4}" y="{PAD}" class="tick" text-anchor="end">100%</text>',
             f'<text x="{PAD - 4}" y="{H}" class="tick" text-anchor="end">0%</text>']
    legend = []
    for k, (name, values) in enumerate(lines.items()):
        colour = FIELD_COLOURS[k % len(FIELD_COLOURS)]
        legend.append((name, colour))
        points = [(PAD + i * step, H - (H - PAD) * v, v, labels[i]) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline class="line" data-field="{escape(name)}" points="{path}" fill="none" '
                         f'stroke="{colour}"/>')
        for x, y, v, label in points:
            parts.append(f'<circle class="point" data-field="{escape(name)}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
                         f'fill="{colour}"><title>{escape(label)} {escape(name)}: {v:.0%}</title></circle>')
    parts.append("</svg>")
    return "".join(parts) + _legend(tuple(legend))


def _legend(series: tuple[tuple[str, str], ...]) -> str:
    return '<p class="legend">' + " ".join(
        f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in series) + "</p>"


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


# ------------------------------------------------------------------------------------------ page

CSS = """
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;
color:#222;max-width:760px}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1em;margin:1.2em 0 .3em}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
svg.chart{width:100%;height:auto;max-width:640px}.axis{stroke:#888}.tick{font-size:10px;fill:#555}
.legend span{margin-right:1em;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.empty{color:#888}.alert{color:#c0392b}
"""


def render(sites: dict[str, Any], store_name: str, generated: datetime) -> str:
    body = [f"<h1>gongkai-spider: store report</h1><p>store: {escape(store_name)}<br>generated: "
            f"{escape(generated.isoformat(timespec='seconds'))}</p>"]
    rows = ["<tr><th>site</th><th>articles</th><th>quarantined</th><th>runs</th><th>last run</th><th>exit</th>"
            "<th>alerts</th></tr>"]
    for name, site in sites.items():
        last = site["runs"][-1] if site["runs"] else {}
        alerts = ", ".join(sorted({str(a.get("reason")) for a in last.get("alerts") or []}))
        rows.append(f"<tr><td><a href='#site-{escape(name)}'>{escape(name)}</a></td><td>{site['articles']}</td>"
                    f"<td>{site['quarantined']}</td><td>{len(site['runs'])}</td>"
                    f"<td>{escape(str(last.get('finished_at', '-'))[:19])}</td>"
                    f"<td>{escape(str(last.get('exit_status', '-')))}</td>"
                    f"<td class='alert'>{escape(alerts)}</td></tr>")
    body.append("<table>" + "".join(rows) + "</table>")
    for name, site in sites.items():
        body.append(f"<h2 id='site-{escape(name)}'>{escape(name)}</h2>")
        months = sorted(site["months"].items())[-MAX_MONTHS:]
        body.append("<h3>Articles by publish month</h3>" + bar_chart("months", [(m, float(n)) for m, n in months]))
        runs = site["runs"]
        labels = [str(r.get("finished_at", "?"))[:16].replace("T", " ") for r in runs]
        groups = [(label, {k: _num(r.get(k)) for k, _ in RUN_SERIES}) for label, r in zip(labels, runs, strict=True)]
        body.append("<h3>Runs: new, failed and quarantined articles</h3>"
                    + grouped_bar_chart("runs", groups, RUN_SERIES))
        from gongkai_spider.extensions.monitor import COVERAGE_FIELDS

        fields = [f for f in COVERAGE_FIELDS if any(f in (r.get("coverage") or {}) for r in runs)]
        lines = {f: [(_num(r["coverage"][f]) if f in (r.get("coverage") or {}) else None) for r in runs]
                 for f in fields}
        body.append("<h3>Field coverage across runs</h3>" + line_chart("coverage", labels, lines))
        reasons = site["quarantine_reasons"].most_common()
        body.append("<h3>Quarantine reasons (pages per reason)</h3>"
                    + hbar_chart("quarantine", [(k, float(n)) for k, n in reasons], colour="#e0a030"))
    return ("<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>gongkai-spider store report</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def run(args: argparse.Namespace) -> int:
    from gongkai_spider.storage import CommandError, open_store_for_command

    output = Path(args.output)
    if not output.parent.is_dir():
        print(f"gongkai report: folder {output.parent} does not exist", file=sys.stderr)
        return 2
    try:
        store, settings = open_store_for_command(args.db)
    except CommandError as exc:
        print(f"gongkai report: {exc}", file=sys.stderr)
        return 2
    try:
        if not settings.get("MONGO_URI") and output.resolve() == Path(settings["GONGKAI_DB"]).resolve():
            print(f"gongkai report: --output {output} is the store itself", file=sys.stderr)
            return 2
        sites = collect(store, settings)
        page = render(sites, str(getattr(store, "description", type(store).__name__)), datetime.now(SHANGHAI))
    finally:
        store.close()
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, output)
    print(f"gongkai report: {len(sites)} site(s) -> {output}", file=sys.stderr)
    return 0
