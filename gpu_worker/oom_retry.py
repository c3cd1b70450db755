"""Retries inside a task: once more with the micro-batch halved after running out of memory,
or once more as it was after a rank of a multi-device run died (:meth:`OomRetry.resume_spec`).

The worker cannot change the job in the database; it writes a copy of the spec with the smaller
micro-batch (and the latest checkpoint of the failed run as the resume point) under
:func:`retry_spec_key` and starts the child on that copy. The effective batch size stays the
same (the engine accumulates gradients over micro-batches), so the results do not change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.protocol import JobSpec, Report, spec_key
from core.settings import Settings
from core.store import Store

log = logging.getLogger(__name__)


def retry_spec_key(job_id: str, attempt: int, retry: int) -> str:
    return f"jobs/{job_id}/spec-attempt-{attempt}-retry-{retry}.json"


def micro_batch_size(spec: JobSpec, device_kind: str, settings: Settings) -> int:
    """The micro-batch the engine runs ``spec`` with on a ``device_kind`` device."""
    from gpu_worker.config import resolve_plan

    return resolve_plan(spec, device_kind, settings, max(1, spec.n_train_examples)).micro_batch_size


@dataclass
class OomRetry:
    """The spec a task runs from, and at most ``max_retries`` halvings of its micro-batch."""

    store: Store
    settings: Settings
    device_kind: str
    job_id: str
    attempt: int
    max_retries: int = 1
    retries: int = field(default=0, init=False)
    spec_key: str = field(init=False)

    def __post_init__(self) -> None:
        self.spec_key = spec_key(self.job_id)

    def resume_spec(self, last_checkpoint_step: int | None, failure: Report) -> tuple[str, Report] | None:
        """After a rank of a multi-device run died: the same spec from the run's last checkpoint
        (or where the run itself started) and the warning event, or None: give up. Blocking."""
        if self.retries >= self.max_retries:
            return None
        spec = JobSpec.model_validate(self.store.read_json(self.spec_key))
        if last_checkpoint_step is not None:
            spec = spec.model_copy(update={"resume_step": last_checkpoint_step})
        return self._write(spec, Report(
            kind="event", job_id=self.job_id, level="warn",
            message=f"A training process stopped ({(failure.message or '').splitlines()[0][:200]}); retrying "
            f"from {'checkpoint step ' + str(spec.resume_step) if spec.resume_step else 'the beginning'}",
            data={"resume_step": spec.resume_step}))

    def _write(self, spec: JobSpec, event: Report) -> tuple[str, Report]:
        self.retries += 1
        key = retry_spec_key(self.job_id, self.attempt, self.retries)
        self.store.write_json(key, spec.model_dump(mode="json"))
        self.spec_key = key
        return key, event

    def next_spec(self, failure: Report, last_checkpoint_step: int | None) -> tuple[str, Report] | None:
        """Write the next spec copy and the warning event to publish, or None: give up.

        The micro-batch that failed is the one in the failure's ``data`` when the child says
        (it may have halved it already in-process), else the one the spec resolves to.
        Blocking (store I/O): call it in a thread.
        """
        if self.retries >= self.max_retries:
            return None
        spec = JobSpec.model_validate(self.store.read_json(self.spec_key))
        failed_with = (failure.data or {}).get("micro_batch_size")
        try:
            current = int(failed_with or micro_batch_size(spec, self.device_kind, self.settings))
        except ValueError:  # the engine will refuse this spec anyway
            log.exception("cannot work out the micro-batch of %s", self.job_id)
            return None
        if current <= 1:
            return None
        smaller = current // 2
        retry = spec.retry_with(smaller, last_checkpoint_step)
        return self._write(retry, Report(
            kind="event",
            job_id=self.job_id,
            level="warn",
            message=f"Out of memory with micro-batch size {current}; retrying with {smaller}",
            data={"micro_batch_size": smaller, "resume_step": retry.resume_step},
        ))
