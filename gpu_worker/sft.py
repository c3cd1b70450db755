"""Supervised fine-tuning (LoRA / QLoRA) with TRL's ``SFTTrainer``.

The examples arrive tokenized with their labels (:mod:`gpu_worker.data`: chat template, loss
on trained assistant tokens only, end-of-turn included), so TRL's own preparation only
collates them: padded batches on the CPU, padding-free packed micro-batches on CUDA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpu_worker import data
from gpu_worker.config import EVAL_SAMPLE, TrainPlan, sft_config
from gpu_worker.job import Job, Trained
from gpu_worker.modeling import attach_adapter, load_base
from gpu_worker.recompute import setup_recompute


def to_dataset(examples: list[data.SFTExample]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [e.input_ids for e in examples],
                              "labels": [e.labels for e in examples]})


def max_micro_tokens(examples: list[data.SFTExample], plan: TrainPlan) -> int:
    """Tokens in the largest micro-batch the data can produce (the longest examples together)."""
    lengths = sorted(len(e.input_ids) for e in examples)
    longest = lengths[-plan.micro_batch_size:]
    return sum(longest) if plan.packing else len(longest) * longest[-1]


def build_trainer(plan: TrainPlan, model_dir: Path, tokenizer: Any, train: list[data.SFTExample],
                  output_dir: Path, parent_dir: Path | None = None, eval_sets: dict[str, Any] | None = None,
                  callbacks: list[Any] | None = None) -> Any:
    """The ``SFTTrainer`` for ``plan``: base loaded, adapter attached, recomputation set up."""
    from trl import SFTTrainer

    model = attach_adapter(load_base(model_dir, plan), plan, parent_dir)
    setup_recompute(model, plan, max_micro_tokens(train, plan))
    return SFTTrainer(model=model, args=sft_config(plan, output_dir), train_dataset=to_dataset(train),
                      eval_dataset=eval_sets, processing_class=tokenizer, callbacks=callbacks)


def main(job: Job) -> Trained:
    """Train the job's adapter on its chat examples."""
    max_length = job.spec.base_model.max_length
    train = data.sft_examples(job.train_rows, job.tokenizer, max_length)
    if not train:
        raise data.DataError("no training example has an assistant message to train on")
    valid = data.sft_examples(job.valid_rows, job.tokenizer, max_length) if job.valid_rows else []
    plan = job.make_plan(len(train), has_validation=bool(valid))
    callback = job.make_callback(plan, data.count_tokens(train), accuracy_key="mean_token_accuracy")
    eval_sets = {"sample": to_dataset(valid[:EVAL_SAMPLE]), "full": to_dataset(valid)} if valid else None
    trainer = build_trainer(plan, job.model_dir, job.tokenizer, train, job.work_dir / "trainer",
                            job.parent_dir, eval_sets, [callback])
    callback.bind(trainer)
    return job.train(trainer, plan)
