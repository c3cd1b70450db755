"""Job events in OpenAI's wording, and the one place that writes them."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Session

from core import ids
from core.tables import JobEvent

Level = Literal["info", "warn", "error"]


def add_event(
    session: Session,
    job_id: str,
    message: str,
    *,
    level: Level = "info",
    type: Literal["message", "metrics"] = "message",
    data: dict[str, Any] | None = None,
) -> JobEvent:
    """Append an event to a job's log (committed with the caller's session)."""
    event = JobEvent(id=ids.event_id(), job_id=job_id, message=message, level=level, type=type, data=data)
    session.add(event)
    return event


def metrics_message(step: int, total_steps: int, metrics: dict[str, float]) -> str:
    """``Step k/N: training loss=0.22, validation loss=0.37, full validation loss=0.40``
    (reinforcement: ``Step k/N: train reward=0.62, validation reward=0.55, ...``)."""
    if "train_reward_mean" in metrics:
        parts = [f"train reward={metrics['train_reward_mean']:.2f}"]
        for key, label in (("valid_reward_mean", "validation reward"), ("full_valid_reward_mean",
                                                                         "full validation reward")):
            if key in metrics:
                parts.append(f"{label}={metrics[key]:.2f}")
        return f"Step {step}/{total_steps}: " + ", ".join(parts)
    parts = [f"training loss={metrics['train_loss']:.2f}"] if "train_loss" in metrics else []
    if "valid_loss" in metrics:
        parts.append(f"validation loss={metrics['valid_loss']:.2f}")
    if "full_valid_loss" in metrics:
        parts.append(f"full validation loss={metrics['full_valid_loss']:.2f}")
    return f"Step {step}/{total_steps}: " + ", ".join(parts)


def validating_message(training_file: str, validation_file: str | None) -> str:
    if validation_file:
        return f"Validating training file: {training_file} and validation file: {validation_file}"
    return f"Validating training file: {training_file}"


CREATED = "Created fine-tuning job: {job_id}"
VALIDATED = "Files validated, moving job to queued state"
STARTED = "Fine-tuning job started"
CHECKPOINT = "Checkpoint created at step {step} with Snapshot ID: {model}"
CHECKPOINT_PRUNED = "Checkpoint at step {step} removed ({model}); the last {keep} are kept"
MODEL_CREATED = "New fine-tuned model created: {model}"
SUCCEEDED = "The job has successfully completed"
FAILED = "Fine-tuning job failed: {message}"
CANCELLED = "Fine-tuning job cancelled"
PAUSE_REQUESTED = "Pausing fine-tuning job"
PAUSED = "Fine-tuning job paused at step {step}"
RESUMED = "Fine-tuning job resumed; it will continue from step {step}"
REQUEUED = "Worker {worker} stopped responding; job requeued, it will resume from {where} (attempt {attempt})"
RESUMING = "Resuming from checkpoint at step {step}"
SERVING_REGISTERED = "Loaded {model} into the vLLM server of {base}"
SERVE_CHECK_PASSED = "Train-to-serve check passed: {model}, as served, gives the trained model's {n} sample answers"
SERVE_CHECK_NOT_RUN = "Train-to-serve check of {model} could not run: {error}"
