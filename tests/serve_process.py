"""``openft serve`` as a user starts it: a separate process on a free port, stopped with SIGTERM.

Import from tests: ``from serve_process import openft_serve``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from live_server import free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
#: a safety net for a slow, loaded machine (imports, migrations), not a speed assertion
START_TIMEOUT_S = 180.0


@dataclass
class ServeProcess:
    """A running ``openft serve``: its base URL (with ``/v1``) and what it printed so far."""

    url: str
    port: int
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _pump(proc: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "serving on" in line:
            ready.set()
    ready.set()


@contextlib.contextmanager
def openft_serve(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    """Run ``openft serve --data-dir DATA_DIR --port P`` until the block ends.

    The process sees no ``OPENFT_*`` variable of the test's environment, only those in ``env``.
    """
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")}
    full_env = {**clean, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdk.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    served = ServeProcess(f"http://127.0.0.1:{port}/v1", port, proc)
    ready = threading.Event()
    threading.Thread(target=_pump, args=(proc, served.lines, ready), daemon=True).start()
    try:
        ready.wait(START_TIMEOUT_S)
        assert proc.poll() is None, f"openft serve exited with {proc.returncode}:\n{served.output}"
        wait_for_port(port, timeout=START_TIMEOUT_S)
        yield served
    finally:
        stop_process(proc)
