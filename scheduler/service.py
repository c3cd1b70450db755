"""The scheduler: validation, placement, dispatch, report intake and lease reconciliation.

One asyncio task per concern, all idempotent over the database (the truth) so that any of
them can be restarted, and a Redis restart only delays work: tasks are re-dispatched, workers
re-register on their next heartbeat, and leases are judged on heartbeats alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.bus import Bus
from core.db import session_scope
from core.protocol import Report, WorkerInfo
from core.settings import Settings
from core.store import Store
from core.tables import Job, Worker
from scheduler import events, quotas
from scheduler.dispatch import prepare_dispatch
from scheduler.jobs import change_status, fail_job, load_job
from scheduler.placement import JobRequirement, WorkerCapacity, place, unplaceable_reason
from scheduler.reports import apply_report
from scheduler.stages import validate_job
from scheduler.transitions import TERMINAL

log = logging.getLogger(__name__)

"""Called with a job id after it succeeded (e.g. the train-to-serve check)."""


@dataclass
class TickResult:
    """What one reconciliation pass decided; the bus calls happen outside the transaction."""

    dispatches: list[tuple[str, str, int]] = field(default_factory=list)
    controls: list[tuple[str, str | None]] = field(default_factory=list)


class Scheduler:
    """Drives jobs from ``validating_files`` to a terminal state."""

    def __init__(self, settings: Settings, engine: Engine, store: Store, bus: Bus) -> None:
        self.settings, self.engine, self.store, self.bus = settings, engine, store, bus
        self._validating: set[str] = set()
        self._held: dict[str, str] = {}  # job id -> the quota reason last announced in its events
        self.started_at = time.time()

    def __repr__(self) -> str:
        return f"<Scheduler validating={len(self._validating)}>"

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        tasks = [
            asyncio.create_task(self._loop(self._validation_pass, stop), name="scheduler-validate"),
            asyncio.create_task(self._loop(self.tick, stop), name="scheduler-tick"),
            asyncio.create_task(self._report_loop(stop), name="scheduler-reports"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, step: Callable[[], object], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await step()  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler step %s failed; retrying", getattr(step, "__name__", step))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.scheduler_tick_seconds)

    # --- validation ------------------------------------------------------------------------
    async def _validation_pass(self) -> None:
        with session_scope(self.engine) as session:
            pending = session.exec(
                select(Job.id).where(Job.status == "validating_files").order_by(col(Job.created_at))
            ).all()
        for job_id in pending:
            if job_id in self._validating:
                continue
            self._validating.add(job_id)
            try:
                await asyncio.to_thread(validate_job, self.settings, self.engine, self.store, job_id)
            except Exception:
                log.exception("validation of %s crashed", job_id)
                await asyncio.to_thread(self._fail, job_id, "internal_error", "Validation failed unexpectedly")
            finally:
                self._validating.discard(job_id)

    def _fail(self, job_id: str, code: str, message: str) -> None:
        with session_scope(self.engine) as session:
            job = load_job(session, job_id)
            if job is None or job.status in TERMINAL:
                return
            fail_job(session, job, code, message)

    # --- reports ---------------------------------------------------------------------------
    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reports = await self.bus.read_reports(timeout=1.0)
                for report in reports:
                    await asyncio.to_thread(self.apply, report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading reports failed; retrying")
                await asyncio.sleep(1.0)

    def apply(self, report: Report) -> None:
        """Apply one report in its own transaction."""
        with session_scope(self.engine) as session:
            apply_report(session, self.store, report)

    # --- leases, controls, placement -------------------------------------------------------
    async def tick(self) -> None:
        """One reconciliation pass over workers and jobs."""
        workers = await self.bus.workers()
        result = await asyncio.to_thread(self._reconcile, workers)
        for job_id, action in result.controls:
            await self.bus.set_control(job_id, action)  # type: ignore[arg-type]
        for worker_id, job_id, attempt in result.dispatches:
            await self.bus.dispatch(worker_id, job_id, attempt, self.settings.job_budget_seconds)

    def _reconcile(self, workers: list[WorkerInfo]) -> TickResult:
        result = TickResult()
        live = {w.id: w for w in workers}
        now = time.time()
        with session_scope(self.engine) as session:
            self._record_workers(session, workers)
            held = session.exec(select(Job).where(col(Job.worker_id).is_not(None))).all()
            for job in held:
                self._reconcile_held(session, job, live.get(job.worker_id or ""), now, result)
            self._place(session, workers, result)
        return result

    def _record_workers(self, session: Session, workers: list[WorkerInfo]) -> None:
        for info in workers:
            row = session.get(Worker, info.id) or Worker(id=info.id)
            row.devices = [d.model_dump() for d in info.devices]
            row.last_heartbeat = info.heartbeat_at or time.time()
            session.add(row)

    def _reconcile_held(
        self, session: Session, job: Job, worker: WorkerInfo | None, now: float, result: TickResult
    ) -> None:
        running_there = worker is not None and job.id in worker.running
        if job.status in TERMINAL:
            if running_there:
                result.controls.append((job.id, "cancel"))
            else:  # the worker let go of it (or is gone): the job is fully stopped
                job.worker_id = None
                job.requested = None
                result.controls.append((job.id, None))
            return
        just_dispatched = now - (job.dispatched_at or 0) < self.settings.dispatch_timeout_seconds
        if worker is not None and (running_there or just_dispatched):
            job.lease_expires_at = now + self.settings.worker_lease_seconds
            if job.requested:
                result.controls.append((job.id, job.requested))
            return
        if worker is not None and not running_there and job.status == "queued":
            # dispatched but never picked up (a Redis restart lost the task): send it again
            job.dispatched_at = now
            result.dispatches.append((job.worker_id or "", job.id, job.attempts))
            return
        if job.lease_expires_at is not None and now < job.lease_expires_at:
            return
        self._requeue(session, job)

    def _requeue(self, session: Session, job: Job) -> None:
        lost_worker = job.worker_id
        job.worker_id = None
        job.dispatched_at = None
        job.lease_expires_at = None
        job.worker_losses += 1
        losses = job.worker_losses
        if job.status == "paused":
            job.requested = None
            return
        if losses > self.settings.max_attempts:
            fail_job(session, job, "worker_lost", f"The job lost its worker {losses} times; giving up")
            return
        where = f"checkpoint step {job.resume_step}" if job.resume_step else "the beginning"
        message = events.REQUEUED.format(worker=lost_worker, where=where, attempt=job.attempts + 1)
        if job.status == "running":
            change_status(session, job, "queued", message, level="warn")
        else:  # dispatched, never started: it stays queued
            events.add_event(session, job.id, message, level="warn")

    def _explain_holds(self, session: Session, queued: dict[str, Job], placed: set[str],
                       running: dict[str, int], limits: quotas.Quotas) -> None:
        """An event on each job a quota holds back, once per reason (not on every tick)."""
        for job in queued.values():
            pid = job.project_id
            if job.id in placed or not limits.holds(pid, running.get(pid, 0)):
                self._held.pop(job.id, None)
                continue
            reason = limits.reasons[pid]
            if self._held.get(job.id) != reason:
                self._held[job.id] = reason
                events.add_event(session, job.id, reason, data={"quota_hold": True})

    def _place(self, session: Session, workers: list[WorkerInfo], result: TickResult) -> None:
        queued = session.exec(
            select(Job).where(Job.status == "queued", col(Job.worker_id).is_(None))
        ).all()
        if not queued:
            return
        held = session.exec(select(Job).where(col(Job.worker_id).is_not(None))).all()
        held_by_worker: dict[str, list[JobRequirement]] = {}
        running_by_project: dict[str, int] = {}
        for h in held:
            held_by_worker.setdefault(h.worker_id or "", []).append(JobRequirement.from_job(h))
            running_by_project[h.project_id] = running_by_project.get(h.project_id, 0) + 1
        capacities = [WorkerCapacity.from_info(w, held_by_worker.get(w.id, ())) for w in workers]
        requirements = [JobRequirement.from_job(job) for job in queued]
        by_id = {job.id: job for job in queued}
        if capacities:
            for req in requirements:
                reason = unplaceable_reason(req, capacities)
                if reason is not None:
                    fail_job(session, by_id.pop(req.job_id), "insufficient_resources", reason)
        requirements = [r for r in requirements if r.job_id in by_id]
        limits = quotas.for_projects(session, (r.project_id for r in requirements), running_by_project)
        assignments = place([r for r in requirements if r.project_id not in limits.blocked], capacities,
                            running_by_project, limits.max_running)
        self._explain_holds(session, by_id, {a.job_id for a in assignments}, running_by_project, limits)
        for assignment in assignments:
            job = by_id[assignment.job_id]
            prepare_dispatch(session, self.settings, self.store, job, assignment)
            # a pause or cancel request of an earlier attempt must not reach the new one
            result.controls.append((job.id, None))
            result.dispatches.append((assignment.worker_id, job.id, job.attempts))
