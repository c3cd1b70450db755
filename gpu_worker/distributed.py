"""The ranks' side of a multi-device attempt (torchrun, :mod:`gpu_worker.launch`).

Every rank runs the same training child. :func:`init` joins the process group (gloo on the
CPU, NCCL on CUDA) with a timeout on every collective, so a rank whose peer died fails instead
of waiting forever; the Trainer (accelerate) then uses that group. Only rank 0 talks to the
worker (reports) and writes to the store; :func:`barrier` orders what the others must wait
for, :func:`agree` makes every rank take the same decision (pause) at a step boundary. With one
process every function here is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import os
import signal
from typing import Any


def rank() -> int:
    """This process's rank under torchrun (0 when it runs alone)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many training processes the attempt has (1 when it runs alone)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def die_with_parent() -> None:
    """Linux: be killed when torchrun dies, even by SIGKILL (a rank must never outlive its job)."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # torchrun died before the line above: do not train alone
        os._exit(70)


def _dist() -> Any | None:
    if world_size() <= 1:
        return None
    import torch.distributed as dist

    return dist if dist.is_initialized() else None


def init(device: str, timeout_s: float) -> None:
    """Join the attempt's process group, pin this rank's GPU and share the CPU cores fairly."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size()))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))


def barrier() -> None:
    """Wait until every rank got here (no-op alone)."""
    dist = _dist()
    if dist is not None:
        dist.barrier()


def agree(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any of them."""
    dist = _dist()
    if dist is None:
        return flag
    import torch

    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def close() -> None:
    """Leave the process group (at the end of the attempt)."""
    dist = _dist()
    if dist is not None:
        dist.destroy_process_group()
