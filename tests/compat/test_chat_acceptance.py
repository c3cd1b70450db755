"""Acceptance: a job trained through the real API serves what it learned.

The embedded mode (API + scheduler + local worker) fine-tunes ``tiny-chat`` with every
hyperparameter ``auto`` on a deterministic task; with the official client the ``ft:`` model then
answers held-out prompts at least 90% right where the base model answers none, its
checkpoints answer too, a stream joins into the non-streamed text, and the worker's recorded
samples pass the train-to-serve check the service runs on its own once the job succeeds.
"""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from embedded import embedded_server, fast_settings
from serving import tasks
from serving.fixtures import settings, tiny_cache  # noqa: F401
from sqlalchemy.engine import Engine

from core.protocol import succeeded_report_key
from core.settings import Settings
from core.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)]


@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store) -> Iterator[Any]:
    with embedded_server(fast_settings(settings, device="cpu"), engine, store) as live:
        yield live


def wait_done(client: openai.OpenAI, job_id: str, timeout: float = 1800) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def greedy(client: openai.OpenAI, model: str, messages: list[dict[str, Any]]) -> str:
    r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=24)
    return r.choices[0].message.content or ""


def test_fine_tuned_tiny_chat_learns_the_task_and_serves_it(client: openai.OpenAI, server: Any,
                                                            store: Store) -> None:
    train, held_out = tasks.sentiment()
    file_id = client.files.create(file=("train.jsonl", tasks.write_jsonl(train), "application/jsonl"),
                                  purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=file_id, suffix="sentiment")
    job = wait_done(client, job.id)
    assert job.status == "succeeded", job.error
    model = job.fine_tuned_model
    assert model is not None

    expected = [e for _, e in held_out]
    base = [greedy(client, "tiny-chat", ex["messages"]) for ex, _ in held_out]
    tuned = [greedy(client, model, ex["messages"]) for ex, _ in held_out]
    assert tasks.exact(base, expected) <= 0.5  # the pretrained base may know some of it, not the task
    assert tasks.exact(tuned, expected) >= 0.9, list(zip(tuned, expected, strict=True))

    streamed = client.chat.completions.create(model=model, messages=held_out[0][0]["messages"], temperature=0,
                                              max_tokens=24, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == tuned[0]

    for ckpt in client.fine_tuning.jobs.checkpoints.list(job.id).data:
        assert client.models.retrieve(ckpt.fine_tuned_model_checkpoint).id == ckpt.fine_tuned_model_checkpoint
        assert greedy(client, ckpt.fine_tuned_model_checkpoint, held_out[0][0]["messages"])

    # the service ran the train-to-serve check on its own: the worker's samples, served, agree
    assert store.read_json(succeeded_report_key(job.id))["samples"]
    check = wait_event(client, job.id, "Train-to-serve check")
    assert check.level == "info" and check.message.startswith(f"Train-to-serve check passed: {model}"), check


def wait_event(client: openai.OpenAI, job_id: str, prefix: str, timeout: float = 300) -> Any:
    """The job's first event whose message starts with ``prefix``, waiting for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in client.fine_tuning.jobs.list_events(job_id, limit=100).data:
            if event.message.startswith(prefix):
                return event
        time.sleep(0.5)
    raise AssertionError(f"no {prefix!r} event on {job_id} in {timeout} s")
