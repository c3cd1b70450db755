"""DPO on top of an SFT model (``ft:`` parent): preferences raise held-out accuracy, output stays JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_harness import Harness, exact_match, load_trained
from engine_tasks import preference_rows, sentiment_rows

from core.catalog import open_tokenizer
from scheduler.hyperparams import AUTO_BETA, AUTO_LR_MULTIPLIER, auto_batch_size, auto_n_epochs

pytestmark = pytest.mark.slow

HELD_OUT = sentiment_rows(30, seed=1001)


def _well_formed(answer: str) -> bool:
    try:
        return set(json.loads(answer)) == {"label"}
    except ValueError:
        return False


def test_dpo_on_an_sft_model_raises_accuracy(harness: Harness, tiny_dir: Path, tmp_path: Path) -> None:
    # a weak SFT model: one short epoch learns the format, not yet the labels
    sft_train = harness.upload("file-sft", sentiment_rows(60, seed=1))
    sft_spec = harness.spec("ftjob-sftparent", training_file=sft_train, n_examples=60, batch_size=4, n_epochs=1)
    sft = harness.run(sft_spec).last("succeeded")
    assert sft.model_key
    sft_dir = harness.store.download_dir(sft.model_key, tmp_path / "sft")
    tokenizer = open_tokenizer(sft_dir)
    before, _, answers = exact_match(load_trained(tiny_dir, sft_dir), tokenizer, HELD_OUT)
    assert before < 0.85 and sum(map(_well_formed, answers)) >= 20, answers

    n = 150
    policy = harness.catalog.require("tiny-chat").auto  # what "auto" resolves to for tiny-chat
    pref = harness.upload("file-pref", preference_rows(sentiment_rows(n, seed=3)))
    valid = harness.upload("file-pref-valid", preference_rows(sentiment_rows(8, seed=4)))
    spec = harness.spec("ftjob-dpo00001", method="dpo", training_file=pref, validation_file=valid, n_examples=n,
                        batch_size=auto_batch_size(n, policy), n_epochs=auto_n_epochs(n, policy),
                        multiplier=AUTO_LR_MULTIPLIER["dpo"], beta=AUTO_BETA, parent=sft_spec.fine_tuned_model)
    run = harness.run(spec)
    done = run.last("succeeded")
    metrics = run.of("metrics")
    assert metrics[-1].metrics["train_mean_token_accuracy"] >= 0.9  # preference (reward) accuracy
    assert "full_valid_loss" in metrics[-1].metrics
    assert done.model_key
    dpo_dir = harness.store.download_dir(done.model_key, tmp_path / "dpo")
    after, stopped, answers = exact_match(load_trained(tiny_dir, dpo_dir), tokenizer, HELD_OUT)
    assert after >= before + 0.15, (before, after, answers)
    assert stopped == 1.0 and all(_well_formed(a) for a in answers)
    lineage = json.loads((dpo_dir / "lineage.json").read_text())
    assert lineage["parent_model"]["id"] == sft_spec.fine_tuned_model and lineage["method"] == "dpo"
