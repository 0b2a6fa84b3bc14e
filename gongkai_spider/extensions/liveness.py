"""Is the process a marker file names still the one that wrote it?

A PID alone is not enough: after a crash (or a reboot) the PID of a dead crawl is soon reused by an unrelated
process, and a marker judged by ``os.kill(pid, 0)`` alone would block every later crawl. A marker therefore
records the process's start time (``/proc/<pid>/stat`` field 22, clock ticks since boot) and the boot id
(``/proc/sys/kernel/random/boot_id``); a process is the marker's only when its PID is alive, the boot is the same
and its start time matches. Where ``/proc`` is missing (not Linux) only the PID is checked.
"""

from __future__ import annotations

import os
from typing import Any

_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces and ')'
        return int(fields[19])  # field 22 of the line; fields[0] is field 3 (state)
    except (OSError, IndexError, ValueError):
        return None


def _boot_id() -> str | None:
    try:
        with open(_BOOT_ID, encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """``{pid, start_ticks, boot_id}`` of ``pid`` (default: this process); unknown parts are None."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "start_ticks": _start_ticks(pid), "boot_id": _boot_id()}


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OverflowError:
        return False
    return True


def marker_alive(marker: dict) -> bool:
    """True when the process that wrote ``marker`` (a dict with ``pid`` and, when known, ``start_ticks`` and
    ``boot_id``) is still running."""
    pid = marker.get("pid")
    if not pid_alive(pid):
        return False
    boot_id = marker.get("boot_id")
    if boot_id and _boot_id() and boot_id != _boot_id():
        return False  # written before a reboot: every process of that boot is gone
    ticks = marker.get("start_ticks")
    if ticks is not None:
        current = _start_ticks(pid)
        if current is not None and current != ticks:
            return False  # the PID now belongs to a process started later
    return True
