"""Database tables: the source of truth for every object the API shows.

Timestamps are integer unix seconds, as on the wire. JSON columns hold the nested OpenAI
structures (method, hyperparameters, error, metadata) exactly as they are returned.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from core.plan import JobPlan, PlanColumn


def now() -> int:
    """Current unix time in whole seconds."""
    return int(time.time())


class Project(SQLModel, table=True):
    """A tenant. The ``max_*`` columns are openft's fine-tuning quotas (None: unlimited)."""

    __tablename__ = "projects"

    id: str = Field(primary_key=True, max_length=64)
    created_at: int = Field(default_factory=now)
    name: str | None = Field(default=None, max_length=256)
    archived_at: int | None = None
    max_running_jobs: int | None = None
    max_queued_jobs: int | None = None
    max_gpu_hours_per_month: float | None = None


class ApiKey(SQLModel, table=True):
    """A key, stored as its sha256. ``id`` is the public handle (audit logs, admin routes)."""

    __tablename__ = "api_keys"

    key_hash: str = Field(primary_key=True, max_length=64)
    id: str | None = Field(default=None, unique=True, index=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    admin: bool = False
    created_at: int = Field(default_factory=now)
    name: str | None = Field(default=None, max_length=256)
    redacted_value: str | None = Field(default=None, max_length=64)
    service_account_id: str | None = Field(default=None, index=True, max_length=64)
    last_used_at: int | None = None
    expires_at: int | None = None


class File(SQLModel, table=True):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_project_created", "project_id", "created_at", "seq"),)

    id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default_factory=time.time_ns, sa_column=Column(BigInteger, nullable=False))
    project_id: str = Field(foreign_key="projects.id", max_length=64)
    purpose: str = Field(max_length=32)
    filename: str = Field(max_length=512)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: int = Field(default_factory=now)
    expires_at: int | None = None
    status: str = Field(default="uploaded", max_length=16)
    status_details: str | None = None
    sha256: str | None = Field(default=None, max_length=64)
    deleted_at: int | None = Field(
        default=None, description="deleted by its owner; the row and bytes stay while a job uses them"
    )


class Upload(SQLModel, table=True):
    __tablename__ = "uploads"

    id: str = Field(primary_key=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    filename: str = Field(max_length=512)
    purpose: str = Field(max_length=32)
    mime_type: str = Field(max_length=255)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: int = Field(default_factory=now)
    expires_at: int
    status: str = Field(default="pending", max_length=16)
    file_id: str | None = Field(default=None, max_length=64)
    file_expires_seconds: int | None = Field(default=None, description="expires_after of the File it makes")


class UploadPart(SQLModel, table=True):
    __tablename__ = "upload_parts"

    id: str = Field(primary_key=True, max_length=64)
    upload_id: str = Field(foreign_key="uploads.id", index=True, max_length=64)
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: int = Field(default_factory=now)


class Job(SQLModel, table=True):
    """A fine-tuning job. Lease columns (worker_id, lease_expires_at) belong to the scheduler."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_project_created", "project_id", "created_at", "seq"),)

    id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default_factory=time.time_ns, sa_column=Column(BigInteger, nullable=False))
    project_id: str = Field(foreign_key="projects.id", max_length=64)
    model: str = Field(max_length=512)
    base_model: str = Field(max_length=512, description="catalog name at the root of model's lineage")
    parent_model: str | None = Field(default=None, max_length=512, description="ft: model trained on")
    training_file: str = Field(max_length=64)
    validation_file: str | None = Field(default=None, max_length=64)
    status: str = Field(default="validating_files", max_length=32, index=True)
    method: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    extensions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seed: int
    suffix: str | None = Field(default=None, max_length=64)
    metadata_: dict[str, str] | None = Field(default=None, sa_column=Column("metadata", JSON))
    integrations: list[Any] | None = Field(default=None, sa_column=Column(JSON))
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    fine_tuned_model: str | None = Field(default=None, max_length=512)
    result_files: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    trained_tokens: int | None = Field(default=None, sa_column=Column(BigInteger))
    estimated_finish: int | None = None
    created_at: int = Field(default_factory=now)
    finished_at: int | None = None
    # scheduling
    priority: int = 0
    plan: JobPlan | None = Field(default=None, sa_column=Column(PlanColumn), description="set once validated")
    requirements: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    worker_losses: int = Field(default=0, description="times a worker stopped heartbeating with the job")
    worker_id: str | None = Field(default=None, max_length=128)
    placement: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON), description=(
        "the latest dispatch: devices (indices on worker_id), kind, parallelism, memory (bytes per device)"))
    dispatched_at: float | None = None
    lease_expires_at: float | None = None
    requested: str | None = Field(default=None, max_length=16, description="pending cancel/pause request")
    resume_step: int | None = Field(default=None, description="recovery checkpoint to resume from")
    queued_at: float | None = None
    started_at: float | None = None


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_events"

    # SQLite only autoincrements an INTEGER primary key, hence the variant.
    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(unique=True, max_length=64)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=64)
    created_at: int = Field(default_factory=now)
    level: str = Field(default="info", max_length=8)
    message: str
    type: str = Field(default="message", max_length=16)
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Checkpoint(SQLModel, table=True):
    __tablename__ = "checkpoints"

    id: str = Field(primary_key=True, max_length=64)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    step_number: int
    fine_tuned_model_checkpoint: str = Field(max_length=512, index=True)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: int = Field(default_factory=now)


class Model(SQLModel, table=True):
    """A servable fine-tuned model or checkpoint; artifacts under ``models/{artifact_key}/``."""

    __tablename__ = "models"

    id: str = Field(primary_key=True, max_length=512)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    job_id: str | None = Field(None, foreign_key="jobs.id", max_length=64,
                               description="the job that trained it; None for a merge")
    base_model: str = Field(max_length=512)
    artifact_key: str = Field(max_length=512, description="store prefix holding the adapter")
    kind: str = Field(default="fine-tune", max_length=16, description="fine-tune | checkpoint | merge")
    created_at: int = Field(default_factory=now)


class ServeCheck(SQLModel, table=True):
    """The train-to-serve check of one succeeded job, queued by the scheduler, run by an API.

    ``status``: ``pending`` -> ``running`` (claimed by one API process at ``claimed_at``) ->
    ``passed`` | ``mismatch`` | ``skipped`` (the model was deleted first) | ``error`` (it could
    not run, ``attempts`` times). ``samples`` are the worker's greedy answers
    (``core.protocol.Report.samples``).
    """

    __tablename__ = "serve_checks"

    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=64)
    model_id: str = Field(max_length=512)
    status: str = Field(default="pending", max_length=16, index=True)
    samples: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    claimed_at: float | None = None
    created_at: int = Field(default_factory=now)
    finished_at: int | None = None


class Merge(SQLModel, table=True):
    """``POST /v1/models/merges``: adapters combined into a new ``ft:`` model by an API process.

    ``queued`` -> ``running`` (claimed with ``claimed_at``) -> ``succeeded`` (the ``models`` row of
    ``fine_tuned_model`` exists) or ``failed`` (``error``).
    """

    __tablename__ = "merges"
    __table_args__ = (Index("ix_merges_project_created", "project_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", max_length=64)
    status: str = Field(default="queued", max_length=16, index=True)
    base_model: str = Field(max_length=512)
    models: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    method: str = Field(max_length=16)
    weights: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    density: float | None = None
    suffix: str | None = Field(None, max_length=64)
    fine_tuned_model: str = Field(max_length=512)
    error: dict[str, Any] | None = Field(None, sa_column=Column(JSON, nullable=True))
    attempts: int = 0
    claimed_at: float | None = None
    created_at: int = Field(default_factory=now)
    finished_at: int | None = None


class Worker(SQLModel, table=True):
    """Workers as last seen by the scheduler (the queue bus holds the live heartbeat)."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=128)
    devices: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    last_heartbeat: float = 0.0
    created_at: int = Field(default_factory=now)


class ServiceAccount(SQLModel, table=True):
    """A non-human member of a project; owns the project keys created for it."""

    __tablename__ = "service_accounts"

    id: str = Field(primary_key=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    name: str = Field(max_length=256)
    role: str = Field(default="member", max_length=16)
    created_at: int = Field(default_factory=now)


class AuditLog(SQLModel, table=True):
    """One recorded action: who (the actor's key id, never a secret), what, on which project."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_effective", "effective_at", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(unique=True, max_length=64)
    effective_at: int = Field(default_factory=now)
    type: str = Field(max_length=64, index=True)
    project_id: str | None = Field(default=None, index=True, max_length=64)
    actor_key_id: str | None = Field(default=None, index=True, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RateLimit(SQLModel, table=True):
    """Per-minute request/token limits of one project on one model (None: unlimited)."""

    __tablename__ = "rate_limits"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=512)
    max_requests_per_1_minute: int | None = None
    max_tokens_per_1_minute: int | None = None


class RateWindow(SQLModel, table=True):
    """Counters of one fixed one-minute window, shared by every API process through the database."""

    __tablename__ = "rate_windows"

    project_id: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=512)
    window_start: int = Field(primary_key=True)
    requests: int = 0
    tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class UsageRecord(SQLModel, table=True):
    """What one chat/completions request or one fine-tuning job used (``kind`` says which)."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_created", "created_at", "project_id"),)

    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    kind: str = Field(max_length=16)
    project_id: str = Field(max_length=64)
    model: str = Field(max_length=512)
    api_key_id: str | None = Field(default=None, max_length=64)
    job_id: str | None = Field(default=None, unique=True, max_length=64)
    created_at: int = Field(default_factory=now)
    input_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    output_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    requests: int = 0
    trained_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    gpu_seconds: float = 0.0


class Eval(SQLModel, table=True):
    """An eval: a data source config and testing criteria (graders), stored as OpenAI returns them."""

    __tablename__ = "evals"
    __table_args__ = (Index("ix_evals_project_created", "project_id", "created_at", "seq"),)

    id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default_factory=time.time_ns, sa_column=Column(BigInteger, nullable=False))
    project_id: str = Field(foreign_key="projects.id", max_length=64)
    name: str = Field(default="", max_length=512)
    data_source_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    testing_criteria: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    metadata_: dict[str, str] | None = Field(default=None, sa_column=Column("metadata", JSON))
    created_at: int = Field(default_factory=now)
    updated_at: int = Field(default_factory=now)
    updated_seq: int = Field(default_factory=time.time_ns, sa_column=Column(BigInteger, nullable=False))


class EvalRun(SQLModel, table=True):
    """One run of an eval over a data source; executed in the background by an API process.

    ``status``: queued -> in_progress -> completed | failed | canceled (api.services.evals_status).
    An API process claims a run by stamping ``claimed_at`` (and keeps stamping it while it runs);
    a claim older than ``Settings.eval_stale_claim_seconds`` belongs to a dead process and is
    taken over, resuming after the last output item written. ``job_id``/``model_step`` tie a run
    started by a fine-tuning job's ``openft.eval_id`` to the job and checkpoint it scores.
    """

    __tablename__ = "eval_runs"
    __table_args__ = (Index("ix_eval_runs_eval_created", "eval_id", "created_at", "seq"),)

    id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(default_factory=time.time_ns, sa_column=Column(BigInteger, nullable=False))
    eval_id: str = Field(foreign_key="evals.id", max_length=64)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=64)
    name: str = Field(default="", max_length=512)
    model: str = Field(default="", max_length=512)
    status: str = Field(default="queued", max_length=16, index=True)
    data_source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metadata_: dict[str, str] | None = Field(default=None, sa_column=Column("metadata", JSON))
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    result_counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    per_testing_criteria_results: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False))
    per_model_usage: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    total_items: int = 0
    attempts: int = 0
    claimed_at: float | None = None
    job_id: str | None = Field(default=None, max_length=64, index=True)
    model_step: int | None = None
    created_at: int = Field(default_factory=now)
    finished_at: int | None = None


class EvalOutputItem(SQLModel, table=True):
    """The graded result of one data source item of a run (``eval.run.output_item``)."""

    __tablename__ = "eval_output_items"
    __table_args__ = (Index("ix_eval_output_items_run_item", "run_id", "datasource_item_id", unique=True),)

    id: str = Field(primary_key=True, max_length=64)
    run_id: str = Field(foreign_key="eval_runs.id", max_length=64)
    eval_id: str = Field(max_length=64)
    datasource_item_id: int
    datasource_item: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    results: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sample: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pass", max_length=8)
    created_at: int = Field(default_factory=now)


class EvalJobHook(SQLModel, table=True):
    """A fine-tuning job's ``openft.eval_id``: once the job succeeds, the eval runs on its kept
    checkpoints and its final model (``status`` pending -> launched | dropped)."""

    __tablename__ = "eval_job_hooks"

    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=64)
    eval_id: str = Field(foreign_key="evals.id", max_length=64)
    data_source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)
    created_at: int = Field(default_factory=now)


class WebhookEndpoint(SQLModel, table=True):
    """``/v1/webhook_endpoints``: a project's URL that receives signed event deliveries.

    ``secret`` is the ``whsec_...`` signing secret (shown to the caller only at creation and
    rotation); ``old_secret`` keeps signing too until ``old_secret_expires_at`` after a rotation
    with ``keep_old_secret_active_for_24_hours``.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_project_created", "project_id", "created_at", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(unique=True, max_length=64)
    project_id: str = Field(foreign_key="projects.id", max_length=64)
    name: str = Field(max_length=256)
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=128)
    old_secret: str | None = Field(default=None, max_length=128)
    old_secret_expires_at: int | None = None
    created_at: int = Field(default_factory=now)
    updated_at: int = Field(default_factory=now)


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint: the durable outbox row, written with the status change.

    ``id`` is the ``webhook-id`` header of every attempt (receivers deduplicate on it).
    ``status``: ``pending`` (due at ``next_attempt_at``; claimed by one API process with
    ``claimed_at``) -> ``delivered`` | ``failed`` (retries exhausted). ``attempts`` lists each
    try: ``{at, status_code, error}``.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "seq"))

    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(unique=True, max_length=64)
    endpoint_id: str = Field(max_length=64)
    project_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_attempt_at: float = Field(default_factory=time.time)
    claimed_at: float | None = None
    created_at: int = Field(default_factory=now)
    delivered_at: int | None = None


class CheckpointPermission(SQLModel, table=True):
    """An ``ft:`` model or checkpoint shared with another project (``project_id``, the grantee)."""

    __tablename__ = "checkpoint_permissions"
    __table_args__ = (Index("ix_checkpoint_permissions_model_project", "model_id", "project_id", unique=True),)

    seq: int | None = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(unique=True, max_length=64)
    model_id: str = Field(max_length=512)
    project_id: str = Field(index=True, max_length=64)
    created_at: int = Field(default_factory=now)


class ProjectIntegration(SQLModel, table=True):
    """A project's credentials for an outside service its jobs log to (``type``: ``wandb``).

    ``secret`` (the W&B API key) is never shown again after it is set: the admin API answers with
    ``secret_hint``, and the scheduler copies it into the job spec the worker reads.
    """

    __tablename__ = "project_integrations"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=64)
    type: str = Field(primary_key=True, max_length=32)
    secret: str = Field(max_length=512)
    secret_hint: str = Field(max_length=32)
    created_at: int = Field(default_factory=now)
    updated_at: int = Field(default_factory=now)
