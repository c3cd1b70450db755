"""Reports from the training child: metrics every step, validation, checkpoints, pause.

:class:`Reporter` prints :class:`core.protocol.Report` lines on stdout (the worker relays
them). :class:`ReportCallback` plugs into the Trainer loop:

- every optimizer step: a ``metrics`` report (``train_loss``, ``train_mean_token_accuracy``;
  ``valid_loss`` / ``valid_mean_token_accuracy`` on a fixed sample of the validation file
  every ``eval_every_steps``; ``full_valid_*`` over the whole file at epoch ends);
- at epoch ends, every ``checkpoint_every_steps`` and on pause: the Trainer saves its full
  state, which is uploaded (:mod:`gpu_worker.checkpoints`) and announced by a ``checkpoint``
  report; superseded checkpoints are pruned;
- SIGUSR1 (pause) stops training at the next step boundary after a checkpoint.

Under torchrun every rank runs this callback (validation is a collective), but only rank 0's
reporter prints and only rank 0 uploads a checkpoint, once every rank has written its part
(its RNG state); the ranks agree on the step a pause stops at (:func:`gpu_worker.distributed.agree`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import IO, Any

from transformers import TrainerCallback

from core.protocol import Report, checkpoint_prefix
from core.store import Store
from gpu_worker import checkpoints, distributed
from gpu_worker.config import TrainPlan


class PauseFlag:
    """Set by the SIGUSR1 handler; read by the callback at each step boundary."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, *_: Any) -> None:
        self.requested = True


class Reporter:
    """Prints reports for one job attempt."""

    def __init__(self, job_id: str, attempt: int, stream: IO[str] | None = None) -> None:
        self.job_id, self.attempt = job_id, attempt
        self.stream = stream or sys.stdout

    def emit(self, kind: str, **fields: Any) -> Report:
        report = Report(kind=kind, job_id=self.job_id, attempt=self.attempt, **fields)
        self.stream.write(report.line() + "\n")
        self.stream.flush()
        return report

    def event(self, message: str, level: str = "info", **data: Any) -> Report:
        return self.emit("event", message=message, level=level, data=data or None)


RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")
REWARD_COLUMNS = ("step", "train_reward_mean", "valid_reward_mean", "full_valid_reward_mean", "mean_output_tokens",
                  "grader_errors")


class ReportCallback(TrainerCallback):
    """Turns the Trainer's steps into reports, validation runs and store checkpoints."""

    def __init__(self, *, plan: TrainPlan, reporter: Reporter, store: Store, job_id: str,
                 tokens_per_epoch: int, accuracy_key: str, pause: PauseFlag | None = None) -> None:
        self.plan, self.reporter, self.store, self.job_id = plan, reporter, store, job_id
        self.tokens_per_epoch = tokens_per_epoch
        self.accuracy_key = accuracy_key  # the trainer's log key reported as train_mean_token_accuracy
        self.history: list[dict[str, Any]] = []
        self.pause = pause or PauseFlag()
        self.trainer: Any = None
        self.valid_sample: Any = None
        self.valid_full: Any = None
        self.paused_at: int | None = None
        self.last_metrics: dict[str, float] = {}
        self._in_eval = False

    # --- wiring ---------------------------------------------------------------------------
    def bind(self, trainer: Any) -> None:
        """Give the callback the trainer, for validation runs on the trainer's prepared
        ``eval_dataset`` (TRL's copies of ``{"sample": …, "full": …}``, or none)."""
        prepared = trainer.eval_dataset
        self.trainer = trainer
        self.valid_sample, self.valid_full = (prepared["sample"], prepared["full"]) if prepared else (None, None)

    def trained_tokens(self, step: int) -> int:
        return math.ceil(self.tokens_per_epoch * step / self.plan.steps_per_epoch)

    # --- Trainer hooks --------------------------------------------------------------------
    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        step = state.global_step
        every = self.plan.checkpoint_every_steps
        control.should_log = True
        if self.plan.devices > 1:  # the signal reaches the ranks at different steps: stop together
            self.pause.requested = distributed.agree(self.pause.requested)
        if self.plan.is_epoch_end(step) or (every and step % every == 0) or self.pause.requested:
            control.should_save = True
        if self.pause.requested and step < self.plan.total_steps:
            control.should_training_stop = True
            self.paused_at = step
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
        if self._in_eval or not logs or "loss" not in logs or "eval_loss" in logs:
            return
        step = state.global_step
        metrics: dict[str, float] = {"step": float(step), "train_loss": float(logs["loss"])}
        if self.accuracy_key in logs:
            metrics["train_mean_token_accuracy"] = float(logs[self.accuracy_key])
        every = self.plan.eval_every_steps
        epoch_end = self.plan.is_epoch_end(step)
        if self.valid_sample is not None and every and (step % every == 0 or step == self.plan.total_steps):
            loss, acc = self.evaluate(self.valid_sample)
            metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = loss, acc
        if self.valid_full is not None and epoch_end:
            loss, acc = self.evaluate(self.valid_full)
            metrics["full_valid_loss"], metrics["full_valid_mean_token_accuracy"] = loss, acc
        self.last_metrics = metrics
        self.history.append({
            "step": step, "train_loss": metrics["train_loss"],
            "train_accuracy": metrics.get("train_mean_token_accuracy"),
            "valid_loss": metrics.get("valid_loss"),
            "valid_mean_token_accuracy": metrics.get("valid_mean_token_accuracy"),
        })
        self.reporter.emit("metrics", step=step, total_steps=self.plan.total_steps, metrics=metrics,
                           trained_tokens=self.trained_tokens(step))

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        distributed.barrier()  # every rank's share of the checkpoint is on disk
        if not distributed.is_main():
            return
        step = state.global_step
        local = Path(args.output_dir) / f"checkpoint-{step}"
        epoch_end = self.plan.is_epoch_end(step)
        meta = {
            "step": step, "epoch": state.epoch, "epoch_end": epoch_end, "metrics": self.last_metrics,
            "history": self.history, "trained_tokens": self.trained_tokens(step),
        }
        checkpoints.stage(local, meta)
        prefix = checkpoint_prefix(self.job_id, step)
        checkpoints.upload(self.store, local, prefix)
        self.reporter.emit("checkpoint", step=step, total_steps=self.plan.total_steps, epoch_end=epoch_end,
                           metrics=self.last_metrics, key=prefix,
                           adapter_key=checkpoints.adapter_key(self.job_id, step),
                           trained_tokens=self.trained_tokens(step))
        checkpoints.prune(self.store, self.job_id)
        import shutil

        shutil.rmtree(local, ignore_errors=True)

    # --- validation -------------------------------------------------------------------------
    def evaluate(self, dataset: Any) -> tuple[float, float]:
        """Loss and accuracy of the model on a prepared dataset (token-level for SFT,
        preference accuracy for DPO)."""
        self._in_eval = True
        try:
            out = self.trainer.evaluate(eval_dataset=dataset, metric_key_prefix="eval")
        finally:
            self._in_eval = False
        return float(out["eval_loss"]), float(out.get("eval_" + self.accuracy_key, float("nan")))


def results_csv(history: list[dict[str, Any]]) -> str:
    """The results file: ``step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy``
    (reinforcement: :data:`REWARD_COLUMNS`), empty cells where a value was not measured at that step."""
    columns = REWARD_COLUMNS if any("train_reward_mean" in row for row in history) else RESULT_COLUMNS
    lines = [",".join(columns)]
    for row in sorted(history, key=lambda r: r["step"]):
        cells = []
        for col in columns:
            value = row.get(col)
            cells.append("" if value is None else (str(int(value)) if col == "step" else f"{value:.6g}"))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"
