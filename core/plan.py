"""What a job will run: one typed plan, resolved once when its files are validated.

``scheduler.stages`` writes the :class:`JobPlan` to the job row (``Job.plan``) when the job
moves to ``queued``: the ``ft:`` id it will publish, the resolved hyperparameters (no
``"auto"`` left) and the counts that steps and progress derive from. Dispatch builds each
attempt's :class:`core.protocol.JobSpec` from it, the worker and its training child read that
spec, and an out-of-memory retry derives its spec from it (:meth:`JobSpec.retry_with`); report
intake reads the model id and step count from it. Nothing else stores these figures.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from core.protocol import Hyperparameters


class JobPlan(BaseModel):
    """The resolved plan of a validated job (immutable once written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fine_tuned_model: str = Field(description="the ft: id the job publishes; checkpoints add :ckpt-step-N")
    hyperparameters: Hyperparameters
    n_train_examples: int = Field(ge=1)
    n_valid_examples: int | None = None
    train_tokens: int = Field(0, ge=0, description="tokens in the training file (chat template applied)")
    n_truncated: int = Field(0, ge=0, description="training examples longer than the base model's max length")
    total_steps: int = Field(ge=1)
    file_sha256: dict[str, str] = Field(
        default_factory=dict, description="sha256 of the validated bytes by param (training_file, validation_file)")
    data_keys: dict[str, str] = Field(
        default_factory=dict, description="by param: a deduplicated or redacted copy to train on")
    data_report_file: str | None = Field(None, description="the fine-tune-results file of the data quality report")


class PlanColumn(TypeDecorator[JobPlan]):
    """A JSON column that reads and writes a :class:`JobPlan`."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return (value if isinstance(value, JobPlan) else JobPlan.model_validate(value)).model_dump(mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> JobPlan | None:
        return None if value is None else JobPlan.model_validate(value)
