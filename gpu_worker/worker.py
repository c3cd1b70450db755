"""The worker process of one node: registers its devices, runs each task in a child process.

The worker never touches the database. For a task ``(job_id, attempt)`` it starts
``python -m gpu_worker.train_attempt --spec-key jobs/{job_id}/spec.json`` in its own process group with
the worker's ``OPENFT_*`` settings and ``CUDA_VISIBLE_DEVICES`` of the device it picked, relays
the :class:`~core.protocol.Report` lines the child prints (stamped with this worker's id and the
attempt), and watches the job's control key: ``pause`` sends SIGUSR1 to the child once,
``cancel`` sends SIGTERM to its process group and SIGKILL a few seconds later. A child that
exits without a final report is reported ``failed`` (``out_of_memory`` when something killed it
with SIGKILL, else ``worker_error``, with the tail of its stderr). The first ``out_of_memory`` of
a task is retried once with the micro-batch halved, from a copy of the spec.

Stopping: set the ``stop_event`` (``main`` does on SIGTERM/SIGINT); the children are killed,
the heartbeat removed and the buffered reports flushed. A job it was running is re-queued by
the scheduler when the lease lapses and resumes from its latest checkpoint elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Literal

from core import protocol
from core.bus.base import Bus, BusUnavailable, Task
from core.ids import random_token
from core.logging import log_context
from core.protocol import Device, JobSpec, Report, WorkerInfo
from core.settings import Settings
from core.store import Store
from gpu_worker import launch
from gpu_worker.child_process import ChildRun, child_env, spawn_child
from gpu_worker.devices import child_visible_devices, detect_devices
from gpu_worker.oom_retry import OomRetry
from gpu_worker.wandb_log import FINAL_KINDS, WandbLog

log = logging.getLogger(__name__)

DEFAULT_CHILD_ARGV = (sys.executable, "-m", "gpu_worker.train_attempt")
StopReason = Literal["cancel", "timeout", "shutdown", "superseded"]


def default_worker_id(settings: Settings) -> str:
    """``{worker_name or hostname}-{6 random chars}``: unique per process, so a restarted worker
    never picks up tasks meant for its previous life."""
    base = settings.worker_name or socket.gethostname().split(".")[0] or "worker"
    return f"{base}-{random_token(6).lower()}"


class Worker:
    """One worker: heartbeats, task serving, child supervision. See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        store: Store,
        *,
        worker_id: str | None = None,
        child_argv: Sequence[str] = DEFAULT_CHILD_ARGV,
        devices: list[Device] | None = None,
        kill_grace_s: float = 5.0,
        stop_grace_s: float = 45.0,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.store = store
        self.id = worker_id or default_worker_id(settings)
        self.child_argv = list(child_argv)
        self.kill_grace_s = kill_grace_s
        self.stop_grace_s = stop_grace_s  # how long a stopping worker waits for its task queue
        self.devices: list[Device] = devices or []
        self._measure_devices = devices is None
        self._busy: dict[int, str] = {}  # device index -> job id
        self.running: dict[str, int] = {}  # job id -> attempt, while its task runs here
        self.attempts: dict[str, int] = {}  # job id -> the newest attempt received
        self.wandb_logs: dict[str, WandbLog] = {}  # job id -> its W&B run, while its task runs here
        self.jobs_run = self.jobs_succeeded = self.jobs_failed = self.jobs_cancelled = 0
        self._bus_down = False

    def __repr__(self) -> str:
        return (
            f"<Worker {self.id} devices={len(self.devices)} running={sorted(self.running)} "
            f"j_run={self.jobs_run} j_succeeded={self.jobs_succeeded} j_failed={self.jobs_failed} "
            f"j_cancelled={self.jobs_cancelled}>"
        )

    @property
    def capacity(self) -> int:
        return max(1, len(self.devices))

    # --- the process ------------------------------------------------------------------
    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Serve until ``stop_event`` is set (or the task is cancelled), then stop cleanly."""
        stop_event = stop_event or asyncio.Event()
        if self._measure_devices:
            self.devices = await asyncio.to_thread(detect_devices, self.settings)
        log.info("worker %s starting with %s", self.id, ", ".join(d.name for d in self.devices))
        await self._heartbeat_once()
        beating = asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat")
        serving = asyncio.create_task(
            self.bus.serve_tasks(self.id, self._handle, max_jobs=self.capacity), name=f"{self.id}-tasks"
        )
        stopping = asyncio.create_task(stop_event.wait())
        try:
            done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if serving in done:
                serving.result()  # serve_tasks only returns by raising
        finally:
            log.info("worker %s stopping: %r", self.id, self)
            for t in (serving, stopping):
                t.cancel()
            ended, stuck = await asyncio.wait({serving, stopping}, timeout=self.stop_grace_s)
            for task in ended:  # retrieve what a task raised instead of ending on its cancel
                raised = None if task.cancelled() else task.exception()
                if raised is not None and raised is not sys.exception():  # not the error leaving run()
                    log.warning("worker %s: %r while stopping", self.id, raised)
            if stuck:  # the process is going away: a queue that ignores its cancel must not hold it
                log.error("worker %s: the task queue did not stop within %.0f s; leaving it", self.id,
                          self.stop_grace_s)
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            with contextlib.suppress(BusUnavailable):
                await self.bus.unregister(self.id)
            if not await self.bus.flush(timeout=10):
                log.warning("worker %s stopped with reports still unsent", self.id)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            await self._heartbeat_once()

    async def _heartbeat_once(self) -> None:
        if self._measure_devices:
            try:
                self.devices = await asyncio.to_thread(detect_devices, self.settings)
            except Exception:
                log.exception("measuring devices failed; reporting the last measurement")
        info = WorkerInfo(
            id=self.id,
            devices=self.devices,
            running=sorted(self.running),
            capacity=self.capacity,
            heartbeat_at=time.time(),
        )
        try:
            await self.bus.heartbeat(info, ttl=self.settings.worker_lease_seconds)
        except BusUnavailable as e:
            if not self._bus_down:
                log.warning("heartbeat failed (jobs keep running, reports are buffered): %s", e)
            self._bus_down = True
        else:
            if self._bus_down:
                log.warning("heartbeat works again")
            self._bus_down = False

    # --- one task ---------------------------------------------------------------------
    async def _handle(self, task: Task) -> None:
        """Run one task to its end; never raises (a failure becomes a ``failed`` report)."""
        with log_context(job_id=task.job_id):
            current = self.attempts.get(task.job_id)
            if current is not None and current >= task.attempt:
                log.warning("task %s:%s is already running here; ignored", task.job_id, task.attempt)
                return
            self.attempts[task.job_id] = task.attempt
            if current is not None:  # the scheduler moved on to a new attempt: it supersedes ours
                log.warning("attempt %s of %s supersedes attempt %s", task.attempt, task.job_id, current)
                while task.job_id in self.running:
                    await asyncio.sleep(0.1)
            if self.attempts.get(task.job_id) != task.attempt:
                return  # superseded in turn while waiting
            self.running[task.job_id] = task.attempt
            self.jobs_run += 1
            try:
                await self._run_task(task)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.exception("task %s:%s failed in the worker", task.job_id, task.attempt)
                self.jobs_failed += 1
                await self._publish(task, Report(kind="failed", job_id=task.job_id, code="worker_error",
                                                 message=f"The worker could not run the job: {e}"))
            finally:
                self.running.pop(task.job_id, None)
                if self.attempts.get(task.job_id) == task.attempt:
                    del self.attempts[task.job_id]

    async def _run_task(self, task: Task) -> None:
        control = await self._control(task.job_id, task.attempt)
        if control == "cancel":
            log.info("task %s:%s was cancelled before it started", task.job_id, task.attempt)
            self.jobs_cancelled += 1
            return
        if control == "pause":
            # nothing was trained: the scheduler resumes from whatever checkpoint it had
            await self._publish(task, Report(kind="paused", job_id=task.job_id,
                                             message="Paused before training started"))
            return
        wanted = await asyncio.to_thread(self._placed_devices, task.job_id)
        devices = self._claim_devices(task.job_id, wanted)
        deadline = time.monotonic() + task.timeout_s
        oom = OomRetry(self.store, self.settings, devices[0].kind, task.job_id, task.attempt)
        spec_key = oom.spec_key
        try:
            await self._open_wandb(task, spec_key)
            while True:
                run = ChildRun(task.job_id, task.attempt, devices)
                reason = await self._supervise(run, spec_key, deadline)
                outcome = await self._conclude(task, run, reason)
                if outcome not in ("oom", "rank_lost"):
                    return
                if await self._control(task.job_id, task.attempt) == "cancel":
                    self.jobs_cancelled += 1
                    return
                if outcome == "rank_lost":
                    retry = await asyncio.to_thread(oom.resume_spec, run.last_checkpoint_step, run.crash_report())
                else:
                    retry = await asyncio.to_thread(oom.next_spec, run.final_failure(), run.last_checkpoint_step)
                if retry is None:
                    self.jobs_failed += 1
                    await self._publish(task, run.final_failure())
                    return
                spec_key, event = retry
                await self._publish(task, event)
        finally:
            for d in devices:
                self._busy.pop(d.index, None)
            if (stopped := self.wandb_logs.pop(task.job_id, None)) is not None:  # cancelled or shut down
                await asyncio.to_thread(stopped.close, None)

    async def _conclude(self, task: Task, run: ChildRun, reason: StopReason | None) -> str:
        """Publish what the child's end means; ``"oom"`` when it may be retried with less memory."""
        final = run.final
        if final is not None and final.kind == "failed" and final.code == "out_of_memory" and reason is None:
            return "oom"  # held back by _relay until we know whether a retry follows
        if final is not None:  # already relayed
            if final.kind == "succeeded":
                self.jobs_succeeded += 1
            elif final.kind == "failed":
                self.jobs_failed += 1
            return final.kind
        if reason == "cancel":
            self.jobs_cancelled += 1  # the scheduler already recorded the cancel
            return "cancelled"
        if reason in ("shutdown", "superseded"):
            return reason  # the scheduler re-queues the job (lease lapse / the newer attempt)
        if reason == "timeout":
            self.jobs_failed += 1
            await self._publish(task, Report(
                kind="failed", job_id=task.job_id, code="job_timeout",
                message=f"Training did not finish within its time budget of {task.timeout_s:.0f} s"))
            return "failed"
        if run.multi and run.returncode != 0:  # torchrun stopped every rank after one of them died
            run.final = run.crash_report()
            return "rank_lost"
        if run.returncode == -signal.SIGKILL:
            run.final = Report(kind="failed", job_id=task.job_id, code="out_of_memory",
                               message="The training process was killed by the system, most likely "
                               "because it ran out of memory" + run.stderr_suffix())
            return "oom"
        self.jobs_failed += 1
        await self._publish(task, run.crash_report())
        return "failed"

    async def _supervise(self, run: ChildRun, spec_key: str, deadline: float) -> StopReason | None:
        """Start the child, relay its reports, obey control requests; returns why we stopped it."""
        env = child_env(self.settings, run.device, child_visible_devices(run.devices))
        relay: asyncio.Task[None] | None = None
        reason: StopReason | None = None
        try:
            await spawn_child(run, launch.command(self.child_argv, spec_key, len(run.devices)), env)
            log.info("child pid %s runs %s:%s on %d × %s", run.pid, run.job_id, run.attempt, len(run.devices),
                     run.device.name)
            relay = asyncio.create_task(run.pump(self._relay))
            while not relay.done():
                if time.monotonic() > deadline:
                    reason = "timeout"
                elif self.attempts.get(run.job_id) != run.attempt:
                    reason = "superseded"
                elif (action := await self._control(run.job_id, run.attempt)) == "cancel":
                    reason = "cancel"
                elif action == "pause" and not run.pause_sent:
                    log.info("pausing %s: SIGUSR1 to pid %s", run.job_id, run.pid)
                    run.signal(signal.SIGUSR1)
                    # under torchrun again on every check: a rank still importing ignores it
                    run.pause_sent = not run.multi
                if reason is not None:
                    break
                await asyncio.wait({relay}, timeout=self.settings.heartbeat_seconds)
        except asyncio.CancelledError:
            await asyncio.shield(self._stop_child(run, relay, "shutdown"))
            raise
        if reason is not None:
            await self._stop_child(run, relay, reason)
        if not relay.done():  # a grandchild that left the process group holds the pipes open
            log.warning("output of %s still open after its child exited; no longer read", run.job_id)
            relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        return reason

    async def _stop_child(self, run: ChildRun, relay: asyncio.Task[None] | None, reason: StopReason) -> None:
        log.info("stopping child pid %s of %s (%s)", run.pid, run.job_id, reason)
        await run.terminate(self.kill_grace_s)
        if relay is not None:
            await asyncio.wait({relay}, timeout=5)

    async def _relay(self, run: ChildRun, report: Report) -> None:
        """Forward one report from the child; an ``out_of_memory`` failure waits for the verdict."""
        if report.kind in ("succeeded", "failed", "paused"):
            run.final = report
            if report.kind == "failed" and report.code == "out_of_memory":
                return
        if report.kind == "checkpoint" and report.step is not None:
            run.last_checkpoint_step = report.step
        await self._publish(run, report)

    async def _publish(self, origin: Task | ChildRun, report: Report) -> None:
        """Send ``report`` as this worker's, after the W&B warnings it causes (a final report
        finishes the job's W&B run first, so its warning is recorded before the job ends)."""
        stamp = {"job_id": origin.job_id, "attempt": origin.attempt, "worker_id": self.id}
        for warning in await self._log_to_wandb(origin.job_id, report):
            await self.bus.publish(Report(kind="event", level="warn", message=warning, **stamp))
        await self.bus.publish(report.model_copy(update=stamp))

    async def _open_wandb(self, task: Task, spec_key: str) -> None:
        """Start the job's W&B run when it was created with a wandb integration."""
        try:
            spec = JobSpec.model_validate(await asyncio.to_thread(self.store.read_json, spec_key))
        except Exception:  # the child reads the spec too and reports what is wrong with it
            log.warning("no spec for %s to read its integrations from", task.job_id, exc_info=True)
            return
        if spec.wandb is not None:
            self.wandb_logs[task.job_id] = await asyncio.to_thread(WandbLog, spec, self.settings)

    async def _log_to_wandb(self, job_id: str, report: Report) -> list[str]:
        """Hand ``report`` to the job's W&B run (if any); the warnings to publish."""
        wandb = self.wandb_logs.get(job_id)
        if wandb is None:
            return []
        if report.kind in FINAL_KINDS:
            del self.wandb_logs[job_id]
            return await asyncio.to_thread(wandb.close, report)
        wandb.submit(report)
        return wandb.take_warnings()

    async def _control(self, job_id: str, attempt: int) -> str | None:
        try:
            return await self.bus.get_control(job_id, attempt)
        except BusUnavailable:
            return None

    def _placed_devices(self, job_id: str) -> list[int]:
        """The device indices placement gave the job (its spec's ``devices``; empty: any one)."""
        return list(protocol.JobSpec.model_validate(self.store.read_json(protocol.spec_key(job_id))).devices)

    def _claim_devices(self, job_id: str, wanted: list[int]) -> list[Device]:
        """Hold the devices placement chose (all or none); others as free when they are busy
        here (the scheduler's view lags a heartbeat), the freest single one when none were chosen."""
        free = [d for d in self.devices if d.index not in self._busy]
        n = max(1, len(wanted))
        chosen = [d for d in free if d.index in wanted]
        if len(chosen) < n:
            rest = sorted((d for d in free if d not in chosen), key=lambda d: -d.memory_free)
            chosen += rest[: n - len(chosen)]
        if len(chosen) < n:  # max_jobs == capacity and gang placement make this a bug, not a state
            raise RuntimeError(f"{n} free devices needed for {job_id}, but {self._busy} are busy")
        for d in chosen:
            self._busy[d.index] = job_id
        return chosen


async def run_worker(
    settings: Settings,
    bus: Bus,
    store: Store,
    *,
    worker_id: str | None = None,
    stop_event: asyncio.Event | None = None,
    child_argv: Sequence[str] = DEFAULT_CHILD_ARGV,
) -> Worker:
    """Run a worker until ``stop_event`` is set or the coroutine is cancelled; returns it."""
    worker = Worker(settings, bus, store, worker_id=worker_id, child_argv=child_argv)
    await worker.run(stop_event)
    return worker


def main(settings: Settings | None = None, worker_id: str | None = None) -> None:
    """``openft worker``: a worker over Redis and the configured store until SIGTERM/SIGINT."""
    from core.bus.redis import RedisBus
    from core.store import store_from_settings

    settings = settings or Settings()  # filled from the environment

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        bus = RedisBus(settings.redis_url, pickup_timeout_s=settings.dispatch_timeout_seconds)
        try:
            worker = await run_worker(settings, bus, store_from_settings(settings), worker_id=worker_id,
                                      stop_event=stop)
            log.info("worker stopped: %r", worker)
        finally:
            await bus.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
