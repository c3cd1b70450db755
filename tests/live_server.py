"""A live API server for tests: uvicorn in a thread on a free port, recording every status.

Used by the ``server`` fixture in tests/conftest.py; import it directly (``from live_server import
LiveServer, make_client``) for servers of your own, e.g. with a custom app.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
from fastapi import FastAPI


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    """Send ``sig`` (a clean shutdown) to ``proc`` and wait; kill it when it is still there after ``timeout`` s."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class ResponseLog:
    """What a live server answered: (method, path, status, x-stainless-retry-count)."""

    entries: list[tuple[str, str, int, str | None]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [e[2] for e in self.entries]


class _Recording:
    """ASGI wrapper that appends every response status to a :class:`ResponseLog`."""

    def __init__(self, app: Any, log: ResponseLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        retry = headers.get(b"x-stainless-retry-count")

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.log.entries.append((scope["method"], scope["path"], message["status"],
                                         retry.decode() if retry else None))
            await send(message)

        await self.app(scope, receive, recording_send)


@dataclass
class LiveServer:
    """A running API server: ``url`` (no ``/v1``), ``base_url`` (with), and its response log."""

    url: str
    app: FastAPI
    log: ResponseLog

    @property
    def base_url(self) -> str:
        return self.url + "/v1"


@contextlib.contextmanager
def run_server_in_thread(app: FastAPI, log: ResponseLog | None = None) -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn on a free port in a thread until the generator is closed."""
    import uvicorn

    log = log or ResponseLog()
    port = free_port()
    config = uvicorn.Config(_Recording(app, log), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, log=log)
    finally:
        server.should_exit = True
        thread.join(15)


def make_client(server: LiveServer, key: str, **kwargs: Any) -> openai.OpenAI:
    """The official client against ``server`` in strict response-validation mode."""
    return openai.OpenAI(base_url=server.base_url, api_key=key, _strict_response_validation=True, **kwargs)
