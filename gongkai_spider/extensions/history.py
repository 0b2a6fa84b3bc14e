"""The per-site run history file: earlier runs' field coverage, how the last run ended, and a "running" marker.

One small JSON file per site (``GONGKAI_RUN_HISTORY``; by default ``runs/{site}.json`` in the folder of the
SQLite store ``GONGKAI_DB``, i.e. ``data/runs/{site}.json``, so a crawl into another store keeps its own history)::

    {"site": "demo",
     "runs": [{"finished_at": ..., "reason": "finished", "items": 90, "pages": 98, "coverage": {"title": 1.0, ...}}],
     "last_run": {"started_at": ..., "finished_at": ..., "reason": "finished"},
     "running": {"pid": 4242, "started_at": ...}}          # only while a run is on

Two components read it:

* the run monitor (extensions/monitor.py) compares this run's coverage with ``runs`` and appends to it;
* the incremental middleware asks :attr:`SiteHistory.previous_complete`: the "stop after K known items" rule is
  only sound when the previous run walked every column to the end. A run killed with SIGKILL (or OOM, a power
  cut) leaves its ``running`` marker behind, and a run that stopped early (``shutdown``, ``closespider_*``) leaves a
  ``last_run`` reason other than ``finished``; the next run then walks every listing page (still skipping stored
  articles), so nothing the interrupted run never reached is lost.

``site_history_for_crawler(crawler)`` opens the file once per crawl and marks the run as running; whichever component
asks first, both see the state the previous run left. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from gongkai_spider.normalize import SHANGHAI

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "data/runs/{site}.json"
_OFF = {"0", "off", "none", "false", "no"}


def history_template(settings: Any) -> str:
    """The history path template from the settings; "" when the history is switched off.

    ``GONGKAI_RUN_HISTORY`` set: that template (``off`` = no history). Unset or empty: ``runs/{site}.json`` beside
    ``GONGKAI_DB`` (with ``MONGO_URI``: ``data/runs/{site}.json``).
    """
    value = str(settings.get("GONGKAI_RUN_HISTORY", "") or "").strip()
    if value.lower() in _OFF:
        return ""
    if value:
        return value
    db = str(settings.get("GONGKAI_DB", "") or "")
    if settings.get("MONGO_URI") or not db:
        return DEFAULT_TEMPLATE
    return str(Path(db).parent / "runs" / "{site}.json")


def history_file(template: str, site: str) -> Path:
    """The history path of a site: ``{site}`` in the template is replaced; a template without it is a folder."""
    safe = re.sub(r"[^\w.-]+", "_", site) or "_"
    if "{site}" in template:
        return Path(template.replace("{site}", safe))
    return Path(template) / f"{safe}.json"


def _now() -> str:
    return datetime.now(SHANGHAI).isoformat(timespec="seconds")


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class SiteHistory:
    """One site's history file (see the module docstring)."""

    def __init__(self, path: Path, site: str, size: int = 20) -> None:
        self.path = path
        self.site = site
        self.size = size
        self.data = self._load()
        self.previous_complete, self.previous_note = self._judge_previous()
        self._started_at: str | None = None
        self.finished = False

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("run history %s unreadable (%s); starting a new one", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def runs(self) -> list[dict]:
        runs = self.data.get("runs")
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []

    def _judge_previous(self) -> tuple[bool, str]:
        running = self.data.get("running")
        if isinstance(running, dict) and running.get("pid") != os.getpid():
            if _pid_alive(running.get("pid")):
                # Another live crawl of this site (e.g. a second worker): it may not have reached the end either.
                return False, f"another run of this site is in progress (pid {running.get('pid')})"
            return False, f"the run started {running.get('started_at')} never closed (killed?)"
        last = self.data.get("last_run")
        if isinstance(last, dict) and last.get("reason") != "finished":
            return False, f"the previous run ended with reason {last.get('reason')!r}"
        return True, "previous run finished" if last else "no previous run"

    def save(self) -> None:
        self.data["site"] = self.site
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)  # atomic: a crash never leaves half a file
        except OSError as exc:
            logger.warning("could not write run history %s: %s", self.path, exc)

    def start(self) -> None:
        """Mark this run as running (once)."""
        if self._started_at is None:
            self._started_at = _now()
            self.data["running"] = {"pid": os.getpid(), "started_at": self._started_at}
            self.save()

    def finish(self, reason: str, run: dict | None = None) -> None:
        """Record how this run ended and, when given, its coverage record; clears the running marker."""
        self.data.pop("running", None)
        self.data["last_run"] = {"started_at": self._started_at, "finished_at": _now(), "reason": reason}
        if run is not None:
            self.data["runs"] = [*self.runs, {"finished_at": _now(), **run}][-self.size:]
        self.save()
        self.finished = True

    def spider_closed(self, spider: Any = None, reason: str = "finished") -> None:
        """Record the end of the run when nobody did (the run monitor records it with the run's coverage)."""
        if not self.finished:
            self.finish(reason)


def site_history_for_crawler(crawler: Any) -> SiteHistory | None:
    """The crawl's SiteHistory (None when the history is off), opened and marked running on first use."""
    cached = getattr(crawler, "_gongkai_site_history", False)
    if cached is not False:
        return cached
    template = history_template(crawler.settings)
    history = None
    if template:
        spider = getattr(crawler, "spider", None)
        site = str(getattr(spider, "site_id", None) or getattr(spider, "name", None) or "unknown")
        history = SiteHistory(history_file(template, site), site, crawler.settings.getint("GONGKAI_RUN_HISTORY_SIZE", 20))
        history.start()
        from scrapy import signals

        # also when the run monitor is switched off: a run that never "finishes" would disable the stop rule forever
        crawler.signals.connect(history.spider_closed, signal=signals.spider_closed)
    crawler._gongkai_site_history = history
    return history
