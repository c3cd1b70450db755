"""One training child process as the worker sees it: spawn, read, signal, kill, explain.

The child runs in its own process group (so a kill reaches its data-loader processes too) and
dies with the worker (``PR_SET_PDEATHSIG``, set by a tiny launcher before ``exec``: a worker
killed with SIGKILL must not leave a training running that the scheduler has re-queued).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from pydantic import BaseModel, SecretStr, ValidationError

from core.model_loading import apply_cpu_thread_env
from core.protocol import Device, Report
from core.settings import Settings
from gpu_worker.launch import descendants, kill_all, rank_pids

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024 * 1024
STDERR_TAIL_LINES = 40
STDERR_TAIL_CHARS = 2000

# Runs in the new process before the training child: arm "die with the worker" (Linux), make
# sure the worker did not die in between, then become the child (exec keeps the setting).
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(70)\n"
    "signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # torchrun would die of a pause; a child sets its own\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def settings_env(settings: Settings) -> dict[str, str]:
    """``OPENFT_*`` variables from which the child rebuilds exactly these settings."""
    env = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, os.PathLike):
            text = os.path.abspath(os.fspath(value))
        elif isinstance(value, BaseModel):
            text = value.model_dump_json()
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"OPENFT_{name.upper()}"] = text
    return env


def child_env(
    settings: Settings, device: Device, visible_devices: str, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: the worker's, with OPENFT_* replaced by ``settings``, the
    device pinned (``OPENFT_DEVICE`` and ``CUDA_VISIBLE_DEVICES``) and CPU threads that sleep
    while they wait (:data:`core.model_loading.CPU_THREAD_ENV`)."""
    source = dict(os.environ if base is None else base)
    env = {k: v for k, v in source.items() if not k.startswith("OPENFT_")}
    env.update(settings_env(settings))
    env["OPENFT_DEVICE"] = device.kind
    env["CUDA_VISIBLE_DEVICES"] = visible_devices
    env["PYTHONUNBUFFERED"] = "1"
    apply_cpu_thread_env(env)
    return env


Relay = Callable[["ChildRun", Report], Awaitable[None]]


class ChildRun:
    """One run of a training child for ``(job_id, attempt)`` on ``devices`` (several: the child
    is torchrun, one rank per device, see :mod:`gpu_worker.launch`)."""

    def __init__(self, job_id: str, attempt: int, devices: list[Device]) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.devices = devices
        self.device = devices[0]
        self.proc: asyncio.subprocess.Process | None = None
        self.final: Report | None = None  # succeeded / failed / paused, as the child reported it
        self.last_checkpoint_step: int | None = None
        self.pause_sent = False
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    @property
    def multi(self) -> bool:
        return len(self.devices) > 1

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself (not its group: SIGUSR1 would kill data loaders), or
        under torchrun to every rank."""
        if self.proc is not None and self.proc.returncode is None:
            kill_all(rank_pids(self.proc.pid) if self.multi else [self.proc.pid], sig)

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace_s``; returns once it is dead."""
        if self.proc is None:
            return
        ranks = descendants(self.proc.pid)  # torchrun's ranks live in sessions of their own
        if self.proc.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace_s)
            except TimeoutError:
                log.warning("child %s ignored SIGTERM for %.0f s; SIGKILL", self.pid, grace_s)
            finally:
                self._signal_group(signal.SIGKILL)
            await self.proc.wait()
        self._signal_group(signal.SIGKILL)  # whatever it left behind in its group
        kill_all(ranks)

    async def pump(self, relay: Relay) -> None:
        """Relay report lines until the child exits; other output goes to the log."""
        assert self.proc is not None and self.proc.stdout and self.proc.stderr
        try:
            await asyncio.gather(
                self._read_stdout(self.proc.stdout, relay), self._read_stderr(self.proc.stderr)
            )
            await self.proc.wait()
        finally:
            self._signal_group(signal.SIGKILL)
        log.info("child %s of %s exited with %s", self.pid, self.job_id, self.proc.returncode)

    async def _read_stdout(self, stream: asyncio.StreamReader, relay: Relay) -> None:
        async for line in _lines(stream, split_cr=False):
            try:
                report = Report.parse_line(line)
            except ValidationError as e:
                log.warning("malformed report from %s: %s (%s)", self.job_id, line[:200], e.errors()[:1])
                continue
            if report is None:
                log.info("[%s] %s", self.job_id, line)
                continue
            try:
                await relay(self, report)
            except Exception:
                log.exception("relaying a report of %s failed", self.job_id)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in _lines(stream, split_cr=True):
            if line.strip():
                self.stderr_tail.append(line)
                log.debug("[%s stderr] %s", self.job_id, line)

    def stderr_suffix(self) -> str:
        tail = "\n".join(self.stderr_tail)[-STDERR_TAIL_CHARS:]
        return f". Last output:\n{tail}" if tail else ""

    def crash_report(self) -> Report:
        """A ``failed`` report for a child that ended without a final report of its own."""
        rc = self.returncode
        if rc is not None and rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = str(-rc)
            what = f"The training process was killed by signal {name}"
        elif rc == 0:
            what = "The training process exited without reporting a result"
        else:
            what = f"The training process exited with code {rc}"
        return Report(kind="failed", job_id=self.job_id, attempt=self.attempt, code="worker_error",
                      message=what + self.stderr_suffix())

    def final_failure(self) -> Report:
        """The failure to publish when an out-of-memory failure will not be retried."""
        return self.final or self.crash_report()


async def spawn_child(run: ChildRun, argv: Sequence[str], env: dict[str, str]) -> None:
    """Start ``argv`` for ``run``: own session and process group, dies with this process."""
    run.proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


async def _lines(stream: asyncio.StreamReader, *, split_cr: bool) -> AsyncIterator[str]:
    """Decoded lines of ``stream``; ``split_cr`` also splits on carriage returns (progress bars)."""
    buf = bytearray()
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            if buf:
                yield buf.decode(errors="replace")
            return
        if split_cr:
            chunk = chunk.replace(b"\r", b"\n")
        buf += chunk
        while (cut := buf.find(b"\n")) >= 0:
            yield buf[:cut].decode(errors="replace")
            del buf[: cut + 1]
        if len(buf) > MAX_LINE:
            yield buf.decode(errors="replace")
            buf.clear()
