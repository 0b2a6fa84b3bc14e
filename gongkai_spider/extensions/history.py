"""The per-site run history file: earlier runs' field coverage, how the last run ended, and a "running" marker.

One small JSON file per site (``GONGKAI_RUN_HISTORY``; by default ``runs/{site}.json`` in the folder of the
SQLite store ``GONGKAI_DB``, i.e. ``data/runs/{site}.json``, so a crawl into another store keeps its own history)::

    {"site": "demo",
     "runs": [{"finished_at": ..., "reason": "finished", "items": 90, "pages": 98, "coverage": {"title": 1.0, ...}}],
     "last_run": {"started_at": ..., "finished_at": ..., "reason": "finished", "exit_status": 0, "new": 12,
                  "updated": 0, "unchanged": 78, "quarantined": 1, "failed": 0, "pending": 0, "alerts": [],
                  "coverage": {...}},                    # the figures: only when the run monitor is on
     "log": [<last_run of each recent run>, ...],          # for `gongkai report`
     "running": {"pid": 4242, "started_at": ...}}          # only while a run is on

Two components read it:

* the run monitor (extensions/monitor.py) compares this run's coverage with ``runs`` and appends to it;
* the incremental middleware asks :attr:`SiteHistory.previous_complete`: the "stop after K known items" rule is
  only sound when the previous run walked every column to the end. A run killed with SIGKILL (or OOM, a power
  cut) leaves its ``running`` marker behind, and a run that stopped early (``shutdown``, ``closespider_*``) leaves a
  ``last_run`` reason other than ``finished``, and a run that could not fetch some listing page records
  ``listings_failed`` in ``last_run``; the next run then walks every listing page (still skipping stored
  articles), so nothing the interrupted run never reached is lost.

``site_history_for_crawler(crawler)`` opens the file once per crawl and marks the run as running; whichever component
asks first, both see the state the previous run left.

Several processes may share one file: the workers of a distributed crawl (docs/SCALING.md) started on one machine,
or a second run started while one is on. Every write is therefore a merge: under an exclusive lock on
``<file>.lock`` the file is read afresh, this run's change applied (its marker set or cleared, its end and coverage
record added) and the result written to a temporary file that replaces the old one (``os.replace``: readers never
see half a file). A run never writes back the copy it read at its start, so it cannot undo what another run
recorded meanwhile. Markers of runs that are on beside the first one go to ``running_others``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: writes stay atomic, concurrent runs are not merged
    fcntl = None  # type: ignore[assignment]

from gongkai_spider.extensions.liveness import marker_alive, process_identity
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


def _markers(data: dict) -> list[dict]:
    """Running markers in the file: ``running`` (the first run on), then ``running_others``."""
    first = data.get("running")
    others = data.get("running_others")
    markers = [first] if isinstance(first, dict) else []
    markers += [m for m in others if isinstance(m, dict)] if isinstance(others, list) else []
    return markers


def _set_markers(data: dict, markers: list[dict]) -> None:
    data.pop("running", None)
    data.pop("running_others", None)
    if markers:
        data["running"] = markers[0]
    if len(markers) > 1:
        data["running_others"] = markers[1:]


class SiteHistory:
    """One site's history file (see the module docstring). ``pid``: this run's process (tests pass others)."""

    def __init__(self, path: Path, site: str, size: int = 20, *, pid: int | None = None) -> None:
        self.path = path
        self.site = site
        self.size = size
        self.pid = pid or os.getpid()
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
        for running in _markers(self.data):
            if running.get("pid") == self.pid:
                continue
            if marker_alive(running):
                # Another live crawl of this site (e.g. a second worker): it may not have reached the end either.
                return False, f"another run of this site is in progress (pid {running.get('pid')})"
            return False, f"the run started {running.get('started_at')} never closed (killed?)"
        last = self.data.get("last_run")
        if isinstance(last, dict) and last.get("reason") != "finished":
            return False, f"the previous run ended with reason {last.get('reason')!r}"
        if isinstance(last, dict) and last.get("listings_failed"):
            return False, f"the previous run could not fetch {last['listings_failed']} listing page(s)"
        return True, "previous run finished" if last else "no previous run"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f"{self.path.name}.lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _update(self, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the file as it is now, under the lock, and replace it atomically."""
        try:
            with self._locked():
                data = self._load()
                change(data)
                data["site"] = self.site
                tmp = self.path.with_name(f"{self.path.name}.{self.pid}.tmp")
                tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)  # atomic: a crash never leaves half a file
        except OSError as exc:
            logger.warning("could not write run history %s: %s", self.path, exc)
            return
        self.data = data

    def start(self) -> None:
        """Mark this run as running (once)."""
        if self._started_at is not None:
            return
        self._started_at = _now()
        # the process's start time and boot id too: a reused PID is not taken for this run (extensions/liveness.py)
        marker = {**process_identity(self.pid), "started_at": self._started_at}

        def mark(data: dict) -> None:
            # Markers of runs that are on stay; a dead run's marker has been judged (previous_complete) and goes.
            others = [m for m in _markers(data) if m.get("pid") != self.pid and marker_alive(m)]
            _set_markers(data, [*others, marker])

        self._update(mark)

    def finish(self, reason: str, run: dict | None = None, summary: dict | None = None) -> None:
        """Record how this run ended and, when given, its coverage record and its figures (``summary``: kept in
        ``last_run`` and appended to ``log``, every run's figures); clears this run's marker only."""
        finished_at = _now()

        def record(data: dict) -> None:
            _set_markers(data, [m for m in _markers(data) if m.get("pid") != self.pid])
            data["last_run"] = {"started_at": self._started_at, "finished_at": finished_at, "reason": reason,
                                **(summary or {})}
            if summary is not None:
                log = data.get("log")
                log = [r for r in log if isinstance(r, dict)] if isinstance(log, list) else []
                data["log"] = [*log, data["last_run"]][-self.size:]
            if run is not None:
                runs = data.get("runs")
                runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
                data["runs"] = [*runs, {"finished_at": finished_at, **run}][-self.size:]

        self._update(record)
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
