"""Serve a :class:`~gongkai_spider.demo.portal.Portal` over HTTP on 127.0.0.1 for crawls and tests.

``with serve(portal) as base_url:`` starts a threaded HTTP/1.1 server (keep-alive, so a crawl reuses its
connections) on a free port in a daemon thread and stops it on exit. The handler only looks pages up; it
logs nothing, so a crawl's output stays readable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gongkai_spider.demo.portal import Portal


def _handler_for(portal: Portal) -> type[BaseHTTPRequestHandler]:
    class PortalHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive client waits for
        # the delayed ACK (~40 ms) before the body arrives.
        disable_nagle_algorithm = True
        server_version = "gongkai-demo"
        sys_version = ""

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def do_POST(self) -> None:
            self._respond(send_body=True)

        def _respond(self, *, send_body: bool) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request_body = self.rfile.read(length) if length > 0 else b""
            status, body, content_type = portal.respond(self.command, self.path, request_body, dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: one line per page adds up
            pass

    return PortalHandler


@contextmanager
def serve(portal: Portal, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``portal`` until the block ends; yields the base URL, e.g. ``http://127.0.0.1:40123``."""
    server = ThreadingHTTPServer((host, port), _handler_for(portal))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="gongkai-demo-portal", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
