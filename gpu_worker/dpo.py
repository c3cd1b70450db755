"""Direct preference optimisation (LoRA / QLoRA) with TRL's ``DPOTrainer``.

OpenAI preference lines become conversational prompt / chosen / rejected rows rendered
through the chat template by TRL. The reference model is the same base with the adapter
disabled (one copy of the weights in memory); when the job continues an ``ft:`` model, TRL
keeps a frozen copy of that model's adapter as the reference instead.
"""

from __future__ import annotations

from typing import Any

from gpu_worker import data
from gpu_worker.config import EVAL_SAMPLE, dpo_config
from gpu_worker.job import Job, Trained
from gpu_worker.modeling import attach_adapter, load_base


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def _tokens(rows: list[dict[str, Any]], tokenizer: Any) -> int:
    total = 0
    for row in rows:
        for side in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=False)
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return total


def main(job: Job) -> Trained:
    """Train the job's adapter on its preference pairs."""
    from trl import DPOTrainer

    train = data.dpo_rows(job.train_rows)
    valid = data.dpo_rows(job.valid_rows) if job.valid_rows else []
    plan = job.make_plan(len(train), has_validation=bool(valid))
    model = attach_adapter(load_base(job.model_dir, plan), plan, job.parent_dir)
    callback = job.make_callback(plan, _tokens(train, job.tokenizer), accuracy_key="rewards/accuracies")
    eval_sets = {"sample": to_dataset(valid[:EVAL_SAMPLE]), "full": to_dataset(valid)} if valid else None
    trainer = DPOTrainer(
        model=model, args=dpo_config(plan, job.work_dir / "trainer"), train_dataset=to_dataset(train),
        eval_dataset=eval_sets, processing_class=job.tokenizer, callbacks=[callback],
    )
    if eval_sets:
        callback.bind(trainer, trainer.eval_dataset["sample"], trainer.eval_dataset["full"])
    else:
        callback.bind(trainer)
    return job.train(trainer, plan)
