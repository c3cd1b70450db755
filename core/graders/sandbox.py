"""The ``python`` grader: the user's ``grade(sample, item)`` in a sandboxed child process.

Isolation (see sandbox_launch.py): own mount/network/PID/IPC/UTS namespaces, a tmpfs root with
read-only system and Python directories only, an unprivileged uid, rlimits (memory, CPU, processes,
file size), an empty environment and a wall-clock limit enforced here. What the grader can do
ends as an error flag on the result, never as an exception of the service:

- it raises, returns a non-number or runs out of memory: ``python_grader_runtime_error`` (+ details);
- it overruns the time limit, is killed, or the sandbox cannot start: ``python_grader_server_error``
  (+ ``python_grader_server_error_type``: ``timeout``, ``killed``, ``no_result``, ``sandbox``).

Hosts without namespaces (no root and no unprivileged user namespaces) refuse python graders with
a 400 unless ``OPENFT_PYTHON_GRADER_ALLOW_UNSANDBOXED`` is set; then the grader runs with the same
rlimits, an empty environment and a temporary working directory, but can read what the service
user can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.graders.result import GradeResult
from core.graders.spec import GraderSpecError, Python
from core.graders.templates import Sample
from core.settings import Settings

log = logging.getLogger("openft.graders")

_HERE = Path(__file__).parent
_UIDS = itertools.count()
_STDERR_KEEP = 4096
_SEMAPHORES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


@functools.cache
def _runner_source() -> str:
    return (_HERE / "sandbox_runner.py").read_text()


def _python() -> str:
    return os.path.realpath(sys.executable)


def _config(settings: Settings, root: str, *, isolated: bool) -> dict[str, Any]:
    prefix = os.path.realpath(sys.base_prefix)
    return {
        "root": root,
        "as_root": os.geteuid() == 0,
        # a uid of its own per launch (as root), far above real accounts: RLIMIT_NPROC counts only it
        "uid": 3_000_000 + (os.getpid() % 1000) * 1000 + next(_UIDS) % 1000,
        "python": _python(),
        "extra_readonly": [] if prefix.startswith("/usr/") else [prefix],
        "site_packages": sysconfig.get_paths()["purelib"],
        "runner": _runner_source() if isolated else "",
        "memory_bytes": settings.python_grader_memory_mib * 1024 * 1024,
        "cpu_seconds": max(1, int(settings.python_grader_timeout_seconds) + 1),
        "max_processes": 8,
        "file_bytes": 8 * 1024 * 1024,
        "tmpfs_bytes": 16 * 1024 * 1024,
    }


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes (the rest is read and dropped); whether anything was dropped."""
    kept, dropped = bytearray(), False
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        kept += chunk[:room]
        dropped = dropped or len(chunk) > room
    return bytes(kept), dropped


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher; the kernel then kills the sandbox (PDEATHSIG)


async def _spawn(settings: Settings, payload: bytes, *, isolated: bool) -> tuple[int | None, bytes, bool, bytes]:
    """Run one grader; (exit status or None on timeout, protocol bytes, over cap, stderr tail)."""
    with tempfile.TemporaryDirectory(prefix="openft-grader-") as root:
        os.chmod(root, 0o755)
        if isolated:
            cfg = _config(settings, root, isolated=True)
            argv = [_python(), "-I", "-S", str(_HERE / "sandbox_launch.py"), json.dumps(cfg)]
            env: dict[str, str] = {}
        else:
            argv = [_python(), "-I", "-S", str(_HERE / "sandbox_unisolated.py"),
                    json.dumps(_config(settings, root, isolated=False))]
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1"}
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=root, start_new_session=True,
        )
        assert proc.stdin and proc.stdout and proc.stderr
        out_task = asyncio.ensure_future(_read_capped(proc.stdout, settings.python_grader_max_output_bytes))
        err_task = asyncio.ensure_future(_read_capped(proc.stderr, 64 * 1024))
        try:
            async with asyncio.timeout(settings.python_grader_timeout_seconds + 1.0):  # + process start-up
                try:
                    proc.stdin.write(payload)
                    await proc.stdin.drain()
                    proc.stdin.close()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                status: int | None = await proc.wait()
        except TimeoutError:
            status = None
        finally:
            _kill(proc)
            await proc.wait()
        (out, over), (err, _) = await asyncio.gather(out_task, err_task)
        return status, out, over, err[-_STDERR_KEEP:]


@functools.cache
def sandbox_available() -> bool:
    """Whether this host can build the sandbox: probed once per process with a trivial grader.

    Synchronous on purpose (a subprocess, no event loop), so that it can be asked from anywhere,
    including code running inside the server's event loop (``parse_grader`` in a handler).
    """
    if sys.platform != "linux":
        return False
    payload = json.dumps({"source": "def grade(sample, item):\n    return 1.0\n", "sample": {}, "item": {}})
    with tempfile.TemporaryDirectory(prefix="openft-grader-probe-") as root:
        os.chmod(root, 0o755)
        cfg = _config(Settings(python_grader_timeout_seconds=20), root, isolated=True)
        try:
            done = subprocess.run([_python(), "-I", "-S", str(_HERE / "sandbox_launch.py"), json.dumps(cfg)],
                                  input=payload.encode(), capture_output=True, env={}, cwd=root, timeout=30,
                                  start_new_session=True, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("python graders: the sandbox probe failed: %s", exc)
            return False
    try:
        ok = done.returncode == 0 and json.loads(done.stdout or b"{}").get("reward") == 1.0
    except ValueError:
        ok = False
    if not ok:
        log.warning("python graders: no sandbox on this host (status %s): %s", done.returncode,
                    done.stderr.decode(errors="replace")[-2000:])
    return ok


def require_sandbox(settings: Settings) -> None:
    """Raise :class:`GraderSpecError` when python graders cannot run here."""
    if not sandbox_available() and not settings.python_grader_allow_unsandboxed:
        raise GraderSpecError(
            "Python graders are disabled on this server: it cannot isolate them (it needs Linux with root or "
            "unprivileged user namespaces). An operator may allow them without isolation with "
            "OPENFT_PYTHON_GRADER_ALLOW_UNSANDBOXED=true.", "type")


def _semaphore(settings: Settings) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _SEMAPHORES:
        _SEMAPHORES[loop] = asyncio.Semaphore(max(1, settings.python_grader_concurrency))
    return _SEMAPHORES[loop]


def _signal_of(status: int | None) -> int | None:
    """The signal that ended a grader: -N from the unisolated child, 128 + N through the launcher."""
    if status is None:
        return None
    if status < 0:
        return -status
    return status - 128 if status > 128 else None


async def run_python_grader(grader: Python, result: GradeResult, *, item: Mapping[str, Any] | Any,
                            sample: Sample | None, settings: Settings) -> None:
    """Fill ``result`` with the reward of ``grader`` (or its error flags)."""
    isolated = await asyncio.to_thread(sandbox_available)
    if not isolated and not settings.python_grader_allow_unsandboxed:
        result.fail("python_grader_server_error", "python_grader_server_error_type", "sandbox")
        return
    payload = json.dumps({"source": grader.source, "sample": sample.as_dict() if sample else None,
                          "item": {} if item is None else item}, ensure_ascii=False).encode()
    async with _semaphore(settings):
        status, out, over, err = await _spawn(settings, payload, isolated=isolated)
    stderr = err.decode(errors="replace").strip()
    killed_by = _signal_of(status)
    # the CPU limit's SIGXCPU is the time limit too, and can land just before the wall-clock one
    if status is None or killed_by == signal.SIGXCPU:
        result.fail("python_grader_server_error", "python_grader_server_error_type", "timeout")
        result.details["python_grader_runtime_error_details"] = (
            f"grade() did not finish within {settings.python_grader_timeout_seconds:g} s")
        return
    if over:
        result.fail("truncated_observation_error")
        result.fail("python_grader_runtime_error", "python_grader_runtime_error_details",
                    f"the grader wrote more than {settings.python_grader_max_output_bytes} bytes of result")
        return
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "reward" in answer and isinstance(answer["reward"], int | float):
        result.reward = float(answer["reward"])
    elif isinstance(answer, dict) and isinstance(answer.get("error"), str):
        result.fail("python_grader_runtime_error", "python_grader_runtime_error_details", answer["error"])
    elif status == 70:
        log.error("python grader sandbox failed: %s", stderr)
        result.fail("python_grader_server_error", "python_grader_server_error_type", "sandbox")
    else:
        kind = "killed" if killed_by else "no_result"
        why = f"signal {killed_by}" if killed_by else f"exit status {status}"
        result.fail("python_grader_server_error", "python_grader_server_error_type", kind)
        result.details["python_grader_runtime_error_details"] = (
            f"the grader process ended without a result ({why}; memory limit "
            f"{settings.python_grader_memory_mib} MiB, CPU limit {settings.python_grader_timeout_seconds:g} s)"
            + (f": {stderr[-1000:]}" if stderr else ""))
