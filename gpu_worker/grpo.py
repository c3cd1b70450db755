"""Reinforcement fine-tuning (LoRA / QLoRA) with TRL's ``GRPOTrainer``, the job's grader as reward.

Each optimizer step takes ``batch_size`` prompts of the training file, samples
``num_generations`` completions for each (``compute_multiplier``, see scheduler.reinforcement)
of at most the ``reasoning_effort`` budget of new tokens, grades them
(:mod:`gpu_worker.rewards`) and moves the policy towards the completions that scored above
their group's mean (GRPO; no KL term, TRL's default ``beta`` 0, so no reference model is kept).
Generation is TRL's plain ``generate`` path; with vLLM installed on a CUDA worker it runs in
TRL's colocate mode. Checkpoints, exact resume, pause and cancel are the shared engine's
(:class:`gpu_worker.job.Job`).

Metrics (OpenAI's reinforcement shape): ``train_reward_mean``, ``train_reward_std``,
``grader_errors``, ``grader_error_rate``, ``grader_time_seconds``, ``mean_output_tokens``
every step; ``valid_reward_mean`` over ``eval_samples`` validation lines (one greedy answer
each) every ``eval_interval`` steps; ``full_valid_reward_mean`` over the whole validation file
at the end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from core.rft import max_new_tokens, num_generations
from gpu_worker import generate
from gpu_worker.callbacks import ReportCallback
from gpu_worker.config import TrainPlan, trainer_kwargs
from gpu_worker.job import Job, Trained
from gpu_worker.modeling import attach_adapter, load_base
from gpu_worker.rewards import GraderReward, prompt_messages

#: the share of the steps over which the learning rate warms up (transformers reads a float < 1 as a ratio)
WARMUP_FRACTION = 0.1


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, n + 1) if n % d == 0 and d <= max(1, limit))


class RewardReportCallback(ReportCallback):
    """:class:`ReportCallback` with reward metrics instead of loss and token accuracy."""

    def __init__(self, *, reward: GraderReward, eval_rows: list[dict[str, Any]], eval_samples: int,
                 eval_interval: int, max_new_tokens: int, tokenizer: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.reward, self.eval_rows, self.eval_samples = reward, eval_rows, eval_samples
        self.eval_interval, self.max_new_tokens, self.tokenizer = eval_interval, max_new_tokens, tokenizer

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
        if not logs or "reward" not in logs:
            return
        step = state.global_step
        metrics: dict[str, float] = {"step": float(step), "train_loss": float(logs.get("loss", 0.0)),
                                     "train_reward_mean": float(logs["reward"]),
                                     "train_reward_std": float(logs.get("reward_std", 0.0)),
                                     "mean_output_tokens": float(logs.get("completions/mean_length", 0.0)),
                                     **self.reward.stats.take()}
        if self.eval_rows and self.eval_interval and (step % self.eval_interval == 0 or step == self.plan.total_steps):
            metrics["valid_reward_mean"] = self.valid_reward(self.eval_rows[:self.eval_samples])
        if self.eval_rows and step == self.plan.total_steps:
            metrics["full_valid_reward_mean"] = self.valid_reward(self.eval_rows)
        self.reward.stats.take()  # validation grading is not the training step's
        self.last_metrics = metrics
        self.history.append({"step": step, "train_reward_mean": metrics["train_reward_mean"],
                             "valid_reward_mean": metrics.get("valid_reward_mean"),
                             "full_valid_reward_mean": metrics.get("full_valid_reward_mean"),
                             "mean_output_tokens": metrics["mean_output_tokens"],
                             "grader_errors": metrics["grader_errors"]})
        self.reporter.emit("metrics", step=step, total_steps=self.plan.total_steps, metrics=metrics,
                           trained_tokens=self.trained_tokens(step))

    def valid_reward(self, rows: list[dict[str, Any]]) -> float:
        """Mean grader reward of one greedy answer per validation line."""
        model = self.trainer.model
        texts = [generate.greedy(model, self.tokenizer, prompt_messages(r), r.get("tools"),
                                 max_new_tokens=self.max_new_tokens)[0] for r in rows]
        results = self.reward.score(rows, texts)
        return sum(r.reward for r in results) / max(1, len(results))


def grpo_config(plan: TrainPlan, output_dir: Any, n_generations: int, max_new: int) -> Any:
    """TRL's ``GRPOConfig``: per device ``micro`` prompts x ``n_generations`` completions, and
    :func:`prompts_per_pass` accumulation steps, so one optimizer step sees ``batch_size``
    prompts over all ranks."""
    from trl import GRPOConfig

    kw = trainer_kwargs(plan, output_dir)
    micro, accumulation = prompts_per_pass(plan, n_generations)
    # warmup: Adam's first updates move every weight by about the full rate whatever the gradient,
    # and the first groups' advantages are the noisiest; without it an SFT parent's reward dips
    kw.update(per_device_train_batch_size=micro * n_generations, per_device_eval_batch_size=n_generations,
              gradient_accumulation_steps=accumulation, max_steps=plan.total_steps,
              remove_unused_columns=False, warmup_steps=WARMUP_FRACTION)
    return GRPOConfig(**kw, num_generations=n_generations, max_completion_length=max_new, beta=0.0,
                      temperature=1.0, shuffle_dataset=True, log_completions=False,
                      use_vllm=_vllm_colocate(plan), vllm_mode="colocate")


def prompts_per_pass(plan: TrainPlan, n_generations: int) -> tuple[int, int]:
    """``(prompts per forward pass on one rank, accumulation steps)``: every rank takes
    ``batch_size / devices`` prompts a step, as SFT and DPO split their batch (``gpu_worker.config``)."""
    per_rank = plan.batch_size // plan.devices
    micro = _largest_divisor_at_most(per_rank, plan.micro_batch_size // n_generations)
    return micro, per_rank // micro


def _vllm_colocate(plan: TrainPlan) -> bool:
    if plan.device != "cuda":
        return False
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([{"prompt": prompt_messages(r), "item": json.dumps(r, ensure_ascii=False)}
                              for r in rows])


def main(job: Job) -> Trained:
    """Train the job's adapter with GRPO against its grader."""
    from trl import GRPOTrainer

    spec = job.spec
    rl = spec.hyperparameters.reinforcement or {}
    n_gen = num_generations(float(rl.get("compute_multiplier", 1.0)))
    max_new = max_new_tokens(str(rl.get("reasoning_effort", "default")), spec.base_model.max_length)
    valid = job.valid_rows or []
    plan = job.make_plan(len(job.train_rows), has_validation=bool(valid))
    plan = replace(plan, micro_batch_size=max(plan.micro_batch_size, n_gen))
    assert spec.grader is not None, "a reinforcement job carries its grader"
    reward = GraderReward(spec.grader, job.settings)
    model = attach_adapter(load_base(job.model_dir, plan), plan, job.parent_dir)
    callback = RewardReportCallback(
        reward=reward, eval_rows=valid, eval_samples=int(rl.get("eval_samples") or len(valid)),
        eval_interval=int(rl.get("eval_interval") or 0), max_new_tokens=max_new, tokenizer=job.tokenizer,
        plan=plan, reporter=job.reporter, store=job.store, job_id=spec.job_id,
        tokens_per_epoch=0, accuracy_key="reward", pause=job.pause)
    job.callback = callback
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=grpo_config(plan, job.work_dir / "trainer", n_gen,
                                                                               max_new),
                          train_dataset=_dataset(job.train_rows), processing_class=job.tokenizer,
                          callbacks=[callback])
    callback.bind(trainer)
    return job.train(trainer, plan)
