"""Placement: which queued job goes to which devices of which worker. Pure functions, no I/O.

:func:`place` takes the queued jobs' requirements, the workers' capacities and how many jobs
each project already runs, and returns assignments:

- a device runs one job at a time; a job gets all of its devices on one worker in the same
  assignment or none (gang placement: no partial holds, so two multi-device jobs can never
  each hold half of what the other waits for), and takes one of the worker's slots per device;
- a job's devices are of a kind it can run on and each has free memory for the job's share
  (``core.memory``): its whole estimate when one device (or each of a data-parallel set) holds
  a full copy, else the FSDP-sharded estimate (:func:`core.memory.per_device_bytes`);
- how many devices: ``openft.devices`` when the job names a number (a job resumed from a
  checkpoint may take fewer when not all are free, as long as they hold it: its global batch is
  kept); ``auto``: the fewest devices of one worker whose idle memory holds it (1 when the job
  fits one device). A device count always divides the batch size (each rank takes an equal share);
- jobs are considered by priority (higher first), then fairness (the project with the fewest
  running jobs first, counting the assignments made so far), then age (oldest first);
- a job that does not fit now waits, and later jobs that fit go ahead of it (backfill);
- among the devices that fit, CUDA comes before CPU, then the tightest fit, which keeps large
  devices free for large jobs.

:func:`unplaceable_reason` tells whether a job fits no registered worker even when all of its
devices are idle; the scheduler fails such a job at once instead of letting it wait forever.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.memory import gib, per_device_bytes
from core.protocol import Parallelism, WorkerInfo

_KIND_ORDER = {"cuda": 0, "cpu": 1}
#: an ``auto`` job takes one more idle device per this many examples it trains on (epochs counted):
#: below it the start-up of another process and the gradient exchange cost more than they save
DATA_PARALLEL_EXAMPLES = 4096


@dataclass(frozen=True)
class JobRequirement:
    """What a queued (or held) job needs. ``memory`` maps each device kind it can run on to bytes
    on one device; None means unknown (any device, no memory check). ``order`` sorts older jobs
    first. ``devices``: the count the job asks for (None: auto); ``shrinkable``: it resumes from a
    checkpoint and may run on fewer of them; ``batch_size``: device counts must divide it.
    ``held``: for a job already on a worker, the device indices it holds there. ``examples_seen``:
    training examples times epochs (how much an ``auto`` job gains from data-parallel)."""

    job_id: str
    project_id: str
    memory: Mapping[str, int] | None
    priority: int = 0
    order: int = 0
    detail: Mapping[str, Mapping[str, Any]] | None = None
    devices: int | None = None
    shrinkable: bool = False
    batch_size: int | None = None
    held: tuple[int, ...] = ()
    examples_seen: int | None = None

    @classmethod
    def from_job(cls, job: Any) -> JobRequirement:
        """From a ``core.tables.Job`` whose ``requirements`` came from ``memory.estimate_for_job``."""
        req = job.requirements or {}
        memory = req.get("memory")
        wanted = (getattr(job, "extensions", None) or {}).get("devices", "auto")
        plan = getattr(job, "plan", None)
        placement = getattr(job, "placement", None) or {}
        return cls(
            job_id=job.id, project_id=job.project_id,
            memory={k: int(v) for k, v in memory.items()} if memory else None,
            priority=int(job.priority or 0), order=int(job.seq or 0), detail=req.get("detail"),
            devices=wanted if isinstance(wanted, int) else None,
            shrinkable=bool(getattr(job, "resume_step", None)),
            batch_size=plan.hyperparameters.batch_size if plan is not None else None,
            held=tuple(placement.get("devices") or ()),
            examples_seen=plan.n_train_examples * plan.hyperparameters.n_epochs if plan is not None else None,
        )

    def needs(self, kind: str) -> int | None:
        """Bytes needed on one device of ``kind`` for the whole job, or None when it cannot run there."""
        if self.memory is None:
            return 0
        return self.memory.get(kind)

    def sharded(self, kind: str, n: int) -> int | None:
        """Bytes on each of ``n`` devices of ``kind`` with FSDP (the one-device estimate when the
        job's terms are unknown), or None when it cannot run on that kind."""
        need = self.needs(kind)
        if need is None:
            return None
        terms = (self.detail or {}).get(kind)
        return per_device_bytes(terms, n, sharded=True) if terms and n > 1 else need

    def counts(self, kind: str, totals: Sequence[int]) -> list[int]:
        """Device counts to try, best first, on a worker whose idle devices of ``kind`` have
        ``totals`` bytes: the job's own count (then fewer, down to 1, when it may shrink); for
        ``auto`` the fewest devices that hold it when idle."""
        available = len(totals)
        if self.devices is not None:
            wanted = [self.devices]
            if self.shrinkable:
                wanted += list(range(min(self.devices, available), 0, -1))
            return [n for n in dict.fromkeys(wanted) if n <= available]
        largest = sorted(totals, reverse=True)
        for n in range(1, available + 1):
            if any(need <= largest[n - 1] for _, need in _ways(self, kind, n)):
                return [n]
        return []


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
    """A live worker: its devices not held by a job, and how many more jobs it may start."""

    worker_id: str
    devices: tuple[DeviceCapacity, ...]
    slots: int

    @classmethod
    def from_info(cls, info: WorkerInfo, held: Iterable[JobRequirement] = ()) -> WorkerCapacity:
        """From a heartbeat. ``held``: jobs the database assigns to this worker (dispatched or
        running); the devices they hold are not offered, and they take a slot per device even
        before the worker's heartbeat lists them. A job held without device indices (dispatched
        before placement recorded them) is counted on the device with the most free memory, as
        the worker would have picked it, with its estimate reserved there."""
        held = list(held)
        taken = {i for h in held for i in h.held}
        kinds = {d.index: d.kind for d in info.devices}
        reserved = dict.fromkeys(kinds, 0)
        for h in (h for h in held if not h.held):
            fits = [i for i in kinds if i not in taken and h.needs(kinds[i]) is not None]
            if fits:
                best = max(fits, key=lambda i: -reserved[i])
                reserved[best] += h.needs(kinds[best]) or 0
        free = {d.index: max(0, min(d.memory_free, d.memory_total - reserved[d.index]))
                for d in info.devices if d.index not in taken}
        used = sum(len(h.held) or 1 for h in held)
        used += len(set(info.running) - {h.job_id for h in held})
        devices = tuple(DeviceCapacity(d.index, d.kind, d.name, d.memory_total, free[d.index])
                        for d in info.devices if d.index in free)
        return cls(info.id, devices, max(0, info.capacity - used))


@dataclass(frozen=True)
class Assignment:
    """Run ``job_id`` on devices ``devices`` (all of kind ``device_kind``) of ``worker_id`` with
    ``parallelism``; ``memory`` is the reservation on each of them."""

    job_id: str
    worker_id: str
    devices: tuple[int, ...]
    device_kind: str
    memory: int
    parallelism: Parallelism = "single"

    @property
    def device_index(self) -> int:
        """The first (for one-device jobs, the only) device."""
        return self.devices[0]


_Choice = tuple[tuple[int, int, int, str, tuple[int, ...]], WorkerCapacity, tuple[DeviceCapacity, ...],
                Parallelism, int]


def _gang_on(job: JobRequirement, worker: WorkerCapacity, free: Mapping[tuple[str, int], int],
             slots: int) -> _Choice | None:
    """The best set of free devices of ``worker`` for ``job`` now, or None."""
    best: _Choice | None = None
    for kind in {d.kind for d in worker.devices}:
        if job.needs(kind) is None:
            continue
        devices = [d for d in worker.devices if d.kind == kind]
        for rank, n in enumerate(job.counts(kind, [d.memory_total for d in devices])):
            if n > slots:
                continue
            choice = _fitting(job, worker, devices, free, kind, n)
            if choice is not None:
                chosen, parallelism, need, leftover = choice
                key = (_KIND_ORDER.get(kind, 9), rank, leftover, worker.worker_id, tuple(d.index for d in chosen))
                if best is None or key < best[0]:
                    best = (key, worker, chosen, parallelism, need)
                break
    return best


def _fitting(job: JobRequirement, worker: WorkerCapacity, devices: Sequence[DeviceCapacity],
             free: Mapping[tuple[str, int], int], kind: str, n: int
             ) -> tuple[tuple[DeviceCapacity, ...], Parallelism, int, int] | None:
    """The ``n`` tightest-fitting free devices for ``job`` (a full copy each if they hold one, else
    FSDP's shard): (devices, parallelism, bytes each, bytes left over), or None."""
    for parallelism, need in _ways(job, kind, n):
        fitting = sorted((free[(worker.worker_id, d.index)] - need, d.index, d) for d in devices
                         if free[(worker.worker_id, d.index)] >= need)
        if len(fitting) >= n:
            return tuple(d for _, _, d in fitting[:n]), parallelism, need, sum(x for x, _, _ in fitting[:n])
    return None


def _ways(job: JobRequirement, kind: str, n: int) -> list[tuple[Parallelism, int]]:
    """Ways to run ``job`` on ``n`` devices of ``kind``, best first: a full copy per device, then
    FSDP's smaller shard."""
    need = job.needs(kind)
    if need is None or (job.batch_size and job.batch_size % n):
        return []
    if n == 1:
        return [("single", need)]
    ways: list[tuple[Parallelism, int]] = [("data_parallel", need)]
    sharded = job.sharded(kind, n)
    if sharded is not None and sharded < need:
        ways.append(("fsdp", sharded))
    return ways


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
    waiting = False
    while pending and any(n > 0 for n in slots.values()):
        pending.sort(key=lambda j: (-j.priority, running[j.project_id], j.order, j.job_id))
        job = pending.pop(0)
        if job.project_id in caps and running[job.project_id] >= caps[job.project_id]:
            continue  # running counts only grow during a call: it waits for a later tick
        choices = [c for w in workers if slots[w.worker_id] > 0
                   if (c := _gang_on(job, w, free, slots[w.worker_id])) is not None]
        if not choices:
            # free devices and slots only shrink during a call: this job cannot fit later either
            waiting = True
            continue
        _, worker, chosen, parallelism, need = min(choices, key=lambda c: c[0])
        for d in chosen:
            free[(worker.worker_id, d.index)] = -1  # one job per device
        slots[worker.worker_id] -= len(chosen)
        running[job.project_id] += 1
        out.append(Assignment(job.job_id, worker.worker_id, tuple(d.index for d in chosen), chosen[0].kind,
                              need, parallelism))
    if waiting or pending:
        return out
    by_id = {j.job_id: j for j in queued}
    workers_by_id = {w.worker_id: w for w in workers}
    return [_spread(a, by_id[a.job_id], workers_by_id[a.worker_id], free, slots) for a in out]


def _spread(a: Assignment, job: JobRequirement, worker: WorkerCapacity, free: dict[tuple[str, int], int],
            slots: dict[str, int]) -> Assignment:
    """An ``auto`` job placed on one device, widened to data-parallel over devices nothing else
    wants (called only when no queued job waits), one more device per
    :data:`DATA_PARALLEL_EXAMPLES` examples it trains on, as far as its batch divides."""
    if job.devices is not None or a.parallelism != "single" or not job.examples_seen:
        return a
    idle = sorted((free[(worker.worker_id, d.index)] - a.memory, d.index) for d in worker.devices
                  if d.kind == a.device_kind and free[(worker.worker_id, d.index)] >= a.memory)
    n = min(1 + len(idle), 1 + slots[worker.worker_id], job.examples_seen // DATA_PARALLEL_EXAMPLES)
    while n > 1 and job.batch_size and job.batch_size % n:
        n -= 1
    if n <= 1:
        return a
    extra = tuple(i for _, i in idle[: n - 1])
    for i in extra:
        free[(worker.worker_id, i)] = -1
    slots[worker.worker_id] -= len(extra)
    return Assignment(a.job_id, a.worker_id, a.devices + extra, a.device_kind, a.memory, "data_parallel")


def _fits_when_idle(job: JobRequirement, worker: WorkerCapacity) -> bool:
    idle = WorkerCapacity(worker.worker_id, worker.devices, len(worker.devices))
    free = {(w.worker_id, d.index): d.memory_total for w in (idle,) for d in w.devices}
    return _gang_on(job, idle, free, len(worker.devices)) is not None


def unplaceable_reason(job: JobRequirement, workers: Sequence[WorkerCapacity]) -> str | None:
    """Why ``job`` can never run on the registered workers, or None if some worker could hold it.

    Judged against each worker's devices when idle (their total memory), so a job that only waits
    for devices or memory to free up is not refused. With no workers registered nothing is
    refused: a worker may still join.
    """
    devices = [(w, d) for w in workers for d in w.devices]
    if not devices:
        return None
    if any(_fits_when_idle(job, w) for w in workers):
        return None
    kinds = sorted({d.kind for _, d in devices}, key=lambda k: _KIND_ORDER.get(k, 9))
    usable = [k for k in kinds if job.needs(k) is not None]
    if not usable:
        wanted = " or ".join(sorted(job.memory or {}))
        return (f"The job needs a {wanted} device, but the registered workers offer only "
                f"{' and '.join(kinds)} devices.")
    if job.devices is not None:
        most = max(sum(1 for d in w.devices if d.kind in usable) for w in workers)
        if job.devices > most:
            return (f"The job asks for {job.devices} devices, but no registered worker has more than {most} "
                    f"{' or '.join(usable)} devices.")
        if job.batch_size and job.batch_size % job.devices:
            return (f"The job asks for {job.devices} devices, but its batch_size {job.batch_size} does not "
                    f"divide evenly among them; choose a batch_size that is a multiple of {job.devices}.")
    parts = []
    for kind in usable:
        need = job.needs(kind) or 0
        w, d = max(((w, d) for w, d in devices if d.kind == kind), key=lambda wd: wd[1].memory_total)
        n_most = max(sum(1 for x in w2.devices if x.kind == kind) for w2 in workers)
        terms = (job.detail or {}).get(kind)
        breakdown = ""
        if terms:
            breakdown = " (" + ", ".join(f"{k} {gib(terms[k])}" for k in
                                        ("weights", "adapter", "activations", "overhead") if k in terms) + ")"
        sharded = ""
        if terms and n_most > 1:
            sharded = (f", or {gib(per_device_bytes(terms, n_most, sharded=True))} on each of {n_most} devices "
                       "with FSDP")
        parts.append(
            f"an estimated {gib(need)} on a {kind} device{breakdown}{sharded}, but the largest registered {kind} "
            f"device has {gib(d.memory_total)} ({d.name} of worker {w.worker_id})"
        )
    return ("The job does not fit on any registered worker: it needs " + "; or ".join(parts)
            + ". A smaller micro_batch_size or lora_rank, or a worker with more memory, would fit it.")
