"""Placement: memory fit, device kinds, capacity, priority, fairness, age, and jobs that fit nowhere."""

from __future__ import annotations

from types import SimpleNamespace

from core.protocol import Device, WorkerInfo
from scheduler.placement import (
    Assignment,
    DeviceCapacity,
    JobRequirement,
    WorkerCapacity,
    place,
    unplaceable_reason,
)

GiB = 1024**3


def job(job_id: str, gib: float = 10, project: str = "p1", priority: int = 0, order: int = 0,
        kinds: tuple[str, ...] = ("cuda",)) -> JobRequirement:
    return JobRequirement(job_id, project, {k: int(gib * GiB) for k in kinds}, priority, order)


def gpu(worker_id: str, free_gib: float = 80, total_gib: float | None = None, slots: int = 1,
        name: str = "NVIDIA H100") -> WorkerCapacity:
    """A worker with ``slots`` identical GPUs (a device runs one job at a time)."""
    total = int((total_gib or free_gib) * GiB)
    devices = tuple(DeviceCapacity(i, "cuda", name, total, int(free_gib * GiB)) for i in range(slots))
    return WorkerCapacity(worker_id, devices, slots)


def cpu(worker_id: str, free_gib: float = 16, slots: int = 1) -> WorkerCapacity:
    mem = int(free_gib * GiB)
    return WorkerCapacity(worker_id, tuple(DeviceCapacity(i, "cpu", "cpu", mem, mem) for i in range(slots)), slots)


def ids(assignments: list[Assignment]) -> list[tuple[str, str]]:
    return [(a.job_id, a.worker_id) for a in assignments]


def test_a_job_that_fits_is_placed() -> None:
    out = place([job("j1", 10)], [gpu("w1", 24)])
    assert out == [Assignment("j1", "w1", (0,), "cuda", 10 * GiB)]


def test_a_job_that_does_not_fit_now_waits() -> None:
    workers = [gpu("w1", free_gib=8, total_gib=24)]
    assert place([job("j1", 10)], workers) == []
    assert unplaceable_reason(job("j1", 10), workers) is None  # fits once the device is idle


def test_a_device_runs_one_job_and_needs_its_memory_free() -> None:
    w = WorkerCapacity("w1", (DeviceCapacity(0, "cuda", "A100", 80 * GiB, 80 * GiB),
                              DeviceCapacity(1, "cuda", "A100", 80 * GiB, 20 * GiB)), slots=3)
    out = place([job(f"j{i}", 30, order=i) for i in range(3)], [w])
    assert [(a.job_id, a.devices) for a in out] == [("j0", (0,))]


def test_slots_are_never_overcommitted() -> None:
    out = place([job(f"j{i}", 1, order=i) for i in range(5)], [gpu("w1", slots=1), gpu("w2", slots=2)])
    assert len(out) == 3
    assert sorted(a.worker_id for a in out) == ["w1", "w2", "w2"]
    assert place([job("j1", 1)], [gpu("w1", slots=0)]) == []


def test_higher_priority_goes_first() -> None:
    queued = [job("old", order=1), job("urgent", priority=5, order=9), job("mid", priority=1, order=5)]
    assert ids(place(queued, [gpu("w1")])) == [("urgent", "w1")]
    assert [a.job_id for a in place(queued, [gpu("w1", slots=3)])] == ["urgent", "mid", "old"]


def test_oldest_first_within_a_project() -> None:
    queued = [job("young", order=30), job("oldest", order=10), job("middle", order=20)]
    assert [a.job_id for a in place(queued, [gpu("w1", 80, slots=3)])] == ["oldest", "middle", "young"]


def test_project_with_fewer_running_jobs_goes_first() -> None:
    queued = [job("a-old", project="a", order=1), job("b-new", project="b", order=2)]
    out = place(queued, [gpu("w1")], running_by_project={"a": 2})
    assert ids(out) == [("b-new", "w1")]
    out = place(queued, [gpu("w1")], running_by_project={"b": 1})
    assert ids(out) == [("a-old", "w1")]


def test_fairness_alternates_between_projects_in_one_round() -> None:
    queued = [job(f"a{i}", 1, project="a", order=i) for i in range(4)]
    queued += [job(f"b{i}", 1, project="b", order=10 + i) for i in range(2)]
    out = place(queued, [gpu("w1", 80, slots=4)])
    # a is older, but once a0 runs, b has fewer running jobs
    assert [a.job_id for a in out] == ["a0", "b0", "a1", "b1"]


def test_priority_beats_fairness() -> None:
    queued = [job("a-urgent", project="a", priority=3, order=5), job("b", project="b", order=1)]
    assert ids(place(queued, [gpu("w1")], running_by_project={"a": 10})) == [("a-urgent", "w1")]


def test_a_small_job_backfills_past_one_that_does_not_fit() -> None:
    queued = [job("big", 60, order=1), job("small", 10, order=2)]
    out = place(queued, [gpu("w1", free_gib=20, total_gib=80, slots=2)])
    assert ids(out) == [("small", "w1")]


def test_tightest_fitting_device_is_chosen() -> None:
    workers = [gpu("big", 80), gpu("small", 24)]
    assert ids(place([job("j1", 20)], workers)) == [("j1", "small")]
    assert ids(place([job("j1", 30)], workers)) == [("j1", "big")]


def test_device_kinds() -> None:
    cuda_only = job("q", 2, kinds=("cuda",))
    either = job("e", 2, kinds=("cuda", "cpu"))
    assert place([cuda_only], [cpu("c1")]) == []
    assert ids(place([either], [cpu("c1")])) == [("e", "c1")]
    assert ids(place([either], [cpu("c1"), gpu("g1")])) == [("e", "g1")]  # CUDA before CPU
    assert place([either], [cpu("c1")])[0].device_kind == "cpu"


def test_cpu_estimate_can_differ_from_cuda() -> None:
    req = JobRequirement("j", "p", {"cuda": 6 * GiB, "cpu": 40 * GiB})
    assert place([req], [cpu("c1", 32)]) == []
    assert ids(place([req], [cpu("c1", 64)])) == [("j", "c1")]


def test_unknown_memory_fits_any_device() -> None:
    req = JobRequirement("j", "p", None)
    assert ids(place([req], [cpu("c1", 0.5)])) == [("j", "c1")]
    assert unplaceable_reason(req, [cpu("c1", 0.5)]) is None


def test_multi_device_worker_uses_the_device_that_fits() -> None:
    w = WorkerCapacity("w", (DeviceCapacity(0, "cuda", "L4", 24 * GiB, 2 * GiB),
                             DeviceCapacity(1, "cuda", "L4", 24 * GiB, 20 * GiB)), slots=2)
    out = place([job("j", 10)], [w])
    assert out[0].device_index == 1


def test_a_job_larger_than_every_worker_is_unplaceable_with_figures() -> None:
    req = JobRequirement(
        "huge", "p", {"cuda": int(30 * GiB)}, detail={"cuda": {
            "weights": 20 * GiB, "adapter": 1 * GiB, "activations": 6 * GiB, "overhead": 3 * GiB}},
    )
    workers = [gpu("w-small", 16, name="NVIDIA T4"), gpu("w-mid", 24, name="NVIDIA L4")]
    reason = unplaceable_reason(req, workers)
    assert reason is not None
    assert "an estimated 30.0 GiB on a cuda device" in reason
    assert "(weights 20.0 GiB, adapter 1.0 GiB, activations 6.0 GiB, overhead 3.0 GiB)" in reason
    assert "the largest registered cuda device has 24.0 GiB (NVIDIA L4 of worker w-mid)" in reason
    assert place([req], workers) == []


def test_kind_mismatch_is_unplaceable() -> None:
    reason = unplaceable_reason(job("q", 2, kinds=("cuda",)), [cpu("c1")])
    assert reason == "The job needs a cuda device, but the registered workers offer only cpu devices."


def test_every_kind_is_reported_when_none_fits() -> None:
    req = JobRequirement("j", "p", {"cuda": 30 * GiB, "cpu": 100 * GiB})
    reason = unplaceable_reason(req, [gpu("g", 24), cpu("c", 64)])
    assert reason is not None
    assert "30.0 GiB on a cuda device" in reason and "100.0 GiB on a cpu device" in reason


def test_no_workers_means_wait_not_fail() -> None:
    assert unplaceable_reason(job("j", 1000), []) is None
    assert place([job("j")], []) == []


def test_capacity_from_a_heartbeat_reserves_held_jobs() -> None:
    info = WorkerInfo(id="w1", capacity=2, running=["r1"], devices=[
        Device(kind="cuda", name="NVIDIA A100", memory_total=40 * GiB, memory_free=35 * GiB)])
    plain = WorkerCapacity.from_info(info)
    assert plain.slots == 1 and plain.devices[0].memory_free == 35 * GiB
    # r1 (known from the heartbeat) and d1 (dispatched, not yet in the heartbeat) hold 12 + 10 GiB
    held = [job("r1", 12), job("d1", 10)]
    cap = WorkerCapacity.from_info(info, held)
    assert cap.slots == 0
    assert cap.devices[0].memory_free == 18 * GiB
    assert place([job("new", 5)], [cap]) == []


def test_requirement_from_a_job_row() -> None:
    row = SimpleNamespace(id="ftjob-1", project_id="p", priority=2, seq=123,
                          requirements={"memory": {"cuda": 5, "cpu": 9}, "detail": {"cuda": {"weights": 1}}})
    req = JobRequirement.from_job(row)
    assert req == JobRequirement("ftjob-1", "p", {"cuda": 5, "cpu": 9}, 2, 123, {"cuda": {"weights": 1}})
    empty = JobRequirement.from_job(SimpleNamespace(id="j", project_id="p", priority=None, seq=None,
                                                    requirements={}))
    assert empty.memory is None and empty.priority == 0


# --- several devices per job (gang placement) ------------------------------------------------
def gang(job_id: str, devices: int | None, gib: float = 10, **kw: object) -> JobRequirement:
    terms = {"weights": int(gib * 0.6 * GiB), "adapter": int(gib * 0.1 * GiB), "activations": int(gib * 0.1 * GiB),
             "overhead": int(gib * 0.2 * GiB)}
    return JobRequirement(job_id, str(kw.pop("project", "p1")), {"cuda": int(gib * GiB)}, detail={"cuda": terms},
                          devices=devices, **kw)  # type: ignore[arg-type]


def test_a_job_gets_all_its_devices_on_one_worker_or_none() -> None:
    workers = [gpu("w1", 80, slots=1), gpu("w2", 80, slots=1)]  # two devices, but on two workers
    assert place([gang("two", 2)], workers) == []
    out = place([gang("two", 2)], [gpu("w3", 80, slots=3)])
    assert [(a.worker_id, len(a.devices), a.parallelism) for a in out] == [("w3", 2, "data_parallel")]


def test_two_two_device_jobs_and_a_one_device_job_on_three_devices_never_deadlock() -> None:
    """Whatever the order, each assignment holds all its devices; what waits holds nothing, and
    every job runs once those before it release their devices."""
    from itertools import permutations

    for order in permutations(["a", "b", "c"]):
        queued = {"a": gang("a", 2, order=0), "b": gang("b", 2, order=1), "c": gang("c", 1, order=2)}
        pending = [queued[k] for k in order]
        done: list[str] = []
        held: dict[str, tuple[int, ...]] = {}
        for _ in range(6):  # ticks: place what fits, then the oldest running job finishes
            free_devices = tuple(DeviceCapacity(i, "cuda", "H100", 80 * GiB, 80 * GiB) for i in range(3)
                                 if all(i not in d for d in held.values()))
            worker = WorkerCapacity("w", free_devices, len(free_devices))
            for a in place(pending, [worker]):
                assert len(a.devices) == (pending_job := queued[a.job_id]).devices
                held[a.job_id] = a.devices
                pending.remove(pending_job)
            assert sum(len(d) for d in held.values()) <= 3
            if held:
                finished = next(iter(held))
                done.append(finished)
                del held[finished]
        assert sorted(done) == ["a", "b", "c"], order


def test_a_one_device_job_backfills_beside_a_gang() -> None:
    out = place([gang("a", 2, order=0), gang("b", 2, order=1), gang("c", 1, order=2)], [gpu("w", 80, slots=3)])
    assert sorted((a.job_id, len(a.devices)) for a in out) == [("a", 2), ("c", 1)]


def test_gang_placement_keeps_priority_and_fairness() -> None:
    queued = [gang("low", 2, order=0), gang("high", 2, priority=5, order=9)]
    assert [a.job_id for a in place(queued, [gpu("w", 80, slots=3)])] == ["high"]
    queued = [gang("busy-project", 2, project="a", order=0), gang("idle-project", 2, project="b", order=1)]
    out = place(queued, [gpu("w", 80, slots=2)], running_by_project={"a": 1})
    assert [a.job_id for a in out] == ["idle-project"]


def test_a_job_too_big_for_one_device_is_sharded_with_fsdp() -> None:
    big = gang("big", 2, gib=100)  # 100 GiB on one device; (60 + 10) / 2 + 10 GiB + overhead on each of two
    out = place([big], [gpu("w", 80, slots=2)])
    assert [(len(a.devices), a.parallelism) for a in out] == [(2, "fsdp")]
    assert out[0].memory < 80 * GiB
    assert unplaceable_reason(big, [gpu("w", 80, slots=1)]) is not None


def test_auto_takes_the_fewest_devices_that_hold_the_job() -> None:
    assert [len(a.devices) for a in place([gang("small", None, gib=10)], [gpu("w", 80, slots=4)])] == [1]
    out = place([gang("big", None, gib=200)], [gpu("w", 80, slots=4)])
    assert [(len(a.devices), a.parallelism) for a in out] == [(3, "fsdp")]  # on 2 it would need 104 GiB each
    reason = unplaceable_reason(gang("huge", None, gib=1000), [gpu("w", 80, slots=2)])
    assert reason is not None and "on each of 2 devices with FSDP" in reason


def test_a_resumed_job_may_run_on_fewer_devices_and_a_fresh_one_waits() -> None:
    worker = gpu("w", 80, slots=1)
    assert place([gang("fresh", 2)], [worker]) == []
    assert unplaceable_reason(gang("fresh", 2), [worker]) is not None  # no worker has two devices
    out = place([gang("resumed", 2, shrinkable=True)], [worker])
    assert [(a.devices, a.parallelism) for a in out] == [((0,), "single")]


def test_device_count_must_divide_the_batch() -> None:
    assert place([gang("odd", 2, batch_size=5)], [gpu("w", 80, slots=2)]) == []
    reason = unplaceable_reason(gang("odd", 2, batch_size=5), [gpu("w", 80, slots=2)])
    assert reason is not None and "batch_size 5" in reason
    assert len(place([gang("even", 2, batch_size=6)], [gpu("w", 80, slots=2)])[0].devices) == 2


def test_held_devices_are_not_offered_again() -> None:
    info = WorkerInfo(id="w", capacity=3, running=["a"], devices=[
        Device(kind="cuda", name="H100", memory_total=80 * GiB, memory_free=70 * GiB, index=i) for i in range(3)])
    cap = WorkerCapacity.from_info(info, [gang("a", 2, held=(0, 2))])
    assert [d.index for d in cap.devices] == [1] and cap.slots == 1
    assert place([gang("b", 2)], [cap]) == []
    assert [a.devices for a in place([gang("c", 1)], [cap])] == [(1,)]


def test_auto_spreads_a_large_job_over_idle_devices_only_when_nothing_waits() -> None:
    large = gang("large", None, examples_seen=3 * 4096, batch_size=8)  # three devices' worth; 8 % 3 -> 2
    out = place([large], [gpu("w", 80, slots=4)])
    assert [(len(a.devices), a.parallelism) for a in out] == [(2, "data_parallel")]
    small = gang("small", None, examples_seen=1000, batch_size=8)
    assert [len(a.devices) for a in place([small], [gpu("w", 80, slots=4)])] == [1]
    # another job waits for a device: the large one keeps to one and leaves the rest
    waiting = gang("pair", 2, order=9)
    out = place([large, waiting], [gpu("w", 80, slots=2)])
    assert [(a.job_id, len(a.devices)) for a in out] == [("large", 1)]
