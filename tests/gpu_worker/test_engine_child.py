"""The child's contract with the worker: failure codes, exit status, cancel."""

from __future__ import annotations

import signal
import time

import pytest
from engine_harness import Harness
from engine_tasks import sentiment_rows
from safety_nets import safety_net

pytestmark = pytest.mark.slow


def test_invalid_extension_fails_with_a_code(harness: Harness) -> None:
    train = harness.upload("file-train", sentiment_rows(12, 1))
    run = harness.run(harness.spec("ftjob-badext01", training_file=train, n_examples=12, batch_size=4, n_epochs=1,
                                   extensions={"lora_rank": "huge"}))
    failed = run.last("failed")
    assert failed.code == "invalid_extensions" and "lora_rank" in (failed.message or "")
    assert run.proc.returncode == 1


def test_missing_training_file_fails(harness: Harness) -> None:
    run = harness.run(harness.spec("ftjob-nofile01", training_file="file-missing", n_examples=12,
                                   batch_size=4, n_epochs=1))
    failed = run.last("failed")
    assert failed.code == "store_error" and run.proc.returncode == 1
    assert "missing from the artifact store" in (failed.message or "")
    assert "files/" not in (failed.message or "")  # a user-facing message never names a store key


def test_sigterm_cancels_promptly_and_publishes_nothing(harness: Harness) -> None:
    train = harness.upload("file-train", sentiment_rows(200, 1))
    run = harness.start(harness.spec("ftjob-cancel01", training_file=train, n_examples=200, batch_size=2,
                                     n_epochs=3))
    run.wait_for("metrics", step=2)
    started = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    rc = run.finish()
    # promptly: long before the ~300 steps left would end, and without publishing anything
    assert time.monotonic() - started < safety_net(6) and rc != 0
    assert not run.of("succeeded") and not harness.store.list("models/")
