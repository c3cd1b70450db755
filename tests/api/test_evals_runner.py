"""The background runner: a run claimed by a dead process is resumed, never double-counted or stuck."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from live_server import run_server_in_thread
from sqlalchemy.engine import Engine
from sqlmodel import select

from api.app import create_app
from api.schemas.evals import EvalCreate, RunCreate
from api.services import evals, evals_runs
from api.services.evals_status import TRANSITIONS, set_run_status
from core.db import session_scope
from core.settings import Settings
from core.store import Store
from core.tables import EvalOutputItem, EvalRun, Project
from scheduler.transitions import IllegalTransition

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local", "postgres-s3"], indirect=True)

CHECK = {"type": "string_check", "name": "exact", "operation": "eq", "input": "{{item.got}}",
         "reference": "{{item.want}}"}
ROWS = [{"item": {"got": "a" if i % 3 else "b", "want": "a"}} for i in range(9)]


def _abandoned_run(engine: Engine, settings: Settings, store: Store, *, attempts: int, done: int) -> tuple[str, str]:
    """An in-progress run whose API process died after ``done`` items (its claim long stale)."""
    with session_scope(engine) as session:
        if session.get(Project, "proj-a") is None:
            session.add(Project(id="proj-a"))
            session.flush()
        ev = evals.create_eval(session, settings, "proj-a", EvalCreate(
            data_source_config={"type": "custom", "item_schema": {"type": "object"}}, testing_criteria=[CHECK]))
        run = evals_runs.create_run(session, settings, store, "proj-a", ev.id, RunCreate(data_source={
            "type": "jsonl", "source": {"type": "file_content", "content": ROWS}}))
        set_run_status(run, "in_progress")
        run.attempts, run.claimed_at = attempts, time.time() - 3600
        for i in range(done):
            ok = ROWS[i]["item"]["got"] == "a"
            session.add(EvalOutputItem(id=f"outputitem_before{i}", run_id=run.id, eval_id=ev.id, datasource_item_id=i,
                                       datasource_item=ROWS[i]["item"], status="pass" if ok else "fail",
                                       results=[{"name": "exact", "type": "string_check", "score": float(ok),
                                                 "passed": ok, "sample": None}]))
            counts = run.result_counts
            run.result_counts = {**counts, "total": i + 1, "passed": counts["passed"] + ok,
                                 "failed": counts["failed"] + (not ok)}
            run.per_testing_criteria_results = [{"testing_criteria": "exact", "passed": run.result_counts["passed"],
                                                 "failed": run.result_counts["failed"]}]
        return ev.id, run.id


@pytest.fixture
def started(settings: Settings, engine: Engine, store: Store) -> Iterator[Any]:
    """Starts an API process (after the test wrote its rows) and yields a client of it."""
    servers: list[Any] = []

    def start() -> httpx2.Client:
        from api.services.keys import create_key

        key = create_key(engine, "proj-a")
        app: FastAPI = create_app(settings.model_copy(update={"eval_interval_seconds": 0.1}), engine=engine,
                                  store=store)
        ctx = run_server_in_thread(app)
        live = ctx.__enter__()
        servers.append(ctx)
        return httpx2.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    yield start
    for ctx in servers:
        ctx.__exit__(None, None, None)


def _wait(http: httpx2.Client, eval_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (run := http.get(f"/v1/evals/{eval_id}/runs/{run_id}").json())["status"] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    return run


def test_run_of_a_dead_process_is_resumed_after_its_last_item(
        engine: Engine, settings: Settings, store: Store, started: Any) -> None:
    eval_id, run_id = _abandoned_run(engine, settings, store, attempts=1, done=4)
    http = started()
    run = _wait(http, eval_id, run_id)
    assert run["status"] == "completed"
    expected_pass = sum(r["item"]["got"] == "a" for r in ROWS)
    assert run["result_counts"] == {"total": 9, "passed": expected_pass, "failed": 9 - expected_pass, "errored": 0}
    assert run["per_testing_criteria_results"] == [
        {"testing_criteria": "exact", "passed": expected_pass, "failed": 9 - expected_pass}]
    items = http.get(f"/v1/evals/{eval_id}/runs/{run_id}/output_items", params={"limit": 100}).json()["data"]
    assert [i["datasource_item_id"] for i in items] == list(range(9))
    assert [i["id"] for i in items[:4]] == [f"outputitem_before{i}" for i in range(4)]  # not redone
    with session_scope(engine) as session:
        row = session.get(EvalRun, run_id)
        assert row is not None and row.attempts == 2 and row.claimed_at is None


def test_a_run_interrupted_too_often_fails_cleanly(engine: Engine, settings: Settings, store: Store,
                                                   started: Any) -> None:
    eval_id, run_id = _abandoned_run(engine, settings, store, attempts=3, done=1)
    run = _wait(started(), eval_id, run_id)
    assert run["status"] == "failed" and run["error"]["code"] == "run_interrupted"
    assert "interrupted 3 times" in run["error"]["message"]


def test_cancel_stops_a_queued_run_and_the_table_refuses_leaving_terminal_states(
        engine: Engine, settings: Settings, store: Store) -> None:
    eval_id, run_id = _abandoned_run(engine, settings, store, attempts=1, done=0)
    with session_scope(engine) as session:
        run = evals_runs.cancel_run(session, "proj-a", eval_id, run_id)
        assert run.status == "canceled" and run.finished_at is not None
        for status in ("queued", "in_progress", "completed", "failed"):
            with pytest.raises(IllegalTransition):
                set_run_status(run, status)
        items = session.exec(select(EvalOutputItem).where(EvalOutputItem.run_id == run_id)).all()
        assert items == []
    assert all(not TRANSITIONS[s] for s in ("completed", "failed", "canceled"))
