"""The validating_files stage (scheduler.stages): the plan on success, a precise error on failure."""

from __future__ import annotations

import pytest
from factories import chat_jsonl, create_stored_file
from job_factories import create_job
from scheduler_factories import messages, reload
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store import Store
from scheduler.stages import validate_job

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)



@pytest.fixture(autouse=True)
def project(api_key: str) -> None:
    """Project ``proj-a`` exists (its key is not used)."""


METHOD = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}}


def test_a_valid_file_queues_the_job_with_its_plan(settings: Settings, engine: Engine, store: Store) -> None:
    data = chat_jsonl(12)
    file = create_stored_file(engine, store, "proj-a", data)
    job = create_job(engine, "proj-a", status="validating_files", training_file=file.id, method=METHOD,
                     suffix="mine")
    validate_job(settings, engine, store, job.id)
    row = reload(engine, job.id)
    assert row.status == "queued" and row.queued_at is not None
    plan = row.plan
    assert plan is not None
    assert plan.fine_tuned_model.startswith("ft:tiny-chat:proj-a:mine:")
    assert (plan.n_train_examples, plan.total_steps, plan.n_truncated) == (12, 6, 0)
    assert (plan.hyperparameters.n_epochs, plan.hyperparameters.batch_size) == (2, 4)
    assert plan.train_tokens > 12 and set(plan.file_sha256) == {"training_file"}
    assert row.hyperparameters["n_epochs"] == 2 and row.requirements["memory"]
    assert messages(engine, job.id)[-1] == "Files validated, moving job to queued state"


def test_a_bad_line_fails_the_job_naming_it(settings: Settings, engine: Engine, store: Store) -> None:
    data = chat_jsonl(12).replace(b'"answer 6"', b'"answer 6"\n')  # line 7 is cut in two
    file = create_stored_file(engine, store, "proj-a", data)
    job = create_job(engine, "proj-a", status="validating_files", training_file=file.id, method=METHOD)
    validate_job(settings, engine, store, job.id)
    row = reload(engine, job.id)
    assert row.status == "failed" and row.plan is None and row.error is not None
    assert row.error["param"] == "training_file" and row.error["message"].startswith("Line 7: invalid JSON")
    assert messages(engine, job.id)[-1] == f"Fine-tuning job failed: {row.error['message']}"


def test_a_job_cancelled_while_validating_stays_cancelled(settings: Settings, engine: Engine, store: Store) -> None:
    file = create_stored_file(engine, store, "proj-a", chat_jsonl(12))
    job = create_job(engine, "proj-a", status="cancelled", training_file=file.id, method=METHOD)
    validate_job(settings, engine, store, job.id)
    assert reload(engine, job.id).status == "cancelled"
