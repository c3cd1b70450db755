"""Weights & Biases logging of one job attempt, done by the worker (the training child knows nothing of it).

A job created with ``integrations=[{"type": "wandb", "wandb": {...}}]`` carries a
:class:`core.protocol.WandbSpec`. For such a task the worker makes a :class:`WandbLog` and hands it
every report it relays; one daemon thread per attempt drives the real ``wandb`` package, so a slow
or unreachable W&B never holds up the reports:

- the run opens when the attempt starts: id and default name = the job id (a later attempt resumes
  the same run), the job's config and resolved hyperparameters as its config, OpenAI's kind of
  default tags (``openft/finetune``, ``openft/{base model}``, ``openft/{job id}``) before the caller's;
- ``started`` adds the training plan to the config; each ``metrics`` report is logged at its step
  with exactly the metrics of the job's ``metrics`` event;
- the final report (succeeded, failed, paused) writes the summary (fine-tuned model, trained tokens,
  status) and finishes the run.

Nothing here can fail the job: the first W&B error switches the log off and becomes one warning,
which the worker publishes as a ``warn`` event (:meth:`WandbLog.take_warnings`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.protocol import JobSpec, Report, WandbSpec
from core.settings import Settings

log = logging.getLogger(__name__)

# wandb is imported with this module (the worker's start-up), not in a logging thread: its import
# builds pydantic models whose docstrings pydantic reads with ast.parse, and CPython 3.11's parser
# keeps a recursion counter that a concurrent compile on another thread corrupts ("AST constructor
# recursion depth mismatch"), leaving a half-imported wandb in sys.modules for the whole process.
try:
    import wandb
except Exception as exc:  # noqa: BLE001 (a broken wandb install turns W&B off, never the worker)
    wandb = None  # type: ignore[assignment]
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

FINAL_KINDS = ("succeeded", "failed", "paused")
_STOP = object()


def run_config(spec: JobSpec) -> dict[str, Any]:
    """The W&B run config of a job: what it trains, on what, with which resolved hyperparameters."""
    return {
        "job_id": spec.job_id, "method": spec.method, "base_model": spec.base_model.name,
        "parent_model": spec.parent_model.id if spec.parent_model else None,
        "training_file": spec.training_file, "validation_file": spec.validation_file, "seed": spec.seed,
        "fine_tuned_model": spec.fine_tuned_model, "n_train_examples": spec.n_train_examples,
        "total_steps": spec.total_steps, "hyperparameters": spec.hyperparameters.model_dump(exclude_none=True),
        "openft": dict(spec.extensions),
    }


def run_tags(spec: JobSpec, wandb: WandbSpec) -> list[str]:
    """openft's default tags, then the caller's (W&B keeps tags to 64 characters)."""
    defaults = ["openft/finetune", f"openft/{spec.base_model.name}", f"openft/{spec.job_id}"]
    return list(dict.fromkeys(tag[:64] for tag in [*defaults, *wandb.tags]))


class WandbLog:
    """The W&B run of one job attempt; see the module docstring. Thread-safe to feed from the event loop."""

    def __init__(self, spec: JobSpec, settings: Settings) -> None:
        assert spec.wandb is not None
        self.spec, self.wandb, self.settings = spec, spec.wandb, settings
        self._run: Any = None
        self._off = False
        self._warnings: list[str] = []
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"wandb-{spec.job_id}", daemon=True)
        self._thread.start()
        self._queue.put(self._open)

    # --- the event loop's side ----------------------------------------------------------------
    def submit(self, report: Report) -> None:
        """Log ``report`` when W&B gets to it (never blocks)."""
        if not self._off:
            self._queue.put(lambda: self._handle(report))

    def close(self, final: Report | None) -> list[str]:
        """Finish the run (``final``: the attempt's last report, None when it was stopped) and
        return the warnings not yet taken. Blocks up to ``wandb_timeout_seconds``: call in a thread."""
        self._queue.put(lambda: self._finish(final))
        self._queue.put(_STOP)
        if not self._done.wait(self.settings.wandb_timeout_seconds):
            self._warn(f"W&B did not finish the run within {self.settings.wandb_timeout_seconds:.0f} s; "
                       "it may miss the last metrics")
        return self.take_warnings()

    def take_warnings(self) -> list[str]:
        """Warnings raised since the last call (each W&B failure is reported once)."""
        with self._lock:
            out, self._warnings = self._warnings, []
        return out

    # --- the W&B thread -----------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                if not self._off:
                    self._guard(item)
        finally:
            self._done.set()

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 (any W&B failure must leave the job alone)
            log.warning("W&B logging of %s failed", self.spec.job_id, exc_info=True)
            self._off = True
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
            self._warn(f"W&B logging stopped ({type(exc).__name__}): {detail}; the job goes on without it")

    def _warn(self, message: str) -> None:
        with self._lock:
            self._warnings.append(message)

    def _api_key(self) -> str | None:
        if self.wandb.api_key:
            return self.wandb.api_key
        key = self.settings.wandb_api_key  # an empty value (compose's default) is no key
        return (key.get_secret_value() or None) if key is not None else None

    def _open(self) -> None:
        if wandb is None:
            raise RuntimeError(f"the wandb package could not be imported ({_IMPORT_ERROR})")
        key = self._api_key()
        if key is None and self.settings.wandb_mode == "online":
            raise RuntimeError("no W&B API key: set OPENFT_WANDB_API_KEY on the workers or the project's key "
                               "through /v1/organization/projects/{id}/integrations/wandb")
        root = self.settings.wandb_dir or self.settings.data_dir / "wandb"
        Path(root).mkdir(parents=True, exist_ok=True)
        given = {"api_key": key, "base_url": self.settings.wandb_base_url}
        options = wandb.Settings(
            mode=self.settings.wandb_mode, root_dir=str(Path(root).resolve()),
            init_timeout=self.settings.wandb_timeout_seconds, console="off", silent=True, save_code=False,
            disable_git=True, x_disable_stats=True, x_save_requirements=False,
            **{name: value for name, value in given.items() if value})
        self._run = wandb.init(
            project=self.wandb.project, entity=self.wandb.entity, name=self.wandb.name or self.spec.job_id,
            id=self.spec.job_id, resume="allow", tags=run_tags(self.spec, self.wandb),
            config=run_config(self.spec), settings=options, reinit="create_new")

    def _handle(self, report: Report) -> None:
        if self._run is None:
            return
        if report.kind == "started" and report.data and "plan" in report.data:
            self._run.config.update({"plan": report.data["plan"]}, allow_val_change=True)
        elif report.kind == "metrics" and report.step is not None:
            self._run.log({k: v for k, v in report.metrics.items() if k != "step"}, step=report.step)

    def _finish(self, final: Report | None) -> None:
        if self._run is None:
            return
        summary: dict[str, Any] = {"status": final.kind if final else "stopped"}
        if final is not None and final.kind == "succeeded":
            summary.update(fine_tuned_model=self.spec.fine_tuned_model, trained_tokens=final.trained_tokens)
        elif final is not None and final.kind == "failed":
            summary.update(error_code=final.code, error_message=final.message)
        self._run.summary.update(summary)
        self._run.finish(exit_code=0 if final is not None and final.kind in ("succeeded", "paused") else 1)
        self._run = None
