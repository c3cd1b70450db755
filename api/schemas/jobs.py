"""Fine-tuning job wire types, field for field as ``openai.types.fine_tuning``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.tables import Checkpoint, Job, JobEvent

#: characters W&B refuses in project and entity names
WANDB_FORBIDDEN = frozenset('/\\#?%:')
WandbTag = Annotated[str, Field(min_length=1, max_length=64)]


class WandbIntegration(BaseModel):
    """``integrations[].wandb``: the W&B project (and optionally entity, run name, tags) a job logs to."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1, max_length=128)
    entity: str | None = Field(None, min_length=1, max_length=128)
    name: str | None = Field(None, min_length=1, max_length=128, description="run name; default: the job id")
    tags: list[WandbTag] | None = Field(None, max_length=50)

    @field_validator("project", "entity")
    @classmethod
    def _w_and_b_name(cls, value: str | None) -> str | None:
        if value is not None and (WANDB_FORBIDDEN & set(value) or value != value.strip()):
            raise ValueError("may not contain / \\ # ? % : or surrounding spaces")
        return value


class Integration(BaseModel):
    """One entry of a job's ``integrations`` (OpenAI's ``FineTuningJobWandbIntegrationObject``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["wandb"]
    wandb: WandbIntegration


class JobCreate(BaseModel):
    """``POST /v1/fine_tuning/jobs``; ``openft`` holds our extension fields."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=512)
    training_file: str = Field(min_length=1, max_length=128)
    validation_file: str | None = Field(None, max_length=128)
    hyperparameters: dict[str, Any] | None = Field(None, description="deprecated: use method")
    method: dict[str, Any] | None = None
    seed: int | None = Field(None, ge=0, le=2147483647)
    suffix: str | None = Field(None, min_length=1, max_length=64)
    metadata: dict[str, str] | None = None
    integrations: list[Integration] | None = Field(None, max_length=5)
    openft: dict[str, Any] | None = Field(
        None,
        description="extensions: lora_rank, lora_alpha, lora_dropout, quantization (auto|4bit|none), "
        "micro_batch_size, checkpoint_every_steps, eval_every_steps, packing, priority",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > 16:
            raise ValueError("metadata can have at most 16 pairs")
        for key, item in value.items():
            if len(key) > 64:
                raise ValueError(f"metadata key {key[:20]!r}… is longer than 64 characters")
            if len(item) > 512:
                raise ValueError(f"metadata value for {key!r} is longer than 512 characters")
        return value

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return valid_suffix(value)

    @field_validator("integrations")
    @classmethod
    def _one_wandb(cls, value: list[Integration] | None) -> list[Integration] | None:
        if value is not None and len(value) > 1:
            raise ValueError("a job logs to at most one W&B run: give one wandb integration")
        return value


def valid_suffix(value: str | None) -> str | None:
    """A model-id suffix (jobs and merges): no ``:``, which separates the id's parts, nor control characters."""
    if value is not None and (":" in value or any(ord(c) < 32 for c in value)):
        raise ValueError("suffix may not contain ':' or control characters")
    return value


def _same_named(row: Any, *names: str) -> dict[str, Any]:
    """``{name: row.name}`` for the fields an object carries as its row stores them."""
    return {name: getattr(row, name) for name in names}


def job_object(job: Job) -> dict[str, Any]:
    """The ``fine_tuning.job`` object for a row."""
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        **_same_named(job, "created_at", "error", "fine_tuned_model", "finished_at", "hyperparameters", "model"),
        "organization_id": job.project_id,
        "result_files": list(job.result_files),
        **_same_named(job, "seed", "status", "trained_tokens", "training_file", "validation_file",
                      "estimated_finish", "integrations"),
        "metadata": job.metadata_,
        "method": job.method,
        "user_provided_suffix": job.suffix,
    }


def event_object(event: JobEvent) -> dict[str, Any]:
    """The ``fine_tuning.job.event`` object for a row."""
    return {"id": event.id, "object": "fine_tuning.job.event",
            **_same_named(event, "created_at", "level", "message", "data", "type")}


def checkpoint_object(ckpt: Checkpoint) -> dict[str, Any]:
    """The ``fine_tuning.job.checkpoint`` object for a row."""
    return {"id": ckpt.id, "object": "fine_tuning.job.checkpoint",
            **_same_named(ckpt, "created_at", "fine_tuned_model_checkpoint"), "fine_tuning_job_id": ckpt.job_id,
            **_same_named(ckpt, "metrics", "step_number")}


# --- responses (typed for /openapi.json; the handlers return the dicts built above) ----------
class JobError(BaseModel):
    """Why a job failed: ``code``, a message naming the line or value, and ``param``."""

    code: str
    message: str
    param: str | None = None


class JobHyperparameters(BaseModel):
    """The resolved hyperparameters (``"auto"`` until the job is queued); DPO adds ``beta``."""

    model_config = ConfigDict(extra="allow")

    batch_size: Literal["auto"] | int | None = None
    learning_rate_multiplier: Literal["auto"] | float | None = None
    n_epochs: Literal["auto"] | int | None = None


class JobMethod(BaseModel):
    """``method``: the training method and its hyperparameters."""

    model_config = ConfigDict(extra="allow")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: dict[str, Any] | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class FineTuningJob(BaseModel):
    """``fine_tuning.job`` (``openai.types.fine_tuning.FineTuningJob``; ``paused`` is openft's)."""

    id: str
    object: Literal["fine_tuning.job"]
    created_at: int
    error: JobError | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: JobHyperparameters
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: Literal["validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"]
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[Integration] | None = None
    metadata: dict[str, str] | None = None
    method: JobMethod | None = None
    user_provided_suffix: str | None = None


class FineTuningJobEvent(BaseModel):
    """``fine_tuning.job.event``; ``data`` holds the metrics of a ``metrics`` event."""

    id: str
    object: Literal["fine_tuning.job.event"]
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    data: dict[str, Any] | None = None
    type: Literal["message", "metrics"] | None = None


class CheckpointMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class FineTuningJobCheckpoint(BaseModel):
    """``fine_tuning.job.checkpoint``: a saved step, servable as ``fine_tuned_model_checkpoint``."""

    id: str
    object: Literal["fine_tuning.job.checkpoint"]
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: CheckpointMetrics
    step_number: int
