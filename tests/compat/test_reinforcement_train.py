"""A reinforcement job trains end to end with the strict client (embedded mode, tiny-chat on CPU):
reward metrics in events and in the results file, checkpoints (each scored by the job's
``openft.eval_id`` eval), a published model; pause and resume."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import jsonl
from live_server import LiveServer
from polling import DONE, job_messages, wait_for, wait_status
from reinforcement_jobs import EXACT, create_job, say_row
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)]

@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store) -> Iterator[LiveServer]:
    with embedded_server(fast_settings(settings), engine, store) as live:
        yield live


@pytest.fixture
def lenient(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """A non-strict client, for responses with status ``paused`` (not in the client's enum)."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key) as c:
        yield c


def _say_eval(client: openai.OpenAI) -> tuple[str, dict]:
    """An eval of "Say i" answers (exact match) and a completions data source over held-out numbers."""
    ev = client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"}},
                             testing_criteria=[{**EXACT, "name": "said"}])  # type: ignore[list-item]
    content = [{"item": say_row(i)} for i in range(30, 34)]
    return ev.id, {"type": "completions", "source": {"type": "file_content", "content": content},
                   "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
                   "sampling_params": {"temperature": 0, "max_completion_tokens": 8}}


def test_reinforcement_job_trains_and_reports_rewards(client: openai.OpenAI) -> None:
    up = lambda rows, name: client.files.create(file=(name, jsonl(rows), "application/jsonl"),  # noqa: E731
                                                purpose="fine-tune").id
    train, valid = up([say_row(i) for i in range(12)], "t.jsonl"), up([say_row(i) for i in range(20, 23)], "v.jsonl")
    hp = {"n_epochs": 2, "batch_size": 4, "compute_multiplier": 0.25, "reasoning_effort": "low", "eval_interval": 3}
    eval_id, eval_source = _say_eval(client)
    job = client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=train, validation_file=valid,
        method={"type": "reinforcement", "reinforcement": {"grader": EXACT, "hyperparameters": hp}},
        extra_body={"openft": {"eval_id": eval_id, "eval_data_source": eval_source}})
    status = wait_status(client, job.id, DONE, timeout=400)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert status == "succeeded", job.error
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e.data for e in events if e.type == "metrics" and "train_reward_mean" in e.data]
    steps = sorted(int(m["step"]) for m in metrics)
    assert steps == list(range(1, 7))
    for m in metrics:
        assert 0.0 <= m["train_reward_mean"] <= 1.0 and m["mean_output_tokens"] > 0
        assert m["grader_errors"] == 0
    by_step = {int(m["step"]): m for m in metrics}
    assert "valid_reward_mean" in by_step[3] and "valid_reward_mean" not in by_step[2]
    assert "full_valid_reward_mean" in by_step[6]
    assert any(e.message.startswith("Step 3/6: train reward=") and "validation reward=" in e.message
               for e in events if e.type == "metrics")
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert sorted(c.step_number for c in checkpoints) == [3, 6]
    assert all(c.fine_tuned_model_checkpoint.startswith(job.fine_tuned_model) for c in checkpoints)
    content = client.files.content(job.result_files[0]).read().decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0])[:3] == ["step", "train_reward_mean", "valid_reward_mean"] and len(rows) == 6
    answer = client.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "Say 3"}],
                                            max_tokens=8)
    assert answer.choices[0].message.content is not None

    # openft.eval_id: the eval ran on each kept checkpoint; its pass rates are on the checkpoints
    wait_for(lambda: all(hasattr(c.metrics, "eval_pass_rate")
                         for c in client.fine_tuning.jobs.checkpoints.list(job.id).data), "the checkpoint evals",
             timeout=300)
    runs = {r.model: r for r in client.evals.runs.list(eval_id)}
    for c in client.fine_tuning.jobs.checkpoints.list(job.id).data:
        run = runs[c.fine_tuned_model_checkpoint]
        assert run.status == "completed" and run.result_counts.total == 4
        assert c.metrics.eval_pass_rate == run.result_counts.passed / 4  # type: ignore[attr-defined]
        assert c.metrics.eval_said_pass_rate == c.metrics.eval_pass_rate  # type: ignore[attr-defined]


def test_reinforcement_job_pauses_resumes_from_its_checkpoint_and_cancels(
        client: openai.OpenAI, lenient: openai.OpenAI) -> None:
    hp = {"n_epochs": 2, "batch_size": 2, "compute_multiplier": 0.25, "reasoning_effort": "low"}
    job_id = create_job(client, EXACT, hp)
    wait_for(lambda: any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job_id, limit=5)),
              "a training step", timeout=300)
    assert lenient.fine_tuning.jobs.pause(job_id).status == "paused"
    wait_for(lambda: any(m.startswith("Fine-tuning job paused at step") for m in job_messages(client, job_id)),
              "the pause checkpoint", timeout=300)
    assert lenient.fine_tuning.jobs.resume(job_id).status == "queued"
    assert wait_status(lenient, job_id, DONE, timeout=400) == "succeeded"
    log = job_messages(client, job_id)
    assert any(m.startswith("Resuming from checkpoint at step") for m in log), log
    steps = [int(e.data["step"]) for e in client.fine_tuning.jobs.list_events(job_id, limit=100) if e.type == "metrics"]
    assert max(steps) == 12

    other = create_job(client, EXACT, hp)
    wait_for(lambda: client.fine_tuning.jobs.retrieve(other).status == "running", "the second job to run", timeout=300)
    assert client.fine_tuning.jobs.cancel(other).status == "cancelled"
    assert client.fine_tuning.jobs.retrieve(other).fine_tuned_model is None


def test_a_grader_that_mostly_errors_fails_the_job(client: openai.OpenAI) -> None:
    from core.graders.sandbox import sandbox_available

    if not sandbox_available():
        pytest.skip("this host cannot build the python grader sandbox")
    broken = {"type": "python", "name": "broken", "source": "def grade(sample, item):\n    raise ValueError('no')\n"}
    job_id = create_job(client, broken, {"n_epochs": 1, "batch_size": 2, "compute_multiplier": 0.5,
                                         "reasoning_effort": "low"})
    assert wait_status(client, job_id, DONE, timeout=400) == "failed"
    error = client.fine_tuning.jobs.retrieve(job_id).error
    assert error is not None and error.code == "grader_error"
    assert "python_grader_runtime_error" in error.message and "of 16 samples" in error.message
