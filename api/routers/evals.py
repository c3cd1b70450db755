"""``/v1/evals``: thin handlers over :mod:`api.services.evals` and :mod:`api.services.evals_runs`.

Every handler answers 401 without a valid key and 404 for an eval, run or output item that is
not the caller's project's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.deps import ProjectDep, SessionDep, SettingsDep, StateDep, StoreDep
from api.inference.server import ModelServerDep
from api.pagination import AfterQuery, CursorPage, OrderQuery, limit_query
from api.schemas.evals import EvalCreate, EvalUpdate, RunCreate, eval_object, output_item_object, run_object
from api.services import evals, evals_runs

router = APIRouter(prefix="/evals", tags=["evals"])

Limit = Annotated[int, limit_query(100)]


@router.post("")
async def create_eval(body: EvalCreate, session: SessionDep, state: StateDep, server: ModelServerDep,
                      project: ProjectDep) -> dict[str, Any]:
    """Create an eval (200); 400 naming the bad param of the config or a testing criterion
    (a judge model the project cannot use included)."""
    row = await run_in_threadpool(evals.create_eval, session, state.settings, project, body)
    await evals.check_judges(state, server, project, row.testing_criteria)  # rolls the create back on a 400
    return eval_object(row)


@router.get("")
def list_evals(session: SessionDep, project: ProjectDep, after: AfterQuery = None, limit: Limit = 20,
               order: OrderQuery = "asc",
               order_by: Annotated[Literal["created_at", "updated_at"], Query()] = "created_at",
               ) -> CursorPage[dict[str, Any]]:
    """The project's evals (oldest first unless ``order=desc``)."""
    rows, more = evals.list_evals(session, project, after=after, limit=limit, order=order, order_by=order_by)
    return CursorPage[dict[str, Any]](data=[eval_object(r) for r in rows], has_more=more)


@router.get("/{eval_id}")
def retrieve_eval(eval_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """One eval."""
    return eval_object(evals.get_eval(session, project, eval_id))


@router.post("/{eval_id}")
def update_eval(eval_id: str, body: EvalUpdate, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Rename an eval or replace its metadata (200)."""
    return eval_object(evals.update_eval(session, project, eval_id, body))


@router.delete("/{eval_id}")
def delete_eval(eval_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Delete an eval with its runs (200 ``eval.deleted``)."""
    evals.delete_eval(session, project, eval_id)
    return {"object": "eval.deleted", "deleted": True, "eval_id": eval_id}


@router.post("/{eval_id}/runs")
def create_run(eval_id: str, body: RunCreate, session: SessionDep, settings: SettingsDep, store: StoreDep,
               project: ProjectDep) -> dict[str, Any]:
    """Create a run (200, ``queued``; it runs in the background); 400 naming the bad data source param."""
    return run_object(evals_runs.create_run(session, settings, store, project, eval_id, body))


@router.get("/{eval_id}/runs")
def list_runs(eval_id: str, session: SessionDep, project: ProjectDep, after: AfterQuery = None, limit: Limit = 20,
              order: OrderQuery = "asc",
              status: Annotated[Literal["queued", "in_progress", "completed", "canceled", "failed"] | None,
                                Query()] = None) -> CursorPage[dict[str, Any]]:
    """The eval's runs (oldest first unless ``order=desc``), optionally of one status."""
    rows, more = evals_runs.list_runs(session, project, eval_id, after=after, limit=limit, order=order,
                                      status=status)
    return CursorPage[dict[str, Any]](data=[run_object(r) for r in rows], has_more=more)


@router.get("/{eval_id}/runs/{run_id}")
def retrieve_run(eval_id: str, run_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """One run with its live counts."""
    return run_object(evals_runs.get_run(session, project, eval_id, run_id))


@router.post("/{eval_id}/runs/{run_id}/cancel")
@router.post("/{eval_id}/runs/{run_id}")  # the documented path; the client posts to .../cancel
def cancel_run(eval_id: str, run_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Cancel a queued or running run (200 ``canceled``); 400 once it finished."""
    return run_object(evals_runs.cancel_run(session, project, eval_id, run_id))


@router.delete("/{eval_id}/runs/{run_id}")
def delete_run(eval_id: str, run_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Delete a run and its output items (200 ``eval.run.deleted``)."""
    evals_runs.delete_run(session, project, eval_id, run_id)
    return {"object": "eval.run.deleted", "deleted": True, "run_id": run_id}


@router.get("/{eval_id}/runs/{run_id}/output_items")
def list_output_items(eval_id: str, run_id: str, session: SessionDep, project: ProjectDep,
                      after: AfterQuery = None, limit: Limit = 20, order: OrderQuery = "asc",
                      status: Annotated[Literal["pass", "fail"] | None, Query()] = None,
                      ) -> CursorPage[dict[str, Any]]:
    """The run's output items in data source order, optionally only ``pass`` or ``fail``."""
    rows, more = evals_runs.list_output_items(session, project, eval_id, run_id, after=after, limit=limit,
                                              order=order, status=status)
    return CursorPage[dict[str, Any]](data=[output_item_object(r) for r in rows], has_more=more)


@router.get("/{eval_id}/runs/{run_id}/output_items/{output_item_id}")
def retrieve_output_item(eval_id: str, run_id: str, output_item_id: str, session: SessionDep,
                         project: ProjectDep) -> dict[str, Any]:
    """One output item."""
    return output_item_object(evals_runs.get_output_item(session, project, eval_id, run_id, output_item_id))
