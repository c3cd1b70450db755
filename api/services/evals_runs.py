"""Eval runs and their output items: create, read, cancel, delete.

Creating a run validates its data source against the eval (items against the item schema, the
sampled model against what the project may call) and records it ``queued``; an API process
claims it and executes it in the background (:mod:`api.services.evals_runner`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound
from api.pagination import Order, paginate
from api.schemas.evals import CompletionsDataSource, RunCreate
from api.services.evals import get_eval, item_schema
from api.services.evals_items import check_items, load_items, parse_data_source
from api.services.evals_status import set_run_status
from api.services.models import resolve
from core import ids
from core.settings import Settings
from core.store import Store
from core.tables import EvalOutputItem, EvalRun
from scheduler.transitions import IllegalTransition


def create_run(session: Session, settings: Settings, store: Store, project_id: str, eval_id: str,
               req: RunCreate, *, job_id: str | None = None, model_step: int | None = None) -> EvalRun:
    """Record a queued run of the eval; 400 naming the bad param of the data source."""
    ev = get_eval(session, project_id, eval_id)
    ds = parse_data_source(req.data_source)
    model = ""
    if isinstance(ds, CompletionsDataSource):
        try:
            model = resolve(session, settings, project_id, ds.model, param="data_source.model").id
        except NotFound as exc:  # a model in a body is a bad value, not a missing URL
            raise InvalidRequest(exc.message, param="data_source.model", code="model_not_found") from exc
    rows = load_items(session, store, project_id, ds)
    check_items(rows, item_schema(ev), ds, settings.eval_max_items)
    name = req.name or f"{model or 'jsonl'} run {ids.random_token(6)}"
    run = EvalRun(id=ids.new_id("evalrun_", 32), eval_id=ev.id, project_id=project_id, name=name, model=model,
                  data_source=req.data_source, metadata_=req.metadata, total_items=len(rows),
                  result_counts={"total": 0, "passed": 0, "failed": 0, "errored": 0},
                  per_testing_criteria_results=[
                      {"testing_criteria": c.get("name", ""), "passed": 0, "failed": 0}
                      for c in ev.testing_criteria],
                  job_id=job_id, model_step=model_step)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, project_id: str, eval_id: str, run_id: str) -> EvalRun:
    """The caller's run of ``eval_id``, or 404."""
    get_eval(session, project_id, eval_id)
    run = session.get(EvalRun, run_id)
    if run is None or run.eval_id != eval_id:
        raise NotFound.object("EvalRun", run_id, param="run_id")
    return run


def list_runs(session: Session, project_id: str, eval_id: str, *, after: str | None, limit: int,
              order: Order, status: str | None) -> tuple[list[EvalRun], bool]:
    """A page of the eval's runs, optionally of one status."""
    get_eval(session, project_id, eval_id)
    stmt = select(EvalRun).where(EvalRun.eval_id == eval_id)
    if status is not None:
        stmt = stmt.where(EvalRun.status == status)
    return paginate(session, stmt, EvalRun, sort=(col(EvalRun.created_at), col(EvalRun.seq)), after=after,
                    limit=limit, order=order)


def cancel_run(session: Session, project_id: str, eval_id: str, run_id: str) -> EvalRun:
    """Cancel a queued or running run (its runner stops before the next item); 400 once finished."""
    run = get_run(session, project_id, eval_id, run_id)
    try:
        set_run_status(run, "canceled")
    except IllegalTransition as exc:
        raise InvalidRequest(exc.message + ".", param="run_id", code="invalid_state") from exc
    return run


def delete_run(session: Session, project_id: str, eval_id: str, run_id: str) -> None:
    """Delete the run and its output items (a running run stops at its next item)."""
    run = get_run(session, project_id, eval_id, run_id)
    session.exec(delete(EvalOutputItem).where(col(EvalOutputItem.run_id) == run_id))
    session.delete(run)


def list_output_items(session: Session, project_id: str, eval_id: str, run_id: str, *, after: str | None,
                      limit: int, order: Order, status: str | None) -> tuple[list[EvalOutputItem], bool]:
    """A page of the run's output items in data source order (``status`` pass or fail)."""
    get_run(session, project_id, eval_id, run_id)
    stmt = select(EvalOutputItem).where(EvalOutputItem.run_id == run_id)
    if status is not None:
        stmt = stmt.where(EvalOutputItem.status == status)
    return paginate(session, stmt, EvalOutputItem, sort=(col(EvalOutputItem.datasource_item_id),),
                    after=after, limit=limit, order=order)


def get_output_item(session: Session, project_id: str, eval_id: str, run_id: str, item_id: str) -> EvalOutputItem:
    """One output item of the caller's run, or 404."""
    get_run(session, project_id, eval_id, run_id)
    row = session.get(EvalOutputItem, item_id)
    if row is None or row.run_id != run_id:
        raise NotFound.object("EvalRunOutputItem", item_id, param="output_item_id")
    return row


def usage_entry(model: str, usage: dict[str, int]) -> dict[str, Any]:
    """One ``per_model_usage`` entry."""
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"model_name": model, "invocation_count": usage.get("invocation_count", 1),
            "prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": usage.get("total_tokens", prompt + completion), "cached_tokens": 0}
