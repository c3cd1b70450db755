"""Hyperparameter validation (OpenAI's ranges, 400 with a param) and the resolution of "auto"."""

from __future__ import annotations

import math
from typing import Any

import pytest

from core.catalog import AutoPolicy, CatalogError, ModelEntry, get_catalog
from core.settings import Settings
from scheduler.hyperparams import (
    HyperparameterError,
    auto_batch_size,
    auto_n_epochs,
    job_hyperparameters,
    resolve,
    total_steps,
    validate_method,
)

AUTO3 = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
BASE = ModelEntry(name="m", source="x", learning_rate=2e-4)


def test_no_method_means_supervised_all_auto() -> None:
    assert validate_method(None, None) == {"type": "supervised", "supervised": {"hyperparameters": AUTO3}}
    assert validate_method({"type": "supervised"}) == {"type": "supervised",
                                                       "supervised": {"hyperparameters": AUTO3}}


def test_dpo_gets_beta() -> None:
    method = validate_method({"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}})
    assert method == {"type": "dpo", "dpo": {"hyperparameters": {**AUTO3, "beta": 0.1}}}
    assert job_hyperparameters(method) == AUTO3


def test_legacy_top_level_hyperparameters_apply() -> None:
    method = validate_method(None, {"n_epochs": 4, "batch_size": "auto"})
    assert method["supervised"]["hyperparameters"] == {**AUTO3, "n_epochs": 4}
    method = validate_method({"type": "supervised"}, {"learning_rate_multiplier": 0.5})
    assert method["supervised"]["hyperparameters"]["learning_rate_multiplier"] == 0.5
    dpo = validate_method({"type": "dpo"}, {"n_epochs": 2})
    assert dpo["dpo"]["hyperparameters"] == {**AUTO3, "n_epochs": 2, "beta": "auto"}


def test_both_places_at_once_is_refused() -> None:
    with pytest.raises(HyperparameterError) as info:
        validate_method({"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
                        {"n_epochs": 3})
    assert info.value.param == "hyperparameters"


def test_values_at_the_edges_are_accepted() -> None:
    edges = {"n_epochs": 50, "batch_size": 256, "learning_rate_multiplier": 1e-6, "beta": 2}
    hp = validate_method({"type": "dpo", "dpo": {"hyperparameters": edges}})["dpo"]["hyperparameters"]
    assert hp == {"n_epochs": 50, "batch_size": 256, "learning_rate_multiplier": 1e-6, "beta": 2.0}
    hp = validate_method(None, {"n_epochs": 1, "batch_size": 1.0})["supervised"]["hyperparameters"]
    assert hp["n_epochs"] == 1 and hp["batch_size"] == 1 and isinstance(hp["batch_size"], int)


SUP = "method[supervised][hyperparameters]"
DPO = "method[dpo][hyperparameters]"


@pytest.mark.parametrize(
    ("kind", "values", "param"),
    [
        ("supervised", {"n_epochs": 0}, f"{SUP}[n_epochs]"),
        ("supervised", {"n_epochs": 51}, f"{SUP}[n_epochs]"),
        ("supervised", {"n_epochs": 2.5}, f"{SUP}[n_epochs]"),
        ("supervised", {"n_epochs": "3"}, f"{SUP}[n_epochs]"),
        ("supervised", {"n_epochs": True}, f"{SUP}[n_epochs]"),
        ("supervised", {"batch_size": 0}, f"{SUP}[batch_size]"),
        ("supervised", {"batch_size": 257}, f"{SUP}[batch_size]"),
        ("supervised", {"learning_rate_multiplier": 0}, f"{SUP}[learning_rate_multiplier]"),
        ("supervised", {"learning_rate_multiplier": -1.5}, f"{SUP}[learning_rate_multiplier]"),
        ("supervised", {"learning_rate_multiplier": math.inf}, f"{SUP}[learning_rate_multiplier]"),
        ("supervised", {"learning_rate_multiplier": math.nan}, f"{SUP}[learning_rate_multiplier]"),
        ("supervised", {"beta": 0.1}, f"{SUP}[beta]"),
        ("supervised", {"epochs": 3}, f"{SUP}[epochs]"),
        ("dpo", {"beta": 0}, f"{DPO}[beta]"),
        ("dpo", {"beta": 2.5}, f"{DPO}[beta]"),
        ("dpo", {"beta": -0.1}, f"{DPO}[beta]"),
        ("dpo", {"batch_size": 300}, f"{DPO}[batch_size]"),
    ],
)
def test_out_of_range_values_name_their_param(kind: str, values: dict[str, Any], param: str) -> None:
    with pytest.raises(HyperparameterError) as info:
        validate_method({"type": kind, kind: {"hyperparameters": values}})
    assert info.value.param == param
    assert info.value.code == "invalid_value"
    assert str(info.value) == info.value.message


def test_range_messages_say_what_is_expected() -> None:
    with pytest.raises(HyperparameterError, 
                       match=r"n_epochs: expected 'auto' or an integer from 1 to 50, got 0"):
        validate_method(None, {"n_epochs": 0})
    with pytest.raises(HyperparameterError,
                       match=r"beta: expected 'auto' or a number greater than 0 and at most 2"):
        validate_method({"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}})


@pytest.mark.parametrize(
    ("method", "param", "code"),
    [
        ({"type": "reinforcement", "reinforcement": {}}, "method[reinforcement][grader]",
         "missing_required_parameter"),
        ({"type": "rlhf"}, "method[type]", "invalid_value"),
        ({"supervised": {}}, "method[type]", "missing_required_parameter"),
        ({"type": "supervised", "dpo": {"hyperparameters": {"beta": 0.1}}}, "method[dpo]", "invalid_value"),
        ({"type": "supervised", "extra": 1}, "method[extra]", "invalid_value"),
        ({"type": "supervised", "supervised": {"hyper": {}}}, "method[supervised][hyper]", "invalid_value"),
        ({"type": "supervised", "supervised": []}, "method[supervised]", "invalid_value"),
    ],
)
def test_malformed_methods(method: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(HyperparameterError) as info:
        validate_method(method)
    assert (info.value.param, info.value.code) == (param, code)


def test_unknown_legacy_key_is_refused() -> None:
    with pytest.raises(HyperparameterError) as info:
        validate_method(None, {"beta": 0.1})
    assert info.value.param == "hyperparameters[beta]"
    with pytest.raises(HyperparameterError) as info:
        validate_method(None, [1, 2])  # type: ignore[arg-type]
    assert info.value.param == "hyperparameters"
    with pytest.raises(HyperparameterError) as info:
        validate_method("supervised")  # type: ignore[arg-type]
    assert info.value.param == "method"


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (3, 25), (5, 20), (10, 10), (20, 5), (33, 3), (34, 3), (100, 3), (8333, 3), (8334, 2),
     (12_500, 2), (12_501, 1), (100_000, 1)],
)
def test_openai_epoch_heuristic(n: int, epochs: int) -> None:
    assert auto_n_epochs(n) == epochs


@pytest.mark.parametrize(("n", "batch"), [(10, 1), (74, 1), (75, 2), (100, 2), (800, 16), (1000, 20),
                                          (3200, 64), (100_000, 64)])
def test_auto_batch_size_aims_at_fifty_steps_per_epoch(n: int, batch: int) -> None:
    assert auto_batch_size(n) == batch


def test_total_steps_is_openais_count() -> None:
    assert total_steps(100, 1, 3) == 300
    assert total_steps(101, 10, 2) == 22
    assert total_steps(10, 256, 4) == 4


def test_resolve_all_auto_supervised() -> None:
    method, hp = resolve(validate_method(None), 800, BASE)
    assert method == {"type": "supervised", "supervised": {"hyperparameters": {
        "batch_size": 16, "learning_rate_multiplier": 1.0, "n_epochs": 3}}}
    assert (hp.n_epochs, hp.batch_size, hp.learning_rate_multiplier, hp.beta) == (3, 16, 1.0, None)
    assert hp.learning_rate == pytest.approx(2e-4)
    assert "auto" not in str(method)


def test_resolve_keeps_given_values_and_scales_the_rate() -> None:
    method, hp = resolve(validate_method(None, {"n_epochs": 7, "learning_rate_multiplier": 2.5}), 40, BASE)
    assert method["supervised"]["hyperparameters"] == {"batch_size": 1, "learning_rate_multiplier": 2.5,
                                                       "n_epochs": 7}
    assert hp.learning_rate == pytest.approx(5e-4)


def test_resolve_dpo_defaults() -> None:
    method, hp = resolve(validate_method({"type": "dpo"}), 10, BASE)
    assert method["dpo"]["hyperparameters"] == {"batch_size": 1, "learning_rate_multiplier": 0.2,
                                                "n_epochs": 10, "beta": 0.1}
    assert hp.beta == 0.1 and hp.learning_rate == pytest.approx(4e-5)
    _, hp = resolve(validate_method({"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.5}}}), 10, BASE)
    assert hp.beta == 0.5


@pytest.mark.parametrize(("n", "epochs", "batch"), [(10, 50, 4), (60, 50, 4), (150, 40, 6), (200, 30, 8),
                                                     (1000, 6, 8), (5000, 3, 8), (100_000, 1, 8)])
def test_resolve_with_the_tiny_chat_catalog_entry(tmp_path: Any, n: int, epochs: int, batch: int) -> None:
    """tiny-chat-random's own policy (random weights): some 6,000 examples seen in batches of 4 to 8."""
    entry = get_catalog(Settings(data_dir=tmp_path)).require("tiny-chat-random")
    method, hp = resolve(validate_method(None), n, entry)
    assert (hp.n_epochs, hp.batch_size) == (epochs, batch)
    assert method["supervised"]["hyperparameters"] == {"batch_size": batch, "learning_rate_multiplier": 1.0,
                                                       "n_epochs": epochs}
    assert hp.learning_rate == pytest.approx(entry.learning_rate)
    # given values still win over the policy
    _, given = resolve(validate_method(None, {"n_epochs": 2, "batch_size": 1}), n, entry)
    assert (given.n_epochs, given.batch_size) == (2, 1)


def test_a_catalog_file_sets_a_models_auto_policy(tmp_path: Any) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text('{"my-model": {"source": "/models/m", "auto": {"min_examples": 1000, "max_batch_size": 2}}}')
    entry = get_catalog(Settings(data_dir=tmp_path, catalog_path=catalog)).require("my-model")
    _, hp = resolve(validate_method(None), 100, entry)
    assert (hp.n_epochs, hp.batch_size) == (10, 2)
    assert get_catalog(Settings(data_dir=tmp_path)).require("Qwen/Qwen2.5-7B-Instruct").auto == AutoPolicy()
    catalog.write_text('{"my-model": {"source": "/models/m", "auto": {"min_batch_size": 16, "max_batch_size": 8}}}')
    with pytest.raises(CatalogError, match="min_batch_size"):
        get_catalog(Settings(data_dir=tmp_path, catalog_path=catalog))
