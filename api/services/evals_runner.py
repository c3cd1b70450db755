"""Executing eval runs in the background, in API processes (where models are served).

Every API process polls for runs to do. One claims a run with a conditional update (status
and ``attempts`` unchanged since it read them), so replicas never run one twice; the claim
moves ``queued -> in_progress`` through the run transition table. While it runs, the process
stamps ``claimed_at`` (a heartbeat); a run whose stamp is older than
``Settings.eval_stale_claim_seconds`` belongs to a process that died, and the next process
takes it over and resumes after the last output item written (items and counts are written in
one transaction, so a resume neither loses nor double-counts an item). A run interrupted
:data:`MAX_ATTEMPTS` times fails with a clear error instead of looping forever.

A cancel or delete is seen before the next item; a sampled or judge model that vanished fails
the run (``model_not_found``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from api.errors import APIError
from api.inference.server import ModelServer
from api.services.evals import parse_criterion
from api.services.evals_finetune import launch_pending, record_scores
from api.services.evals_grading import ItemOutcome, evaluate
from api.services.evals_items import load_items, parse_data_source
from api.services.evals_runs import usage_entry
from api.services.evals_sampling import ModelGone, RunJudge
from api.services.evals_status import check_run_transition, load_run, set_run_status
from api.state import AppState, run_claimed
from core import ids
from core.db import session_scope
from core.graders import Grader
from core.tables import Eval, EvalOutputItem, EvalRun

log = logging.getLogger("openft.api.eval_runs")

MAX_ATTEMPTS = 3


@dataclass
class Claim:
    """A run this process holds: its id and the attempt number that identifies the claim."""

    run_id: str
    attempt: int


def claim_next(state: AppState) -> Claim | None:
    """Claim the oldest queued (or abandoned) run for this process; None when there is none."""
    now = time.time()
    stale = now - state.settings.eval_stale_claim_seconds
    claimable = or_(col(EvalRun.status) == "queued",
                    (col(EvalRun.status) == "in_progress")
                    & or_(col(EvalRun.claimed_at).is_(None), col(EvalRun.claimed_at) < stale))
    with session_scope(state.engine) as session:
        candidates = session.exec(select(EvalRun).where(claimable).order_by(col(EvalRun.created_at)).limit(8)).all()
        for run in candidates:
            if run.status == "queued":
                check_run_transition(run.status, "in_progress")
            claimed = session.connection().execute(
                update(EvalRun)
                .where(col(EvalRun.id) == run.id, col(EvalRun.status) == run.status,
                       col(EvalRun.attempts) == run.attempts)
                .values(status="in_progress", claimed_at=now, attempts=run.attempts + 1))
            if claimed.rowcount == 1:
                return Claim(run.id, run.attempts + 1)
    return None


def _held(session: Session, claim: Claim) -> EvalRun | None:
    """The run, locked, if this process still holds it (not canceled, deleted or taken over)."""
    run = load_run(session, claim.run_id)
    if run is None or run.status != "in_progress" or run.attempts != claim.attempt:
        return None
    return run


def _stamp(state: AppState, claim: Claim) -> bool:
    with session_scope(state.engine) as session:
        result = session.connection().execute(
            update(EvalRun).where(col(EvalRun.id) == claim.run_id, col(EvalRun.status) == "in_progress",
                                  col(EvalRun.attempts) == claim.attempt).values(claimed_at=time.time()))
        return bool(result.rowcount == 1)


def _finish(state: AppState, claim: Claim, status: str, error: tuple[str, str] | None = None) -> None:
    with session_scope(state.engine) as session:
        run = _held(session, claim)
        if run is not None:
            set_run_status(run, status, error=error)
            if run.job_id is not None:  # started by a fine-tuning job: its scores go on the job
                record_scores(session, run)


@dataclass
class _Plan:
    project_id: str
    ds: Any
    criteria: list[tuple[dict[str, Any], Grader]]
    rows: list[dict[str, Any]]
    done: set[int]


def _plan(state: AppState, claim: Claim) -> _Plan | None:
    """Everything the run needs, read once; None when the run is no longer ours."""
    with session_scope(state.engine) as session:
        run = _held(session, claim)
        if run is None:
            return None
        if claim.attempt > MAX_ATTEMPTS:
            set_run_status(run, "failed", error=("run_interrupted", f"The run was interrupted {MAX_ATTEMPTS} "
                                                 "times (the API processes running it stopped); start a new run."))
            return None
        ev = session.get(Eval, run.eval_id)
        assert ev is not None, "deleting an eval deletes its runs"
        ds = parse_data_source(run.data_source)
        criteria = [(spec, parse_criterion(spec, f"testing_criteria[{i}]"))
                    for i, spec in enumerate(ev.testing_criteria)]
        rows = load_items(session, state.store, run.project_id, ds)
        done = set(session.exec(select(EvalOutputItem.datasource_item_id)
                                .where(EvalOutputItem.run_id == run.id)).all())
        return _Plan(run.project_id, ds, criteria, rows, done)


def _merge_usage(current: list[dict[str, Any]], usage: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    by_model = {u["model_name"]: dict(u) for u in current}
    for model, counts in usage.items():
        entry = usage_entry(model, counts)
        old = by_model.get(model)
        if old is not None:
            for key in ("invocation_count", "prompt_tokens", "completion_tokens", "total_tokens"):
                entry[key] += old[key]
        by_model[model] = entry
    return list(by_model.values())


def _record(state: AppState, claim: Claim, index: int, row: dict[str, Any], outcome: ItemOutcome) -> bool:
    """Write the item's output and the run's counts in one transaction; False when no longer ours."""
    with session_scope(state.engine) as session:
        run = _held(session, claim)
        if run is None:
            return False
        session.add(EvalOutputItem(id=ids.new_id("outputitem_", 32), run_id=run.id, eval_id=run.eval_id,
                                   datasource_item_id=index, datasource_item=row["item"], results=outcome.results,
                                   sample=outcome.sample, status=outcome.status))
        counts = dict(run.result_counts)
        counts["total"] = counts.get("total", 0) + 1
        key = "errored" if outcome.errored else "passed" if outcome.status == "pass" else "failed"
        counts[key] = counts.get(key, 0) + 1
        run.result_counts = counts
        per = {r["testing_criteria"]: dict(r) for r in run.per_testing_criteria_results}
        for result in outcome.results:
            entry = per.setdefault(result["name"], {"testing_criteria": result["name"], "passed": 0, "failed": 0})
            entry["passed" if result["passed"] else "failed"] += 1
        run.per_testing_criteria_results = list(per.values())
        run.per_model_usage = _merge_usage(run.per_model_usage, outcome.usage)
        run.claimed_at = time.time()
        return True


async def _heartbeat(state: AppState, claim: Claim) -> None:
    while True:
        await asyncio.sleep(max(0.2, state.settings.eval_stale_claim_seconds / 4))
        if not await to_thread.run_sync(_stamp, state, claim):
            return


async def execute(state: AppState, server: ModelServer, claim: Claim) -> None:
    """Run the claimed run's remaining items, then complete it (or fail it with a clear error)."""
    try:
        plan = await to_thread.run_sync(_plan, state, claim)
    except APIError as exc:  # its file or model vanished since the run was created
        await to_thread.run_sync(_finish, state, claim, "failed", (exc.code or "invalid_data_source", exc.message))
        return
    if plan is None:
        return
    judge = RunJudge(state, server, plan.project_id)
    beat = asyncio.get_running_loop().create_task(_heartbeat(state, claim))
    try:
        for index, row in enumerate(plan.rows):
            if index in plan.done:
                continue
            outcome = await evaluate(state, server, plan.project_id, plan.ds, plan.criteria, row, judge)
            if not await to_thread.run_sync(_record, state, claim, index, row, outcome):
                return  # canceled, deleted or taken over
        await to_thread.run_sync(_finish, state, claim, "completed")
    except ModelGone as exc:
        await to_thread.run_sync(_finish, state, claim, "failed", ("model_not_found", exc.message))
    except Exception as exc:  # never leave a run in_progress behind a bug
        log.exception("eval run %s failed", claim.run_id)
        await to_thread.run_sync(_finish, state, claim, "failed",
                                 ("internal_error", f"The run stopped on an internal error: {type(exc).__name__}"))
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def run_pending(state: AppState, server: ModelServer) -> int:
    """Launch the runs fine-tuning jobs asked for, then claim and execute runs until none is left."""
    await to_thread.run_sync(launch_pending, state)
    return await run_claimed(state, claim_next, lambda claim: execute(state, server, claim))

