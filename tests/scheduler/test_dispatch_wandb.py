"""The spec a worker runs carries the job's W&B integration, with the project's own key when the
admin API set one (read from the database at dispatch, on each backend)."""

from __future__ import annotations

from job_factories import create_job
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.plan import JobPlan
from core.protocol import Hyperparameters, WandbSpec
from core.settings import Settings
from core.tables import Job, ProjectIntegration
from scheduler.dispatch import build_spec

PLAN = JobPlan(fine_tuned_model="ft:tiny-chat:proj-a::abcd1234", n_train_examples=10, total_steps=3,
               hyperparameters=Hyperparameters(n_epochs=1, batch_size=4, learning_rate_multiplier=1.0,
                                               learning_rate=2e-4))
WANDB = {"type": "wandb", "wandb": {"project": "search", "entity": "team", "tags": ["nightly"]}}


def _spec_wandb(settings: Settings, engine: Engine, job_id: str) -> WandbSpec | None:
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return build_spec(session, settings, job).wandb


def test_the_spec_carries_the_integration_and_the_projects_key(settings: Settings, engine: Engine) -> None:
    job = create_job(engine, "proj-a", status="queued", plan=PLAN, integrations=[WANDB])
    plain = create_job(engine, "proj-a", status="queued", plan=PLAN)
    assert _spec_wandb(settings, engine, plain.id) is None
    assert _spec_wandb(settings, engine, job.id) == WandbSpec(project="search", entity="team", tags=["nightly"])

    with Session(engine) as session:
        session.add(ProjectIntegration(project_id="proj-a", type="wandb", secret="wandb_v1_own", secret_hint="..."))
        session.commit()
    own = _spec_wandb(settings, engine, job.id)
    assert own is not None and own.api_key == "wandb_v1_own"
    other = create_job(engine, "proj-b", status="queued", plan=PLAN, integrations=[WANDB])
    theirs = _spec_wandb(settings, engine, other.id)
    assert theirs is not None and theirs.api_key is None  # another project's key is never used
