"""The train-to-serve check of each succeeded job, run where models are served: the API.

When a job succeeds the scheduler queues a :class:`core.tables.ServeCheck` with the worker's
samples (greedy answers of the trained model to a few prompts). Every API process polls for
queued checks; one claims each with a conditional update, so replicas never run one twice.
Running a check means:

1. making the ``ft:`` model servable where its base is served: for a base routed to vLLM, its
   adapter is loaded through vLLM's dynamic LoRA endpoint (``ModelServer.register``);
2. asking the served model the samples' prompts greedily (:mod:`api.inference.check`);
3. recording the outcome on the job: an ``info`` event when the answers agree, a ``warn``
   event naming the prompts when they do not.

A check that cannot run (vLLM unreachable, say) is retried :data:`RETRY_SECONDS` later, up to
:data:`MAX_ATTEMPTS` times in all, then recorded with a ``warn`` event; a claim older than
:data:`STALE_CLAIM_SECONDS` (an API process that died mid-check) is taken over.
``Settings.serve_check`` turns the runs off.
"""

from __future__ import annotations

import logging
import time

from anyio import to_thread
from sqlalchemy import or_, update
from sqlmodel import col, select

from api.errors import NotFound
from api.inference.check import check_samples, warning_message
from api.inference.server import ModelServer
from api.services.models import Resolved, resolve
from api.state import AppState, run_claimed
from core.db import session_scope
from core.store import StoreError, public_message
from core.tables import Job, ServeCheck
from scheduler import events
from scheduler.events import Level

log = logging.getLogger("openft.api.serve_checks")

MAX_ATTEMPTS = 3
RETRY_SECONDS = 30.0
STALE_CLAIM_SECONDS = 600.0
FINAL = ("passed", "mismatch", "skipped", "error")


def claim_next(state: AppState) -> ServeCheck | None:
    """Claim the oldest queued (or abandoned) check for this process; None when there is none."""
    now = time.time()
    retry_due = or_(col(ServeCheck.claimed_at).is_(None), col(ServeCheck.claimed_at) < now - RETRY_SECONDS)
    claimable = or_((col(ServeCheck.status) == "pending") & retry_due,
                    (col(ServeCheck.status) == "running") & (col(ServeCheck.claimed_at) < now - STALE_CLAIM_SECONDS))
    with session_scope(state.engine) as session:
        candidates = session.exec(
            select(ServeCheck).where(claimable).order_by(col(ServeCheck.created_at)).limit(8)
        ).all()
        for check in candidates:
            claimed = session.connection().execute(
                update(ServeCheck)
                .where(col(ServeCheck.job_id) == check.job_id, col(ServeCheck.status) == check.status,
                       col(ServeCheck.attempts) == check.attempts)
                .values(status="running", claimed_at=now, attempts=check.attempts + 1)
            )
            if claimed.rowcount == 1:
                session.expunge(check)
                check.status, check.claimed_at, check.attempts = "running", now, check.attempts + 1
                return check
    return None


def _resolve(state: AppState, check: ServeCheck) -> Resolved | None:
    with session_scope(state.engine) as session:
        job = session.get(Job, check.job_id)
        if job is None:
            return None
        try:
            return resolve(session, state.settings, job.project_id, check.model_id)
        except NotFound:
            return None


def _finish(state: AppState, check: ServeCheck, status: str, message: str | None = None,
            level: Level = "info", data: dict[str, object] | None = None) -> None:
    """Record the outcome (``pending`` puts it back for another attempt) and the job's event."""
    with session_scope(state.engine) as session:
        row = session.get(ServeCheck, check.job_id)
        if row is None or row.claimed_at != check.claimed_at:  # taken over meanwhile
            return
        row.status = status
        if status in FINAL:
            row.finished_at = int(time.time())
        if message is not None:
            events.add_event(session, check.job_id, message, level=level, data=data)


async def run_check(state: AppState, server: ModelServer, check: ServeCheck) -> str:
    """Run one claimed check to its outcome; returns the status it recorded."""
    found = await to_thread.run_sync(_resolve, state, check)
    if found is None:  # deleted before it could be checked
        await to_thread.run_sync(_finish, state, check, "skipped")
        return "skipped"
    target = found.target
    try:
        if await server.register(target):
            registered = events.SERVING_REGISTERED.format(model=check.model_id, base=target.base.name)
            await to_thread.run_sync(_event, state, check.job_id, registered)
        mismatches = await check_samples(server, target, check.samples)
    except Exception as exc:  # the check must never take the API down; it retries, then says so
        log.warning("train-to-serve check of %s failed to run (attempt %d): %s", check.model_id, check.attempts, exc)
        if check.attempts < MAX_ATTEMPTS:
            await to_thread.run_sync(_finish, state, check, "pending")
            return "pending"
        error = public_message(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
        message = events.SERVE_CHECK_NOT_RUN.format(model=check.model_id, error=error)
        await to_thread.run_sync(_finish, state, check, "error", message, "warn")
        return "error"
    total = len(check.samples)
    if mismatches:
        data = {"mismatches": [{"expected": m.expected, "served": m.served} for m in mismatches], "samples": total}
        await to_thread.run_sync(_finish, state, check, "mismatch", warning_message(mismatches, total), "warn", data)
        return "mismatch"
    message = events.SERVE_CHECK_PASSED.format(model=check.model_id, n=total)
    await to_thread.run_sync(_finish, state, check, "passed", message)
    return "passed"


def _event(state: AppState, job_id: str, message: str) -> None:
    with session_scope(state.engine) as session:
        events.add_event(session, job_id, message)


async def run_pending(state: AppState, server: ModelServer) -> int:
    """Claim and run checks until none is left; returns how many ran."""
    return await run_claimed(state, claim_next, lambda check: run_check(state, server, check))

