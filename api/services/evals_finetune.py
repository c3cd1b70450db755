"""Evals meet fine-tuning: ``extra_body={"openft": {"eval_id": ...}}`` on job create.

When the job succeeds, the eval runs once per kept checkpoint and once on the final model,
with the data source of the eval's latest run (or ``openft.eval_data_source`` given with the
job) and that model as the sampled one. A job event lists the run ids; as each run completes,
its pass rates go into a ``metrics`` event of the job and into the ``metrics`` of the
checkpoint it scored (``eval_pass_rate`` and ``eval_<criterion>_pass_rate``), so a user picks
the best checkpoint by a grader rather than by loss.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from api.errors import APIError, InvalidRequest, NotFound
from api.schemas.evals import RunCreate
from api.services.evals import get_eval
from api.services.evals_items import parse_data_source
from api.services.evals_runs import create_run
from api.state import AppState
from core.db import session_scope
from core.tables import Checkpoint, EvalJobHook, EvalRun, Job
from scheduler import events
from scheduler.transitions import TERMINAL

log = logging.getLogger("openft.api.eval_runs")

OPTIONS = ("eval_id", "eval_data_source")


def take_job_option(session: Session, project_id: str, openft: dict[str, Any] | None) -> EvalJobHook | None:
    """Remove ``eval_id``/``eval_data_source`` from a job's ``openft`` fields and check them.

    Returns the hook to attach once the job row exists (``job_id`` unset); 400 for an unknown
    eval, or an eval with no run to take a data source from and none given.
    """
    if not openft or not any(key in openft for key in OPTIONS):
        return None
    eval_id = openft.pop("eval_id", None)
    data_source = openft.pop("eval_data_source", None)
    if not isinstance(eval_id, str) or not eval_id:
        raise InvalidRequest("openft.eval_id must be the id of one of your evals.", param="openft[eval_id]",
                             code="invalid_value")
    try:
        get_eval(session, project_id, eval_id)
    except NotFound as exc:
        raise InvalidRequest(exc.message, param="openft[eval_id]", code="invalid_value") from exc
    if data_source is None:
        latest = session.exec(select(EvalRun).where(EvalRun.eval_id == eval_id)
                              .order_by(col(EvalRun.created_at).desc(), col(EvalRun.seq).desc())).first()
        if latest is None:
            raise InvalidRequest(f"Eval {eval_id} has no run yet to take a data source from; give one as "
                                 "openft.eval_data_source (a completions data source).",
                                 param="openft[eval_data_source]", code="missing_required_parameter")
        data_source = latest.data_source
    if not isinstance(data_source, dict):
        raise InvalidRequest("openft.eval_data_source must be a data source object.",
                             param="openft[eval_data_source]", code="invalid_value")
    template = {**data_source, "type": "completions", "model": data_source.get("model") or "placeholder"}
    try:
        parse_data_source(template)
    except APIError as exc:
        raise InvalidRequest(f"openft.eval_data_source: {exc.message}", param="openft[eval_data_source]",
                             code="invalid_value") from exc
    return EvalJobHook(job_id="", eval_id=eval_id, data_source=template)


def attach(session: Session, job: Job, hook: EvalJobHook | None) -> None:
    """Store the hook of a newly created job."""
    if hook is not None:
        hook.job_id = job.id
        session.add(hook)


def _launch(session: Session, state: AppState, hook: EvalJobHook, job: Job) -> None:
    checkpoints = session.exec(select(Checkpoint).where(Checkpoint.job_id == job.id)
                               .order_by(col(Checkpoint.step_number))).all()
    targets = [(c.fine_tuned_model_checkpoint, c.step_number) for c in checkpoints]
    if job.fine_tuned_model and all(m != job.fine_tuned_model for m, _ in targets):
        targets.append((job.fine_tuned_model, max((s for _, s in targets), default=0)))
    launched: list[dict[str, Any]] = []
    for model, step in targets:
        req = RunCreate(name=f"{job.id} step {step}", data_source={**hook.data_source, "model": model})
        run = create_run(session, state.settings, state.store, job.project_id, hook.eval_id, req,
                         job_id=job.id, model_step=step)
        launched.append({"run_id": run.id, "model": model, "step": step})
    message = f"Eval {hook.eval_id} started on {len(launched)} models: " + ", ".join(str(r["run_id"]) for r in launched)
    events.add_event(session, job.id, message, data={"eval_id": hook.eval_id, "runs": launched})


def launch_pending(state: AppState) -> None:
    """Start the eval runs of hooks whose job succeeded; drop those whose job failed or was cancelled.

    A hook is taken with a conditional update in the same transaction that creates its runs, so
    two API processes never launch one twice; a launch that cannot start (the eval's file went
    away, say) rolls back and is dropped with a ``warn`` event on the job.
    """
    with session_scope(state.engine) as session:
        pending = session.exec(select(EvalJobHook.job_id, Job.status).join(Job, col(Job.id) == EvalJobHook.job_id)
                               .where(EvalJobHook.status == "pending")).all()
    for job_id, status in pending:
        if status not in TERMINAL:
            continue
        outcome = "launched" if status == "succeeded" else "dropped"
        try:
            with session_scope(state.engine) as session:
                taken = session.connection().execute(
                    update(EvalJobHook).where(col(EvalJobHook.job_id) == job_id, col(EvalJobHook.status) == "pending")
                    .values(status=outcome))
                hook, job = session.get(EvalJobHook, job_id), session.get(Job, job_id)
                if taken.rowcount == 1 and outcome == "launched" and hook is not None and job is not None:
                    _launch(session, state, hook, job)
        except APIError as exc:
            with session_scope(state.engine) as session:
                hook = session.get(EvalJobHook, job_id)
                if hook is not None and hook.status == "pending":
                    hook.status = "dropped"
                    events.add_event(session, job_id, f"Eval {hook.eval_id} could not start: {exc.message}",
                                     level="warn")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "criterion"


def record_scores(session: Session, run: EvalRun) -> None:
    """Put a finished job run's pass rates on the job (a metrics event) and on its checkpoint."""
    assert run.job_id is not None
    if run.status != "completed":
        events.add_event(session, run.job_id, f"Eval run {run.id} on {run.model} ended {run.status}: "
                         f"{(run.error or {}).get('message', '')}".rstrip(": "), level="warn")
        return
    total = run.result_counts.get("total", 0) or 1
    scores = {"eval_pass_rate": run.result_counts.get("passed", 0) / total}
    for entry in run.per_testing_criteria_results:
        n = entry["passed"] + entry["failed"]
        scores[f"eval_{_slug(entry['testing_criteria'])}_pass_rate"] = entry["passed"] / n if n else 0.0
    step = run.model_step or 0
    described = ", ".join(f"{k}={v:.3f}" for k, v in scores.items())
    events.add_event(session, run.job_id, f"Eval run {run.id} on {run.model} (step {step}): {described}",
                     type="metrics", data={"step": step, "eval_id": run.eval_id, "eval_run_id": run.id,
                                           "model": run.model, **scores})
    checkpoint = session.exec(select(Checkpoint).where(Checkpoint.job_id == run.job_id,
                                                       Checkpoint.fine_tuned_model_checkpoint == run.model)).first()
    if checkpoint is not None:
        checkpoint.metrics = {**checkpoint.metrics, **scores}
