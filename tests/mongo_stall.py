"""A fake MongoDB server on 127.0.0.1 for the hostile-store tests. Not a test module.

It speaks just enough of the wire protocol (OP_QUERY / OP_MSG) to complete pymongo's handshake: every
``hello`` / ``isMaster`` is answered as a standalone primary, so the driver's monitor sees a healthy server.
What happens to any other command depends on ``mode``:

- ``"stall"``: never answered (the connection stays open and silent), like a server that froze after accepting;
- ``"auth_fail"``: authentication commands (``saslStart``, ``authenticate``) answer ``AuthenticationFailed``
  (code 18) and the rest stall.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import bson

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HANDSHAKE = frozenset({"hello", "ismaster", "isMaster"})
AUTH = frozenset({"saslStart", "saslContinue", "authenticate"})


@dataclass
class FakeMongo:
    port: int
    mode: str
    commands: list[str] = field(default_factory=list)  # every command name received, in order

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def uri_with_credentials(self, user: str = "crawler", password: str = "wrong-secret") -> str:
        return f"mongodb://{user}:{password}@127.0.0.1:{self.port}/?directConnection=true&authSource=admin"

    @property
    def stalled(self) -> list[str]:
        """Commands left without an answer."""
        return [c for c in self.commands if c not in HANDSHAKE and not (self.mode == "auth_fail" and c in AUTH)]


def _hello(connection_id: int) -> dict:
    return {"helloOk": True, "ismaster": True, "isWritablePrimary": True, "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000, "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30, "connectionId": connection_id, "minWireVersion": 0,
            "maxWireVersion": 21, "readOnly": False, "ok": 1.0}


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _parse(op: int, body: bytes) -> dict:
    if op == OP_QUERY:
        end = body.index(b"\x00", 4)  # flags, then the collection name (cstring), skip, limit, query document
        start = end + 1 + 8
        size = struct.unpack_from("<i", body, start)[0]
        return bson.decode(body[start:start + size])
    if op == OP_MSG:
        doc: dict = {}
        pos = 4
        while pos < len(body):
            kind = body[pos]
            pos += 1
            size = struct.unpack_from("<i", body, pos)[0]
            if kind == 0:
                doc.update(bson.decode(body[pos:pos + size]))
            pos += size  # kind 1 (a document sequence) carries its own size too
        return doc
    return {}


def _reply(op: int, request_id: int, doc: dict) -> bytes:
    payload = bson.encode(doc)
    if op == OP_QUERY:
        body = struct.pack("<iqii", 0, 0, 0, 1) + payload
        code = OP_REPLY
    else:
        body = struct.pack("<i", 0) + b"\x00" + payload
        code = OP_MSG
    return struct.pack("<iiii", 16 + len(body), 0, request_id, code) + body


def _serve_connection(conn: socket.socket, state: FakeMongo, connection_id: int, stop: threading.Event) -> None:
    with conn:
        while not stop.is_set():
            try:
                length, request_id, _response_to, op = struct.unpack("<iiii", _recv_exact(conn, 16))
                command = _parse(op, _recv_exact(conn, length - 16))
            except (ConnectionError, OSError, ValueError, struct.error):
                return
            name = next(iter(command), "")
            state.commands.append(name)
            if name in HANDSHAKE:
                conn.sendall(_reply(op, request_id, _hello(connection_id)))
            elif state.mode == "auth_fail" and name in AUTH:
                conn.sendall(_reply(op, request_id, {"ok": 0.0, "errmsg": "Authentication failed.", "code": 18,
                                                     "codeName": "AuthenticationFailed"}))
            # anything else: no answer, ever


@contextlib.contextmanager
def fake_mongo(mode: str = "stall") -> Iterator[FakeMongo]:
    """A fake server on a free 127.0.0.1 port, stopped (all connections closed) on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    state = FakeMongo(listener.getsockname()[1], mode)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def accept() -> None:
        n = 0
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            n += 1
            connections.append(conn)
            threading.Thread(target=_serve_connection, args=(conn, state, n, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


if __name__ == "__main__":  # manual use: python3 tests/mongo_stall.py [stall|auth_fail]
    import sys
    import time

    with fake_mongo(sys.argv[1] if len(sys.argv) > 1 else "stall") as server:
        print(server.uri, flush=True)
        while True:
            time.sleep(3600)
