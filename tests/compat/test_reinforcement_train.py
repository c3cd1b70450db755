"""A reinforcement job trains end to end with the strict client (embedded mode, tiny-chat on CPU):
reward metrics in events and in the results file, checkpoints, a published model; pause and resume."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import jsonl
from live_server import LiveServer
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)]

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}


@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store) -> Iterator[LiveServer]:
    with embedded_server(fast_settings(settings), engine, store) as live:
        yield live


def row(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"Say {i}"}], "answer": str(i)}


def wait(client: openai.OpenAI, job_id: str, wanted: set[str], timeout: float = 400) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.fine_tuning.jobs.retrieve(job_id).status
        if status in wanted:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job never reached {wanted}")


def test_reinforcement_job_trains_and_reports_rewards(client: openai.OpenAI) -> None:
    up = lambda rows, name: client.files.create(file=(name, jsonl(rows), "application/jsonl"),  # noqa: E731
                                                purpose="fine-tune").id
    train, valid = up([row(i) for i in range(12)], "t.jsonl"), up([row(i) for i in range(20, 23)], "v.jsonl")
    hp = {"n_epochs": 1, "batch_size": 2, "compute_multiplier": 0.5, "reasoning_effort": "low", "eval_interval": 3}
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=train, validation_file=valid,
        method={"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": hp}})
    status = wait(client, job.id, {"succeeded", "failed", "cancelled"})
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert status == "succeeded", job.error
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e.data for e in events if e.type == "metrics"]
    steps = sorted(int(m["step"]) for m in metrics)
    assert steps == list(range(1, 7))
    for m in metrics:
        assert 0.0 <= m["train_reward_mean"] <= 1.0 and m["mean_output_tokens"] > 0
        assert m["grader_errors"] == 0
    by_step = {int(m["step"]): m for m in metrics}
    assert "valid_reward_mean" in by_step[3] and "valid_reward_mean" not in by_step[2]
    assert "full_valid_reward_mean" in by_step[6]
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and all(c.fine_tuned_model_checkpoint.startswith(job.fine_tuned_model) for c in checkpoints)
    content = client.files.content(job.result_files[0]).read().decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0])[:3] == ["step", "train_reward_mean", "valid_reward_mean"] and len(rows) == 6
    answer = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "Say 3"}],
                                            max_tokens=8)
    assert answer.choices[0].message.content is not None
