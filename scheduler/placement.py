"""Placement: which queued job goes to which worker device. Pure functions, no I/O.

:func:`place` takes the queued jobs' requirements, the workers' capacities and how many jobs
each project already runs, and returns assignments:

- a job goes only to a device of a kind it can run on whose free memory holds its estimate
  (``core.memory``), on a worker with a free slot (its ``capacity`` minus the jobs it
  holds); memory and slots taken by earlier assignments of the same call are deducted, so a
  worker is never overcommitted;
- jobs are considered by priority (higher first), then fairness (the project with the fewest
  running jobs first, counting the assignments made so far), then age (oldest first);
- a job that does not fit now waits, and later jobs that fit go ahead of it (backfill);
- among the devices that fit, CUDA comes before CPU, then the tightest fit, which keeps large
  devices free for large jobs.

:func:`unplaceable_reason` tells whether a job fits no registered device even when that device is
empty; the scheduler fails such a job at once instead of letting it wait forever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.memory import gib
from core.protocol import WorkerInfo

_KIND_ORDER = {"cuda": 0, "cpu": 1}


@dataclass(frozen=True)
class JobRequirement:
    """What a queued job needs. ``memory`` maps each device kind it can run on to bytes; None
    means unknown (any device, no memory check). ``order`` sorts older jobs first."""

    job_id: str
    project_id: str
    memory: Mapping[str, int] | None
    priority: int = 0
    order: int = 0
    detail: Mapping[str, Mapping[str, Any]] | None = None

    @classmethod
    def from_job(cls, job: Any) -> JobRequirement:
        """From a ``core.tables.Job`` whose ``requirements`` came from ``memory.estimate_for_job``."""
        req = job.requirements or {}
        memory = req.get("memory")
        return cls(
            job_id=job.id, project_id=job.project_id,
            memory={k: int(v) for k, v in memory.items()} if memory else None,
            priority=int(job.priority or 0), order=int(job.seq or 0), detail=req.get("detail"),
        )

    def needs(self, kind: str) -> int | None:
        """Bytes needed on a device of ``kind``, or None when the job cannot run there."""
        if self.memory is None:
            return 0
        return self.memory.get(kind)


@dataclass(frozen=True)
class DeviceCapacity:
    """One device of a worker, with the memory placement may still hand out."""

    index: int
    kind: str
    name: str
    memory_total: int
    memory_free: int


@dataclass(frozen=True)
class WorkerCapacity:
    """A live worker: its devices and how many more jobs it may start."""

    worker_id: str
    devices: tuple[DeviceCapacity, ...]
    slots: int

    @classmethod
    def from_info(cls, info: WorkerInfo, held: Iterable[JobRequirement] = ()) -> WorkerCapacity:
        """From a heartbeat. ``held``: jobs the database assigns to this worker (dispatched or
        running); their estimates are reserved on each device of a kind they can use, and they
        take slots even before the worker's heartbeat lists them. A device's free memory is the
        smaller of what the worker measured and its total minus those reservations."""
        held = list(held)
        running = set(info.running) | {h.job_id for h in held}
        devices = []
        for d in info.devices:
            reserved = sum(h.needs(d.kind) or 0 for h in held)
            free = max(0, min(d.memory_free, d.memory_total - reserved))
            devices.append(DeviceCapacity(d.index, d.kind, d.name, d.memory_total, free))
        return cls(info.id, tuple(devices), max(0, info.capacity - len(running)))


@dataclass(frozen=True)
class Assignment:
    """Run ``job_id`` on device ``device_index`` of ``worker_id``; ``memory`` is the reservation."""

    job_id: str
    worker_id: str
    device_index: int
    device_kind: str
    memory: int


def _best_device(
    job: JobRequirement, workers: Sequence[WorkerCapacity], free: Mapping[tuple[str, int], int],
    slots: Mapping[str, int],
) -> tuple[WorkerCapacity, DeviceCapacity, int] | None:
    best: tuple[tuple[int, int, str, int], WorkerCapacity, DeviceCapacity, int] | None = None
    for w in workers:
        if slots[w.worker_id] <= 0:
            continue
        for d in w.devices:
            need = job.needs(d.kind)
            left = free[(w.worker_id, d.index)]
            if need is None or need > left:
                continue
            key = (_KIND_ORDER.get(d.kind, 9), left - need, w.worker_id, d.index)
            if best is None or key < best[0]:
                best = (key, w, d, need)
    return None if best is None else best[1:]


def place(
    queued: Sequence[JobRequirement],
    workers: Sequence[WorkerCapacity],
    running_by_project: Mapping[str, int] | None = None,
    max_running: Mapping[str, int] | None = None,
) -> list[Assignment]:
    """Assign queued jobs to worker devices (see the module docstring for the policy).

    ``max_running``: a project's quota of jobs running at once; its jobs beyond it wait.
    """
    caps = max_running or {}
    free = {(w.worker_id, d.index): d.memory_free for w in workers for d in w.devices}
    slots = {w.worker_id: w.slots for w in workers}
    running: Counter[str] = Counter(running_by_project or {})
    pending = list(queued)
    out: list[Assignment] = []
    while pending and any(n > 0 for n in slots.values()):
        pending.sort(key=lambda j: (-j.priority, running[j.project_id], j.order, j.job_id))
        job = pending.pop(0)
        if job.project_id in caps and running[job.project_id] >= caps[job.project_id]:
            continue  # running counts only grow during a call: it waits for a later tick
        choice = _best_device(job, workers, free, slots)
        if choice is None:
            # free memory and slots only shrink during a call: this job cannot fit later either
            continue
        worker, device, need = choice
        free[(worker.worker_id, device.index)] -= need
        slots[worker.worker_id] -= 1
        running[job.project_id] += 1
        out.append(Assignment(job.job_id, worker.worker_id, device.index, device.kind, need))
    return out


def _fits_when_idle(job: JobRequirement, device: DeviceCapacity) -> bool:
    need = job.needs(device.kind)
    return need is not None and need <= device.memory_total


def unplaceable_reason(job: JobRequirement, workers: Sequence[WorkerCapacity]) -> str | None:
    """Why ``job`` can never run on the registered workers, or None if some device could hold it.

    Judged against each device's total memory (an idle device), so a job that only waits for
    memory to free up is not refused. With no workers registered nothing is refused: a worker
    may still join.
    """
    devices = [(w, d) for w in workers for d in w.devices]
    if not devices:
        return None
    if any(_fits_when_idle(job, d) for _, d in devices):
        return None
    kinds = sorted({d.kind for _, d in devices}, key=lambda k: _KIND_ORDER.get(k, 9))
    usable = [k for k in kinds if job.needs(k) is not None]
    if not usable:
        wanted = " or ".join(sorted(job.memory or {}))
        return (f"The job needs a {wanted} device, but the registered workers offer only "
                f"{' and '.join(kinds)} devices.")
    parts = []
    for kind in usable:
        need = job.needs(kind) or 0
        w, d = max(((w, d) for w, d in devices if d.kind == kind), key=lambda wd: wd[1].memory_total)
        terms = (job.detail or {}).get(kind)
        breakdown = ""
        if terms:
            breakdown = " (" + ", ".join(f"{k} {gib(terms[k])}" for k in
                                        ("weights", "adapter", "activations", "overhead") if k in terms) + ")"
        parts.append(
            f"an estimated {gib(need)} on a {kind} device{breakdown}, but the largest registered {kind} "
            f"device has {gib(d.memory_total)} ({d.name} of worker {w.worker_id})"
        )
    return ("The job does not fit on any registered worker: it needs " + "; or ".join(parts)
            + ". A smaller micro_batch_size or lora_rank, or a worker with more memory, would fit it.")
