"""Run ``formats.extract`` in a separate, long-lived worker process with a time and a memory limit.

A file that makes a parser loop, eat memory or crash (PDFium is C++) costs that file a status
(``failed:parse_timeout``, ``failed:memory``, ``failed:parse_crashed``) and a new worker, never the crawl.
The worker is started on first use and reused (starting Python and importing the parsers costs ~0.2 s CPU);
calls are serialised by a lock, so the runner may be used from a thread pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from typing import Any

from gongkai_spider.filetext.formats import Limits

logger = logging.getLogger(__name__)


class FileTextRunner:
    def __init__(self, limits: Limits | None = None, timeout: float = 30.0, memory_mb: int = 1024) -> None:
        self.limits = limits or Limits()
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._limits_json = dataclasses.asdict(self.limits)

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        # the worker imports this very package, wherever it was imported from (a checkout, an install)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
        return subprocess.Popen([sys.executable, "-m", "gongkai_spider.filetext.worker", str(self.memory_mb)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=env, close_fds=True)

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.kill()
            proc.wait(timeout=5)
        except Exception:  # already gone
            pass
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(Exception):
                stream.close()

    def extract(self, data: bytes, name: str = "", content_type: str = "") -> dict[str, Any]:
        """The result of ``formats.extract`` for ``data`` (plus ``cpu_ms`` of the worker), or a failure status."""
        header = json.dumps({"size": len(data), "name": name, "content_type": content_type,
                             "limits": self._limits_json}).encode("utf-8") + b"\n"
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                self._proc = self._start()
            proc = self._proc
            deadline = time.monotonic() + self.timeout
            try:
                proc.stdin.write(header)
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._kill()
                return {"status": "failed:parse_crashed", "text": None, "text_truncated": False}
            line = self._read_line(proc, deadline)
            if not line:  # None: no answer in time; b"": the worker died
                self._kill()
                status = "failed:parse_timeout" if line is None else "failed:parse_crashed"
                logger.warning("attachment text: %s for %s (%d bytes)", status, name, len(data))
                return {"status": status, "text": None, "text_truncated": False}
        return json.loads(line)

    @staticmethod
    def _read_line(proc: subprocess.Popen, deadline: float) -> bytes | None:
        """The worker's answer line; None when the deadline passed first, b"" when the worker closed its output."""
        fd = proc.stdout.fileno()
        chunks: list[bytes] = []
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b""
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    return b"".join(chunks)
