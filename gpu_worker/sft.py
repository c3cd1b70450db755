"""Supervised fine-tuning (LoRA / QLoRA) with TRL's ``SFTTrainer``.

The examples arrive tokenized with their labels (:mod:`gpu_worker.data`: chat template, loss
on trained assistant tokens only, end-of-turn included), so TRL's own preparation only
collates them: padded batches on the CPU, padding-free packed micro-batches on CUDA.
"""

from __future__ import annotations

from typing import Any

from gpu_worker import data
from gpu_worker.config import EVAL_SAMPLE, sft_config
from gpu_worker.job import Job, Trained
from gpu_worker.modeling import attach_adapter, load_base


def to_dataset(examples: list[data.SFTExample]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [e.input_ids for e in examples],
                              "labels": [e.labels for e in examples]})


def main(job: Job) -> Trained:
    """Train the job's adapter on its chat examples."""
    from trl import SFTTrainer

    max_length = job.spec.base_model.max_length
    train = data.sft_examples(job.train_rows, job.tokenizer, max_length)
    if not train:
        raise data.DataError("no training example has an assistant message to train on")
    valid = data.sft_examples(job.valid_rows, job.tokenizer, max_length) if job.valid_rows else []
    plan = job.make_plan(len(train), has_validation=bool(valid))
    model = attach_adapter(load_base(job.model_dir, plan), plan, job.parent_dir)
    callback = job.make_callback(plan, data.count_tokens(train), accuracy_key="mean_token_accuracy")
    eval_sets = {"sample": to_dataset(valid[:EVAL_SAMPLE]), "full": to_dataset(valid)} if valid else None
    trainer = SFTTrainer(
        model=model, args=sft_config(plan, job.work_dir / "trainer"), train_dataset=to_dataset(train),
        eval_dataset=eval_sets, processing_class=job.tokenizer, callbacks=[callback],
    )
    if eval_sets:
        callback.bind(trainer, trainer.eval_dataset["sample"], trainer.eval_dataset["full"])
    else:
        callback.bind(trainer)
    return job.train(trainer, plan)
