"""Micro-batch defaults: how many examples one forward pass takes, for the engine and the
scheduler's memory estimate alike.

A job's batch (``batch_size`` examples per optimizer step, as OpenAI counts steps) is split into
micro-batches with gradient accumulation, so the results do not depend on the split. The cap is
``openft.micro_batch_size`` or :data:`DEFAULT_MICRO_BATCH` for the device kind; the engine runs
the largest divisor of the batch under the cap, so every micro-batch of a step has the same size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: examples per forward pass when the job does not say: memory-bound on CUDA, overhead-bound on the CPU
DEFAULT_MICRO_BATCH: Final[Mapping[str, int]] = {"cuda": 4, "cpu": 16}


def micro_batch_cap(batch_size: int, device: str, requested: int | None = None) -> int:
    """The largest micro-batch the engine may run on ``device`` (never above ``batch_size``)."""
    return max(1, min(requested or DEFAULT_MICRO_BATCH[device], batch_size))


def micro_batch_size(batch_size: int, device: str, requested: int | None = None) -> int:
    """The micro-batch the engine runs: the largest divisor of ``batch_size`` under the cap."""
    cap = micro_batch_cap(batch_size, device, requested)
    return max(d for d in range(1, cap + 1) if batch_size % d == 0)
