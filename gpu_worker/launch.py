"""The command line that starts one attempt's training processes, and the ranks' side of it.

One device: the training child itself (``python -m gpu_worker.train_attempt --spec-key …``).
Several: torchrun (``python -m torch.distributed.run --standalone``) with one process per device,
each running the same child; torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the
rendezvous address, stops every rank when one fails, and exits non-zero then. Its ranks run in
sessions of their own, so the worker reaches them through :func:`rank_pids` (pause) and kills
them by pid (cancel); each rank also dies with torchrun (:func:`gpu_worker.distributed.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

import psutil

TORCHRUN = (sys.executable, "-m", "torch.distributed.run")


def command(child_argv: Sequence[str], spec_key: str, n_devices: int) -> list[str]:
    """``child_argv --spec-key spec_key`` for one device, else under torchrun with ``n_devices``
    processes. ``child_argv`` is ``(python, -m, module)`` or ``(python, script.py)``."""
    argv = [*child_argv, "--spec-key", spec_key]
    if n_devices <= 1:
        return argv
    target = argv[1:]  # torchrun takes "-m module …" or "script.py …" after its own options
    return [*TORCHRUN, "--standalone", "--nnodes=1", f"--nproc-per-node={n_devices}", "--max-restarts=0",
            "--monitor-interval=0.5", *target]


def rank_pids(launcher_pid: int) -> list[int]:
    """The training processes under a torchrun launcher (its direct children)."""
    try:
        return [p.pid for p in psutil.Process(launcher_pid).children()]
    except psutil.Error:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (ranks and whatever they started)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def kill_all(pids: Sequence[int], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each of ``pids`` that still exists."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
