"""The training child process: ``python -m gpu_worker.train_attempt --spec-key jobs/<id>/spec.json``.

Started by the worker, one per job attempt, with the worker's ``OPENFT_*`` environment. It
reads the :class:`core.protocol.JobSpec` from the store, trains, writes artifacts to the store
and prints :class:`core.protocol.Report` lines on stdout (anything else it prints is log):

``started`` -> ``metrics``* / ``checkpoint``* / ``event``* -> ``succeeded`` | ``paused`` | ``failed``

Exit status: 0 after ``succeeded`` or ``paused``, 1 after ``failed``. SIGUSR1 pauses (a
checkpoint at the next step boundary, then ``paused``); SIGTERM/SIGKILL cancel (nothing is
published). An out-of-memory error fails the attempt with code ``out_of_memory`` and the
figures in ``data`` (``micro_batch_size`` among them): the worker retries once with half the
micro-batch from the latest checkpoint (gpu_worker.oom_retry).

Under torchrun (several devices, :mod:`gpu_worker.distributed`) every rank runs this same
module; only rank 0 prints reports and publishes, the others print nothing.

Failure codes: ``out_of_memory``, ``model_unavailable``, ``invalid_training_data``, ``grader_error``,
``invalid_extensions``, ``store_error``, ``internal_error``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import sys
import traceback
from typing import Any

from core.model_cache import ModelUnavailable
from core.protocol import JobSpec
from core.settings import Settings
from core.store import StoreError, public_message, store_from_settings
from gpu_worker import distributed
from gpu_worker.callbacks import Reporter
from gpu_worker.config import ConfigError
from gpu_worker.data import DataError
from gpu_worker.job import Job, Trained, prepare
from gpu_worker.rewards import GraderFailure


class OutOfMemory(Exception):
    """Training ran out of accelerator (or host) memory; ``figures`` say how far it got."""

    def __init__(self, message: str, figures: dict[str, Any]) -> None:
        super().__init__(message)
        self.figures = figures


def _trainer_main(job: Job) -> Any:
    if job.spec.method == "dpo":
        from gpu_worker import dpo

        return dpo.main
    if job.spec.method == "reinforcement":
        from gpu_worker import grpo

        return grpo.main
    from gpu_worker import sft

    return sft.main


def _memory_figures(job: Job) -> dict[str, Any]:
    import torch

    plan = job.callback.plan if job.callback else None
    figures: dict[str, Any] = {
        "device": job.device,
        "micro_batch_size": plan.micro_batch_size if plan else None,
        "max_length": job.spec.base_model.max_length,
    }
    if job.device == "cuda":
        free, total = torch.cuda.mem_get_info()
        figures.update(memory_total=total, memory_free=free, max_memory_allocated=torch.cuda.max_memory_allocated())
    return figures


def _train_once(job: Job) -> Trained:
    import torch

    main = _trainer_main(job)
    try:
        return main(job)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        figures = _memory_figures(job)
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    # outside the except block, so the traceback's frames (and the tensors they hold) are freed
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    raise OutOfMemory(message, figures)


def run(spec: JobSpec, settings: Settings, reporter: Reporter) -> int:
    """Run one attempt to its end; returns the exit status."""
    from core.model_loading import pick_device
    from gpu_worker.publish import publish

    store = store_from_settings(settings)
    work_dir = (settings.data_dir / "work" / f"{spec.job_id}-{spec.attempt}").resolve()
    try:
        device = pick_device(settings.device)
        distributed.init(device, settings.collective_timeout_seconds)
        if distributed.is_main():  # the ranks share the work directory (the Trainer's output_dir)
            shutil.rmtree(work_dir, ignore_errors=True)
            work_dir.mkdir(parents=True)
        distributed.barrier()
        job = prepare(spec, settings, store, reporter, device, work_dir)
        signal.signal(signal.SIGUSR1, job.pause.request)
        if _pause_pending:
            job.pause.request()
        reporter.event(training_message(spec, device), resume_step=spec.resume_step,
                       devices=distributed.world_size(), parallelism=spec.parallelism)
        trained = _train_once(job)
        if trained.paused_at is not None:
            reporter.emit("paused", step=trained.paused_at, total_steps=trained.plan.total_steps)
            return 0
        report = publish(job, trained)
        if report is not None:
            reporter.stream.write(report.line() + "\n")
            reporter.stream.flush()
        return 0
    except OutOfMemory as exc:
        return _fail(reporter, "out_of_memory", f"Training ran out of memory: {exc}", exc.figures)
    except ModelUnavailable as exc:
        return _fail(reporter, "model_unavailable", str(exc))
    except (DataError, KeyError) as exc:
        return _fail(reporter, "invalid_training_data", f"Training data could not be used: {exc}")
    except GraderFailure as exc:
        return _fail(reporter, "grader_error", str(exc))
    except ConfigError as exc:
        return _fail(reporter, "invalid_extensions", str(exc))
    except StoreError as exc:
        traceback.print_exc(file=sys.stderr)  # the key and the cause, for the operator's log
        return _fail(reporter, "store_error", public_message(exc))
    except Exception as exc:  # anything else is our bug or the library's: report it, never hang
        traceback.print_exc(file=sys.stderr)
        return _fail(reporter, "internal_error", f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        if distributed.is_main():
            shutil.rmtree(work_dir, ignore_errors=True)


PARALLELISM_NAMES = {"data_parallel": "data-parallel", "fsdp": "FSDP"}


def training_message(spec: JobSpec, device: str) -> str:
    """``Training tiny-chat (supervised) on 2 × NVIDIA H200 with FSDP`` (one device: ``on cuda``)."""
    n = distributed.world_size()
    where = device
    if n > 1:
        name = device
        if device == "cuda":
            import torch

            name = torch.cuda.get_device_name()
        where = f"{n} × {name} with {PARALLELISM_NAMES.get(spec.parallelism, spec.parallelism)}"
    return f"Training {spec.base_model.name} ({spec.method}) on {where}"


def _fail(reporter: Reporter, code: str, message: str, data: dict[str, Any] | None = None) -> int:
    reporter.emit("failed", code=code, message=message, data=data)
    return 1


_pause_pending = False


def _early_pause(*_: Any) -> None:
    """SIGUSR1 before the job's own handler is installed (while libraries import)."""
    global _pause_pending
    _pause_pending = True


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGUSR1, _early_pause)
    if distributed.world_size() > 1:
        distributed.die_with_parent()
    parser = argparse.ArgumentParser(prog="python -m gpu_worker.train_attempt", description=__doc__.splitlines()[0])
    parser.add_argument("--spec-key", required=True, help="store key of the JobSpec (jobs/<id>/spec.json)")
    args = parser.parse_args(argv)
    settings = Settings()
    store = store_from_settings(settings)
    spec = JobSpec.model_validate(store.read_json(args.spec_key))
    with open(os.devnull, "w") as silent:  # only rank 0 speaks for the attempt
        reporter = Reporter(spec.job_id, spec.attempt, None if distributed.is_main() else silent)
        try:
            return run(spec, settings, reporter)
        finally:
            distributed.close()


if __name__ == "__main__":
    sys.exit(main())
