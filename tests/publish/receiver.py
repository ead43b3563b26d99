"""A webhook receiver on 127.0.0.1 whose behaviour the test switches: ok, 500, 400, slow.

It records every request it answered 2xx (idempotency key, receipt time, body) so tests can say which
events arrived and how many arrived twice. ``stop()`` closes the port (a refused connection) and
``start()`` opens it again on the same port.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out and reset are part of the test


class Receiver:
    def __init__(self, port: int = 0, secret: bytes | None = None) -> None:
        self.mode = "ok"
        self.slow_s = 2.0
        self.secret = secret
        self.lock = threading.Lock()
        self.received: list[tuple[str, float, dict[str, Any]]] = []
        self.bad_signatures = 0
        self.requests = 0
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.connections: set[socket.socket] = set()
        self.thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver.connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests += 1
                    mode = receiver.mode
                if mode == "slow":
                    time.sleep(receiver.slow_s)
                if mode in ("500", "400"):
                    self._answer(int(mode), b'{"error":"no"}')
                    return
                if receiver.secret is not None:
                    from ecoperf_core.publish.webhooks import verify

                    ok = verify(
                        receiver.secret,
                        self.headers["X-Ecoperf-Timestamp"],
                        body,
                        self.headers.get("X-Ecoperf-Signature", ""),
                    )
                    if not ok:
                        with receiver.lock:
                            receiver.bad_signatures += 1
                        self._answer(401, b"bad signature")
                        return
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.received.append((key, time.time(), json.loads(body)))
                self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client timed out and left
                    pass

        return Handler

    def start(self) -> None:
        self.server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        # Kept-alive connections outlive the listening socket: cut them too, so a stopped
        # receiver really is unreachable.
        with self.lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(key for key, _at, _body in self.received)
