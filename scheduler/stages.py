"""The ``validating_files`` stage: stream the files once, resolve hyperparameters, queue.

Runs in a worker thread of the scheduler (tokenizing is blocking work). Everything that can be
wrong with the data is found here, before a GPU is touched.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Engine

from core import ids, protocol
from core.catalog import get_catalog
from core.data_quality import QualityPass
from core.db import session_scope
from core.memory import estimate_for_job
from core.plan import JobPlan
from core.settings import Settings
from core.store import ObjectNotFound, Store
from core.tables import Job
from core.tokens import TokenCounter
from core.validation import MIN_EXAMPLES, DataValidationError, ValidationResult, validate_stream
from scheduler import data_policy, events
from scheduler.hyperparams import job_hyperparameters, resolve, total_steps
from scheduler.jobs import change_status, fail_job, load_job
from scheduler.reinforcement import line_checker

log = logging.getLogger(__name__)


def validate_job(settings: Settings, engine: Engine, store: Store, job_id: str) -> None:
    """Validate a job's files and move it to ``queued`` (or ``failed`` with a precise error)."""
    with session_scope(engine) as session:
        job = load_job(session, job_id, lock=False)
        if job is None or job.status != "validating_files":
            return
        kind = job.method.get("type", "supervised")
        check_line = line_checker(job.method["reinforcement"]["grader"]) if kind == "reinforcement" else None
        training_file, validation_file, base_name = job.training_file, job.validation_file, job.base_model
        options = protocol.Extensions.model_validate(job.extensions or {})

    base = get_catalog(settings).get(base_name)
    failure: DataValidationError | None = None
    results: dict[str, ValidationResult] = {}
    quality = QualityPass()
    report: dict[str, Any] | None = None
    data_plan = data_policy.DataPlan()
    try:
        if base is None:
            raise DataValidationError(
                "model_not_available", None, f"Base model {base_name!r} is no longer in the catalog", None
            )
        counter = TokenCounter.for_model(base_name, settings)
        for param, file_id in (("training_file", training_file), ("validation_file", validation_file)):
            if file_id is None:
                continue
            try:
                chunks = store.iter_bytes(protocol.file_key(file_id))
            except ObjectNotFound:  # deleted in the moment between the job's creation and its pin
                raise DataValidationError("file_not_found", param, f"File {file_id} was deleted before "
                                          "the job could read it; upload it again and create a new job") from None
            results[param] = validate_stream(
                chunks, kind=kind, param=param, counter=counter, max_length=base.max_length,
                model_name=base_name, check_line=check_line, quality=quality,
            )
        report = quality.report()
        for param, result in results.items():
            report["files"][param].update(n_truncated=result.n_truncated, token_histogram=result.token_histogram)
        data_policy.check(report, options)
        files = {p: f for p, f in (("training_file", training_file), ("validation_file", validation_file)) if f}
        data_plan = data_policy.plan(store, job_id, files, quality, report, options)
        kept = results["training_file"].n_examples - data_plan.dropped.get("training_file", 0)
        if kept < MIN_EXAMPLES["training_file"]:
            raise DataValidationError(
                "invalid_n_examples", "training_file",
                f"Training file has {kept} example(s) once duplicates are dropped (openft dedupe is "
                f"'{options.dedupe}'), but must have at least {MIN_EXAMPLES['training_file']} examples")
    except DataValidationError as exc:
        failure = exc

    with session_scope(engine) as session:
        job = load_job(session, job_id)
        if job is None or job.status != "validating_files":
            return  # cancelled meanwhile
        report_file = None
        if report is not None:
            report_file = data_policy.store_report(store, job, report)
            session.add(report_file)
            for level, message in data_policy.summary(report, data_plan):
                events.add_event(session, job.id, message, level=level)
        if failure is not None:
            fail_job(session, job, failure.code, failure.message, failure.param)
            return
        assert base is not None
        train = results["training_file"]
        valid = results.get("validation_file")
        n_train = train.n_examples - data_plan.dropped.get("training_file", 0)
        n_valid = valid.n_examples - data_plan.dropped.get("validation_file", 0) if valid else None
        method, hp = resolve(job.method, n_train, base, n_valid)
        job.method = method
        job.hyperparameters = job_hyperparameters(method)
        job.plan = make_plan(job, results, hp, n_train, data_plan.data_keys,
                             report_file.id if report_file is not None else None)
        job.requirements = estimate_for_job(base, hp, job.extensions)
        for param, result in results.items():
            if result.n_truncated:
                which = "Training" if param == "training_file" else "Validation"
                events.add_event(
                    session, job.id,
                    f"{which} file has {result.n_truncated} example(s) longer than {base.max_length} tokens; "
                    "they will be truncated",
                    level="warn",
                )
        change_status(session, job, "queued", events.VALIDATED)


def make_plan(job: Job, results: dict[str, ValidationResult], hp: protocol.Hyperparameters, n_train: int,
              data_keys: dict[str, str], data_report_file: str | None) -> JobPlan:
    """The job's :class:`~core.plan.JobPlan` from its validated files and resolved hyperparameters;
    ``n_train`` counts the training examples left once duplicates are dropped (``dedupe``)."""
    train = results["training_file"]
    valid = results.get("validation_file")
    return JobPlan(
        fine_tuned_model=model_name_for(job), hyperparameters=hp, n_train_examples=n_train,
        n_valid_examples=valid.n_examples if valid else None, train_tokens=train.total_tokens,
        n_truncated=train.n_truncated, total_steps=total_steps(n_train, hp.batch_size, hp.n_epochs),
        data_keys=data_keys, data_report_file=data_report_file,
        # the bytes validated: the job pins them (api.services.files) and its lineage names them
        file_sha256={param: result.sha256 for param, result in results.items()},
    )


def model_name_for(job: Job) -> str:
    """The ``ft:`` id the job will publish: the base's name without its namespace."""
    base = job.base_model.rsplit("/", 1)[-1]
    return ids.fine_tuned_model_id(base, job.project_id, job.suffix)
