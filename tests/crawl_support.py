"""Helpers for the crawl tests: a scriptable local HTTP server and a `scrapy` runner.

Not a test module. The server binds 127.0.0.1 on a free port and answers each path with a handler
``(request) -> (status, headers, body)``; every crawl runs as a real ``scrapy`` subprocess in the repository
(project settings, the overridden ``crawl`` command) with the stats written to a JSON file we read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def callback_output(output: Any) -> list:
    """Everything a spider callback yields, whether it is a generator or an async generator."""
    if hasattr(output, "__aiter__"):
        async def collect() -> list:
            return [x async for x in output]

        return asyncio.run(collect())
    return list(output)


@dataclass
class Seen:
    """One request the server answered."""

    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""


Reply = tuple[int, list[tuple[str, str]], bytes]
Handler = Callable[[Seen], Reply]


@dataclass
class Server:
    base: str
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)


def html(body: str | bytes, status: int = 200, charset: str = "utf-8", extra: list | None = None) -> Reply:
    data = body.encode(charset) if isinstance(body, str) else body
    return status, [("Content-Type", f"text/html; charset={charset}"), *(extra or [])], data


@contextlib.contextmanager
def serve(routes: dict[str, Handler | Reply], default: Handler | Reply | None = None,
          delay: float = 0.0) -> Iterator[Server]:
    """Serve ``routes`` (path -> reply or handler) on 127.0.0.1; other paths get ``default`` (else 404, robots.txt
    too). ``delay``: seconds each answer waits, to make a crawl slow enough to be interrupted."""
    state = Server(base="")
    missing: Handler | Reply = default or (404, [("Content-Type", "text/plain")], b"not found")

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:  # once per connection
            state.connections += 1
            super().setup()

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, self.command,
                        self.rfile.read(length) if length > 0 else b"")
            state.seen.append(seen)
            route = routes.get(self.path, missing)
            if delay:
                time.sleep(delay)
            status, headers, body = route(seen) if callable(route) else route
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    class _Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:  # a killed crawler resets its connections
            pass

    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def portal_handler(portal) -> Handler:
    """A ``serve`` default answering from a demo portal (gongkai_spider.demo.portal.Portal)."""
    def handler(seen: Seen) -> Reply:
        status, body, content_type = portal.respond(seen.method, seen.path, seen.body, seen.headers)
        return status, [("Content-Type", content_type)], body
    return handler


def scrapy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a crawl subprocess: a private store, history and stats file under tmp_path."""
    env = dict(os.environ)
    env.update({
        "GONGKAI_DB": str(tmp_path / "store.sqlite3"),
        "GONGKAI_RUN_HISTORY": str(tmp_path / "runs" / "{site}.json"),
        "GONGKAI_STATS_FILE": str(tmp_path / "stats.json"),
        "GONGKAI_DOWNLOAD_DELAY": "0",
        "GONGKAI_AUTOTHROTTLE": "0",
        "PYTHONWARNINGS": "ignore",
    })
    env.pop("MONGO_URI", None)
    env.update(extra)
    return env


@dataclass
class CrawlResult:
    returncode: int
    stats: dict
    log: str


def run_scrapy(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None,
               timeout: float = 60) -> CrawlResult:
    """Run ``scrapy <args>`` in the repository; returns exit status, final stats and the log."""
    env = env or scrapy_env(tmp_path)
    stats_path = Path(env["GONGKAI_STATS_FILE"])
    stats_path.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    return CrawlResult(proc.returncode, stats, proc.stdout + proc.stderr)

