"""One training attempt: what SFT and DPO share (inputs, plan, resume, the train call).

:func:`prepare` gathers the inputs (spec, base model directory, parent adapter, tokenizer,
data rows); ``gpu_worker.sft.main`` / ``gpu_worker.dpo.main`` build their trainer and call
:meth:`Job.train`, which resumes from a store checkpoint when asked and runs the loop.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.catalog import open_tokenizer
from core.model_cache import ensure_model_dir
from core.protocol import JobSpec, checkpoint_prefix
from core.settings import Settings
from core.store import Store
from gpu_worker import checkpoints, data, distributed
from gpu_worker.callbacks import PauseFlag, ReportCallback, Reporter
from gpu_worker.config import TrainPlan, resolve_plan
from gpu_worker.modeling import cast_trainable


@dataclass
class Trained:
    """The outcome of :meth:`Job.train`."""

    model: Any
    plan: TrainPlan
    callback: ReportCallback
    paused_at: int | None
    trainer: Any = None


@dataclass
class Job:
    spec: JobSpec
    settings: Settings
    store: Store
    reporter: Reporter
    device: str
    work_dir: Path
    model_dir: Path
    parent_dir: Path | None
    tokenizer: Any
    train_rows: list[dict[str, Any]]
    valid_rows: list[dict[str, Any]] | None
    resume_step: int | None = None
    pause: PauseFlag = field(default_factory=PauseFlag)
    callback: ReportCallback | None = field(default=None, repr=False)

    def make_plan(self, n_examples: int, has_validation: bool) -> TrainPlan:
        return resolve_plan(self.spec, self.device, self.settings, n_examples, has_validation)

    def make_callback(self, plan: TrainPlan, tokens_per_epoch: int, accuracy_key: str) -> ReportCallback:
        self.callback = ReportCallback(plan=plan, reporter=self.reporter, store=self.store, job_id=self.spec.job_id,
                                       tokens_per_epoch=tokens_per_epoch, accuracy_key=accuracy_key,
                                       pause=self.pause)
        return self.callback

    def train(self, trainer: Any, plan: TrainPlan) -> Trained:
        """Run the loop (from the resume checkpoint when there is one) until done or paused."""
        from transformers.trainer_callback import PrinterCallback

        assert self.callback is not None
        trainer.remove_callback(PrinterCallback)  # logs go out as reports, not as printed dicts
        cast_trainable(trainer.model, plan.adapter_dtype)
        resume_dir = None
        keep_dtypes_on_resume(trainer, plan.adapter_dtype)
        if self.resume_step:
            local = self.work_dir / "trainer" / f"checkpoint-{self.resume_step}"
            if distributed.is_main():  # the ranks share the work directory
                checkpoints.download(self.store, checkpoint_prefix(self.spec.job_id, self.resume_step), local,
                                     ranks=plan.devices)
            distributed.barrier()
            resume_dir = local
            meta = json.loads((local / checkpoints.META).read_text())
            self.callback.history = list(meta.get("history", []))
        self.reporter.emit("started", total_steps=plan.total_steps, step=self.resume_step or 0,
                           data={"plan": plan.as_dict()})
        trainer.train(resume_from_checkpoint=str(resume_dir) if resume_dir else None)
        distributed.barrier()
        if resume_dir is not None and distributed.is_main():
            shutil.rmtree(resume_dir, ignore_errors=True)
        paused = self.callback.paused_at
        return Trained(model=trainer.model, plan=plan, callback=self.callback, paused_at=paused, trainer=trainer)


def prepare(spec: JobSpec, settings: Settings, store: Store, reporter: Reporter, device: str,
            work_dir: Path) -> Job:
    """Fetch the base model (and the parent adapter), open the tokenizer, read the data."""
    model_dir = ensure_model_dir(spec.base_model, settings)
    parent_dir = None
    if spec.parent_model is not None:
        parent_dir = store.download_dir(spec.parent_model.artifact_key, work_dir / "parent")
    # the parent model's tokenizer carries the template it was trained with
    tokenizer = open_tokenizer(parent_dir if parent_dir is not None else model_dir, spec.base_model.chat_template)
    train_rows = data.read_jsonl(store, spec.training_file, spec.data_keys.get("training_file"))
    valid_rows = (data.read_jsonl(store, spec.validation_file, spec.data_keys.get("validation_file"))
                  if spec.validation_file else None)
    return Job(spec=spec, settings=settings, store=store, reporter=reporter, device=device, work_dir=work_dir,
               model_dir=model_dir, parent_dir=parent_dir, tokenizer=tokenizer, train_rows=train_rows,
               valid_rows=valid_rows, resume_step=spec.resume_step)


def keep_dtypes_on_resume(trainer: Any, adapter_dtype: str) -> None:
    """Resume with the trainable weights in the plan's ``adapter_dtype``, as the uninterrupted run has.

    The Trainer reloads a PEFT checkpoint through ``load_adapter``, which up-casts bf16 adapter
    weights to float32 (QLoRA on CUDA trains them in bf16, as TRL sets them): the resumed run
    would then compute differently from the run it continues. The load is wrapped to cast them
    back before the optimizer is built.
    """
    load = trainer._load_from_checkpoint

    def load_keeping_dtypes(*args: Any, **kwargs: Any) -> Any:
        out = load(*args, **kwargs)
        cast_trainable(trainer.model, adapter_dtype)
        return out

    trainer._load_from_checkpoint = load_keeping_dtypes
