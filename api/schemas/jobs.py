"""Fine-tuning job wire types, field for field as ``openai.types.fine_tuning``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.tables import Checkpoint, Job, JobEvent


class WandbIntegration(BaseModel):
    project: str
    entity: str | None = None
    name: str | None = None
    tags: list[str] | None = None


class Integration(BaseModel):
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


def valid_suffix(value: str | None) -> str | None:
    """A model-id suffix (jobs and merges): no ``:``, which separates the id's parts, nor control characters."""
    if value is not None and (":" in value or any(ord(c) < 32 for c in value)):
        raise ValueError("suffix may not contain ':' or control characters")
    return value


def job_object(job: Job) -> dict[str, Any]:
    """The ``fine_tuning.job`` object for a row."""
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": job.created_at,
        "error": job.error,
        "fine_tuned_model": job.fine_tuned_model,
        "finished_at": job.finished_at,
        "hyperparameters": job.hyperparameters,
        "model": job.model,
        "organization_id": job.project_id,
        "result_files": list(job.result_files),
        "seed": job.seed,
        "status": job.status,
        "trained_tokens": job.trained_tokens,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "estimated_finish": job.estimated_finish,
        "integrations": job.integrations,
        "metadata": job.metadata_,
        "method": job.method,
        "user_provided_suffix": job.suffix,
    }


def event_object(event: JobEvent) -> dict[str, Any]:
    """The ``fine_tuning.job.event`` object for a row."""
    return {
        "id": event.id,
        "object": "fine_tuning.job.event",
        "created_at": event.created_at,
        "level": event.level,
        "message": event.message,
        "data": event.data,
        "type": event.type,
    }


def checkpoint_object(ckpt: Checkpoint) -> dict[str, Any]:
    """The ``fine_tuning.job.checkpoint`` object for a row."""
    return {
        "id": ckpt.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": ckpt.created_at,
        "fine_tuned_model_checkpoint": ckpt.fine_tuned_model_checkpoint,
        "fine_tuning_job_id": ckpt.job_id,
        "metrics": ckpt.metrics,
        "step_number": ckpt.step_number,
    }
