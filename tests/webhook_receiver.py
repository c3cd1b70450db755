"""A real HTTP server on loopback that records webhook deliveries (``from webhook_receiver import Receiver``).

It answers each POST with the next status of ``statuses`` (then 200) and keeps (headers, body).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """The recorded deliveries of one receiver; ``url`` is where it listens."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append((headers, body, status))
            return status

    def wait(self, n: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes, int]]:
        """The first ``n`` deliveries, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {n} deliveries, got {len(self.received)}: {self.received}")


@contextmanager
def receiver(statuses: list[int] | None = None, path: str = "/hook") -> Iterator[Receiver]:
    """Serve a :class:`Receiver` on 127.0.0.1 in a thread."""
    rec = Receiver(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = rec.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
