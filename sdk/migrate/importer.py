"""Recreate a source account's fine-tuning jobs here: files first, then the job.

:func:`plan_import` decides, without writing anything, where each file's bytes come from
(downloaded from the source, a local path the user mapped, or a copy already imported) and the
job to create; ``--dry-run`` prints that plan. :func:`run_import` carries it out job by job.

Idempotence: an imported job carries the source job's id in ``metadata[SOURCE_JOB_KEY]``, so a
job already here is skipped; a file already imported (same name, byte count and SHA-256) is
reused, so a run that stopped between a file and its job does not upload the file twice.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import openai

from sdk.migrate.inventory import Inventory, SourceFile, SourceJob
from sdk.migrate.models import map_base_model

SOURCE_JOB_KEY = "openft_source_job"
#: metadata allows 16 pairs; ours takes one
MAX_USER_METADATA = 15

FileAction = Literal["download", "local"]
Progress = Callable[[str], None]


class ImportError_(RuntimeError):
    """An import step that cannot go on; the message says what is missing."""


@dataclass
class FileStep:
    """Where one training or validation file comes from."""

    source_id: str
    role: Literal["training_file", "validation_file"]
    filename: str
    bytes: int | None
    action: FileAction
    local_path: str | None = None
    maybe_here: list[str] = field(default_factory=list)  # files here of the same name and size


@dataclass
class JobStep:
    """One source job and what importing it will do."""

    source_job: str
    source_model: str
    model: str
    method: dict[str, Any]
    suffix: str | None
    metadata: dict[str, str]
    seed: int | None
    files: list[FileStep]
    skip_reason: str | None = None
    existing_job: str | None = None


@dataclass
class ImportPlan:
    """What :func:`run_import` will do, job by job."""

    steps: list[JobStep] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [asdict(s) for s in self.steps]}


@dataclass
class ImportReport:
    """What an import did: created jobs and files, skipped ones, failures, and what is left."""

    created_jobs: dict[str, str] = field(default_factory=dict)  # source job -> job here
    created_files: dict[str, str] = field(default_factory=dict)  # source file -> file here
    skipped: dict[str, str] = field(default_factory=dict)  # source job -> reason
    failed: dict[str, str] = field(default_factory=dict)  # source job -> error
    left: list[str] = field(default_factory=list)  # source jobs not attempted after a failure

    @property
    def ok(self) -> bool:
        return not self.failed and not self.left

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def plan_import(
    source: openai.OpenAI,
    dest: openai.OpenAI,
    inventory: Inventory,
    *,
    job_ids: Iterable[str] | None = None,
    model_map: Mapping[str, str] | None = None,
    file_map: Mapping[str, str | Path] | None = None,
) -> ImportPlan:
    """Plan the import of ``job_ids`` (default: every job that succeeded at the source)."""
    wanted = list(job_ids) if job_ids is not None else [j.id for j in inventory.jobs if j.status == "succeeded"]
    available = [m.id for m in dest.models.list()]
    here = _files_here(dest)
    plan = ImportPlan()
    for job_id in wanted:
        job = inventory.job(job_id)
        step = _plan_job(job, inventory, dest, model_map or {}, file_map or {}, available, here)
        plan.steps.append(step)
    return plan


def run_import(source: openai.OpenAI, dest: openai.OpenAI, plan: ImportPlan, *,
               progress: Progress | None = None) -> ImportReport:
    """Carry out ``plan``.

    Every file is fetched first (from the source or the mapped local path); a job with a file
    that cannot be had is not imported, and the report names each missing file. An API error
    while creating stops the run: the report names the job and what is left, and everything
    created before it stays consistent (a re-run picks up where it stopped).
    """
    say = progress or (lambda _m: None)
    report = ImportReport()
    with tempfile.TemporaryDirectory(prefix="openft-import-") as tmp:
        fetched = _fetch_all(source, plan, Path(tmp), report, say)
        todo = [s for s in plan.steps if not s.skip_reason and s.source_job not in report.failed]
        for step in plan.steps:
            if step.skip_reason:
                report.skipped[step.source_job] = step.skip_reason
                say(f"{step.source_job}: skipped ({step.skip_reason})")
        for index, step in enumerate(todo):
            try:
                job_here = _import_job(dest, step, fetched, report, say)
            except (openai.APIError, OSError) as exc:
                report.failed[step.source_job] = _describe(exc)
                report.left = [s.source_job for s in todo[index + 1:]]
                say(f"{step.source_job}: failed: {report.failed[step.source_job]}")
                break
            report.created_jobs[step.source_job] = job_here
            say(f"{step.source_job}: created {job_here}")
    return report


# --- planning --------------------------------------------------------------------------------
def _plan_job(job: SourceJob, inventory: Inventory, dest: openai.OpenAI, model_map: Mapping[str, str],
              file_map: Mapping[str, str | Path], available: list[str],
              here: dict[tuple[str, int], list[str]]) -> JobStep:
    existing = dest.fine_tuning.jobs.list(metadata={SOURCE_JOB_KEY: job.id}, limit=1).data
    metadata = dict(list(job.metadata.items())[:MAX_USER_METADATA])
    metadata[SOURCE_JOB_KEY] = job.id
    step = JobStep(
        source_job=job.id, source_model=job.model, model=map_base_model(job.model, model_map, available),
        method={"type": job.method, job.method: {"hyperparameters": dict(job.hyperparameters)}},
        suffix=job.suffix, metadata=metadata, seed=job.seed, files=[],
    )
    if existing:
        step.existing_job = existing[0].id
        step.skip_reason = f"already imported as {existing[0].id}"
        return step
    for role, file_id in (("training_file", job.training_file), ("validation_file", job.validation_file)):
        if file_id:
            step.files.append(_plan_file(file_id, role, inventory.file(file_id), file_map, here))  # type: ignore[arg-type]
    return step


def _plan_file(file_id: str, role: Literal["training_file", "validation_file"], meta: SourceFile | None,
               file_map: Mapping[str, str | Path], here: dict[tuple[str, int], list[str]]) -> FileStep:
    filename = meta.filename if meta else f"{file_id}.jsonl"
    size = meta.bytes if meta else None
    step = FileStep(source_id=file_id, role=role, filename=filename, bytes=size, action="download")
    if file_id in file_map:
        step.action, step.local_path = "local", str(file_map[file_id])
    if size is not None:
        step.maybe_here = list(here.get((filename, size), []))  # confirmed by hash when imported
    return step


def _files_here(dest: openai.OpenAI) -> dict[tuple[str, int], list[str]]:
    found: dict[tuple[str, int], list[str]] = {}
    for f in dest.files.list(purpose="fine-tune"):
        found.setdefault((f.filename, f.bytes), []).append(f.id)
    return found


# --- carrying out ----------------------------------------------------------------------------
def _fetch_all(source: openai.OpenAI, plan: ImportPlan, tmp: Path, report: ImportReport,
               say: Progress) -> dict[str, Path]:
    """Every file the plan needs, on local disk, checked by byte count; failures per job."""
    fetched: dict[str, Path] = {}
    for step in plan.steps:
        if step.skip_reason:
            continue
        problems = []
        for fstep in step.files:
            if fstep.source_id in fetched:
                continue
            try:
                fetched[fstep.source_id] = _fetch(source, fstep, tmp)
            except ImportError_ as exc:
                problems.append(str(exc))
        if problems:
            report.failed[step.source_job] = "; ".join(problems)
            say(f"{step.source_job}: not imported: {report.failed[step.source_job]}")
    return fetched


def _fetch(source: openai.OpenAI, step: FileStep, tmp: Path) -> Path:
    target = tmp / step.source_id
    if step.local_path is not None:
        path = Path(step.local_path)
        if not path.is_file():
            raise ImportError_(f"{step.role} {step.source_id} ({step.filename}) is mapped to {path}, "
                               "which does not exist")
        target.write_bytes(path.read_bytes())
    else:
        try:
            source.files.content(step.source_id).write_to_file(target)
        except openai.APIStatusError as exc:
            raise ImportError_(
                f"the source refused to download {step.role} {step.source_id} ({step.filename}): "
                f"{exc.status_code} {_describe(exc)}; map it to a local copy with "
                f"--file-map {step.source_id}=PATH"
            ) from exc
    size = target.stat().st_size
    if step.bytes is not None and size != step.bytes:
        where = f" in {step.local_path}" if step.local_path else ""
        raise ImportError_(f"{step.role} {step.source_id} ({step.filename}): the source says "
                           f"{step.bytes} bytes, found {size}{where}")
    return target


def _import_job(dest: openai.OpenAI, step: JobStep, fetched: Mapping[str, Path], report: ImportReport,
                say: Progress) -> str:
    ids = {f.role: _import_file(dest, f, fetched[f.source_id], report, say) for f in step.files}
    job = dest.fine_tuning.jobs.create(
        model=step.model, training_file=ids["training_file"], validation_file=ids.get("validation_file"),
        method=step.method,  # type: ignore[arg-type]
        suffix=step.suffix, metadata=step.metadata, seed=step.seed,
    )
    return job.id


def _import_file(dest: openai.OpenAI, step: FileStep, path: Path, report: ImportReport, say: Progress) -> str:
    if step.source_id in report.created_files:
        return report.created_files[step.source_id]
    digest = _sha256(path)
    for candidate in step.maybe_here:
        if hashlib.sha256(dest.files.content(candidate).read()).hexdigest() == digest:
            say(f"{step.source_id}: already here as {candidate}")
            report.created_files[step.source_id] = candidate
            return candidate
    with path.open("rb") as handle:
        created = dest.files.create(file=(step.filename, handle), purpose="fine-tune")
    say(f"{step.source_id}: copied as {created.id} ({path.stat().st_size} bytes)")
    report.created_files[step.source_id] = created.id
    return created.id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError) and isinstance(exc.body, dict):
        return str(exc.body.get("message") or exc.message)
    return str(exc)
