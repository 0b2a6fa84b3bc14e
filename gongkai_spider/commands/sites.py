"""``gongkai sites``: every site config the crawl can use, whether it is valid, and how its last run went.

Configs are looked up exactly as ``scrapy crawl gongkai -a site=NAME`` and ``gongkai extract --site`` look them
up: ``GONGKAI_SITES_DIR`` first, then the bundled ones (``sites.site_dirs``); a name in both shows the one the crawl
uses. Each config is validated (JSON Schema, selectors compiled; every problem at once). The last run comes from
the site's run history (``GONGKAI_RUN_HISTORY``, by default ``runs/{site}.json`` beside ``GONGKAI_DB``): when it
finished, its exit status, new / updated / failed articles, alerts, and the field coverage; pending (and given-up)
articles are read from the store's completeness ledger now, as ``gongkai stats`` reads them.
Exit status: 0, or 2 when a config is invalid (``--check`` in CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object per site instead of a table")
    parser.add_argument("--schema", action="store_true", help="print the JSON Schema of the site YAML and exit")


def collect(settings: dict[str, Any], pending: dict[str, dict[str, int]] | None = None) -> list[dict[str, Any]]:
    """One entry per site: name, file, problem (None when valid), title, start URLs, the last run, and the
    site's entries in the store's completeness ledger now (``pending``: {pending, given_up}, from
    ``gongkai stats``' reading; None when there is no store to read)."""
    from gongkai_spider.extensions.history import history_file, history_template
    from gongkai_spider.sites import SiteConfigError, available_sites, load_site, site_file

    extra = settings.get("GONGKAI_SITES_DIR") or None
    template = history_template(settings)
    out = []
    for name in available_sites(extra):
        entry: dict[str, Any] = {"site": name, "file": str(site_file(name, extra)), "problem": None}
        try:
            config = load_site(name, extra)
            entry.update(title=config.title, start_urls=list(config.start_urls))
            site_id = config.name
        except SiteConfigError as exc:
            entry["problem"] = str(exc)
            site_id = name
        entry["last_run"] = _last_run(history_file(template, site_id)) if template else None
        entry["pending"] = None if pending is None else pending.get(site_id, {"pending": 0, "given_up": 0})
        out.append(entry)
    return out


def _last_run(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    last = data.get("last_run") if isinstance(data, dict) else None
    return last if isinstance(last, dict) else None


def _coverage(run: dict[str, Any]) -> str:
    coverage = run.get("coverage") or {}
    if not coverage:
        return "-"
    low = sorted((v, k) for k, v in coverage.items())[:2]
    return f"{len(coverage)} fields, lowest " + ", ".join(f"{k} {v:.0%}" for v, k in low)


def _table(entries: list[dict[str, Any]]) -> str:
    rows = [("site", "config", "last run", "exit", "new", "failed", "pending (given up)", "alerts", "coverage")]
    for e in entries:
        run = e["last_run"] or {}
        alerts = run.get("alerts") or []
        rows.append((
            e["site"], "ok" if not e["problem"] else "INVALID",
            (run.get("finished_at") or "never")[:19].replace("T", " "),
            str(run.get("exit_status", "-")) if run else "-",
            str(run.get("new", "-")) if run else "-",
            str(run.get("failed", "-")) if run else "-",
            (f"{e['pending']['pending']} ({e['pending']['given_up']})" if e["pending"] is not None
             else str(run.get("pending", "-")) if run else "-"),
            ", ".join(sorted({a.get("reason", "?") for a in alerts})) or ("none" if run else "-"),
            _coverage(run) if run else "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"{e['site']}: {e['problem']}" for e in entries if e["problem"]]
    return "\n".join(lines) + "\n"


def _pending() -> dict[str, dict[str, int]] | None:
    """Pending and given-up ledger entries per site in the store, or None without a readable store."""
    from gongkai_spider.commands.stats import pending_by_site
    from gongkai_spider.storage import CommandError, open_store_for_command

    try:
        store, _settings = open_store_for_command()
    except CommandError:
        return None
    try:
        return pending_by_site(store)
    except Exception:  # an older store without the ledger: the last run's figure is shown instead
        return None
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    from gongkai_spider.sites import SCHEMA_FILE
    from gongkai_spider.storage import settings_from_env

    if args.schema:
        sys.stdout.write(SCHEMA_FILE.read_text(encoding="utf-8"))
        return 0
    entries = collect(settings_from_env(), _pending())
    text = (json.dumps(entries, ensure_ascii=False, indent=2) + "\n") if args.json else _table(entries)
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 2 if any(e["problem"] for e in entries) else 0
