"""Reinforcement hyperparameters: what "auto" resolves to, how they map to generation, and the
memory estimate counting a prompt's group of generations."""

from __future__ import annotations

import pytest

from core.catalog import get_catalog
from core.memory import estimate_for_job
from core.rft import max_new_tokens, num_generations
from core.settings import Settings
from scheduler.hyperparams import resolve, validate_method
from scheduler.reinforcement import item_variables

GRADER = {"type": "string_check", "name": "x", "input": "{{sample.output_text}}", "reference": "{{item.a.b}}",
          "operation": "eq"}


def rft(**hp: object) -> dict:
    return validate_method({"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": hp}})


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_auto_resolves_to_numbers_and_explicit_values_stay(settings: Settings) -> None:
    base = get_catalog(settings).require("tiny-chat")
    method, hp = resolve(rft(), 60, base, n_valid=40)
    values = method["reinforcement"]["hyperparameters"]
    # 8 prompts a step, 960 prompts seen: 16 epochs of 8 steps, an evaluation every 13 of the 128
    assert values == {"batch_size": 8, "learning_rate_multiplier": 0.6, "n_epochs": 16, "compute_multiplier": 1.0,
                      "eval_interval": 13, "eval_samples": 16, "reasoning_effort": "default"}
    assert method["reinforcement"]["grader"] == GRADER and hp.reinforcement is not None
    assert hp.learning_rate == pytest.approx(0.6 * base.learning_rate)
    large, _ = resolve(rft(), 1000, base)  # a large file: 3 epochs (OpenAI's), batches capped at 16
    assert {k: large["reinforcement"]["hyperparameters"][k] for k in ("batch_size", "n_epochs")} == {
        "batch_size": 16, "n_epochs": 3}
    method, _ = resolve(rft(compute_multiplier=2, eval_samples=3, reasoning_effort="high", batch_size=4), 60, base,
                        n_valid=None)
    values = method["reinforcement"]["hyperparameters"]
    assert (values["compute_multiplier"], values["eval_samples"], values["eval_interval"],
            values["reasoning_effort"], values["batch_size"]) == (2.0, 3, 0, "high", 4)


def test_generation_mapping() -> None:
    assert [num_generations(x) for x in (1e-4, 0.25, 0.5, 1.0, 2.0, 10.0)] == [2, 2, 4, 8, 16, 64]
    assert [max_new_tokens(e, 4096) for e in ("low", "default", "medium", "high")] == [64, 128, 256, 512]
    assert max_new_tokens("high", 256) == 128


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_the_memory_estimate_counts_the_generations(settings: Settings) -> None:
    base = get_catalog(settings).require("tiny-chat")
    _, small = resolve(rft(compute_multiplier=0.5, batch_size=1), 60, base)
    _, large = resolve(rft(compute_multiplier=10, batch_size=1), 60, base)
    a, b = estimate_for_job(base, small), estimate_for_job(base, large)
    assert b["micro_batch_size"]["cpu"] == 64 and b["memory"]["cpu"] > a["memory"]["cpu"]


def test_item_variables_skip_python_source() -> None:
    multi = {"type": "multi", "graders": {"a": GRADER, "p": {"type": "python", "source": "'{{item.not_me}}'"}},
             "calculate_output": "a"}
    assert item_variables(multi) == ["item.a.b"]
