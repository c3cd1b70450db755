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
from gpu_worker.recompute import setup_recompute


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def _lengths(rows: list[dict[str, Any]], tokenizer: Any) -> list[int]:
    """Tokens of each pair (prompt + chosen, prompt + rejected)."""
    out = []
    for row in rows:
        n = 0
        for side in ("chosen", "rejected"):
            text = tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=False)
            n += len(tokenizer(text, add_special_tokens=False)["input_ids"])
        out.append(n)
    return out


def main(job: Job) -> Trained:
    """Train the job's adapter on its preference pairs."""
    from trl import DPOTrainer

    train = data.dpo_rows(job.train_rows)
    valid = data.dpo_rows(job.valid_rows) if job.valid_rows else []
    plan = job.make_plan(len(train), has_validation=bool(valid))
    lengths = _lengths(train, job.tokenizer)
    model = attach_adapter(load_base(job.model_dir, plan), plan, job.parent_dir)
    # chosen and rejected are padded to the longest of the micro-batch
    setup_recompute(model, plan, plan.micro_batch_size * min(max(lengths), 2 * plan.max_length))
    callback = job.make_callback(plan, sum(lengths), accuracy_key="rewards/accuracies")
    eval_sets = {"sample": to_dataset(valid[:EVAL_SAMPLE]), "full": to_dataset(valid)} if valid else None
    trainer = DPOTrainer(
        model=model, args=dpo_config(plan, job.work_dir / "trainer"), train_dataset=to_dataset(train),
        eval_dataset=eval_sets, processing_class=job.tokenizer, callbacks=[callback],
    )
    callback.bind(trainer)
    return job.train(trainer, plan)
