"""What a source account holds: its fine-tuning jobs, ``fine-tune`` files and fine-tuned models."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

#: Purposes whose files a job may train on.
TRAINING_PURPOSES = ("fine-tune",)


@dataclass(frozen=True)
class SourceFile:
    """A file of the source account."""

    id: str
    filename: str
    bytes: int
    purpose: str
    created_at: int


@dataclass(frozen=True)
class SourceJob:
    """One fine-tuning job of the source account, with what an import needs to redo it."""

    id: str
    model: str
    method: str
    hyperparameters: dict[str, Any]
    suffix: str | None
    metadata: dict[str, str]
    status: str
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    result_files: list[str]
    fine_tuned_model: str | None
    seed: int | None
    created_at: int

    @classmethod
    def from_job(cls, job: FineTuningJob) -> SourceJob:
        method, hyper = method_and_hyperparameters(job)
        return cls(
            id=job.id, model=job.model, method=method, hyperparameters=hyper, suffix=suffix_of(job),
            metadata=dict(job.metadata or {}), status=job.status, trained_tokens=job.trained_tokens,
            training_file=job.training_file, validation_file=job.validation_file,
            result_files=list(job.result_files), fine_tuned_model=job.fine_tuned_model,
            seed=job.seed, created_at=job.created_at,
        )


@dataclass(frozen=True)
class SourceModel:
    """A fine-tuned model of the source account."""

    id: str
    owned_by: str
    created: int


@dataclass
class Inventory:
    """Everything :func:`take_inventory` found, newest first as the source lists it."""

    jobs: list[SourceJob] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    models: list[SourceModel] = field(default_factory=list)

    def job(self, job_id: str) -> SourceJob:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(f"the source has no fine-tuning job {job_id}")

    def file(self, file_id: str) -> SourceFile | None:
        return next((f for f in self.files if f.id == file_id), None)

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [asdict(j) for j in self.jobs], "files": [asdict(f) for f in self.files],
                "models": [asdict(m) for m in self.models]}


def take_inventory(source: openai.OpenAI) -> Inventory:
    """List the source's jobs (all pages), ``fine-tune`` files and ``ft:`` models."""
    jobs = [SourceJob.from_job(job) for job in source.fine_tuning.jobs.list(limit=100)]
    files = [
        SourceFile(id=f.id, filename=f.filename, bytes=f.bytes, purpose=f.purpose, created_at=f.created_at)
        for purpose in TRAINING_PURPOSES
        for f in source.files.list(purpose=purpose)
    ]
    models = [SourceModel(id=m.id, owned_by=m.owned_by, created=m.created)
              for m in source.models.list() if m.id.startswith("ft:")]
    return Inventory(jobs=jobs, files=files, models=models)


def method_and_hyperparameters(job: FineTuningJob) -> tuple[str, dict[str, Any]]:
    """The job's method type and its hyperparameters as resolved by the source.

    ``method`` is read first; jobs made with the legacy ``hyperparameters`` field are
    ``supervised`` with those values.
    """
    method = job.method
    if method is not None:
        detail = getattr(method, method.type, None)
        hyper = getattr(detail, "hyperparameters", None) if detail is not None else None
        values = hyper.model_dump(exclude_none=True) if hyper is not None else {}
        return method.type, values
    return "supervised", job.hyperparameters.model_dump(exclude_none=True)


def suffix_of(job: FineTuningJob) -> str | None:
    """The suffix the user chose: ``user_provided_suffix`` when the source says it, else the
    suffix segment of ``ft:{base}:{org}:{suffix}:{id}``."""
    extra = (job.model_extra or {}).get("user_provided_suffix")
    if extra:
        return str(extra)
    parts = (job.fine_tuned_model or "").split(":")
    return parts[3] or None if len(parts) == 5 else None
