"""Reinforcement jobs driven through the official client, for the tests that train one end to end.

Import from tests: ``from reinforcement_jobs import EXACT, create_job, ...``. The task is
"Say 3" -> ``3`` graded by an exact-match ``string_check`` (``item.answer``). Waiting is
:mod:`polling`'s.
"""

from __future__ import annotations

import time
from typing import Any

import openai
from factories import jsonl
from polling import DONE

EXACT = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
         "reference": "{{item.answer}}", "operation": "eq"}


def say_row(i: int) -> dict[str, Any]:
    """One reinforcement line: a prompt and the answer the grader reads as ``item.answer``."""
    return {"messages": [{"role": "user", "content": f"Say {i}"}], "answer": str(i)}


def create_job(client: openai.OpenAI, grader: dict[str, Any], hp: dict[str, Any], *, n_rows: int = 12) -> str:
    """Upload ``n_rows`` lines and create a reinforcement job on tiny-chat; its id."""
    train = client.files.create(file=("t.jsonl", jsonl([say_row(i) for i in range(n_rows)]), "application/jsonl"),
                                purpose="fine-tune").id
    return client.fine_tuning.jobs.create(
        model="tiny-chat", training_file=train,
        method={"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": hp}}).id


def all_messages(client: openai.OpenAI, job_id: str) -> list[str]:
    """Every event message of the job, oldest first."""
    return [e.message for e in reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=1000)))]


def training_steps(client: openai.OpenAI, job_id: str) -> list[int]:
    """The steps of the job's training ``metrics`` events (not its eval scores), oldest first."""
    events = reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=1000)))
    return [int(e.data["step"]) for e in events
            if e.type == "metrics" and isinstance(e.data, dict) and "train_reward_mean" in e.data]


def wait_past_first_checkpoint(client: openai.OpenAI, job_id: str, timeout: float = 400) -> int:
    """Wait until the job has a listed checkpoint and has trained a step beyond it; that step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kept = client.fine_tuning.jobs.checkpoints.list(job_id).data
        steps = training_steps(client, job_id)
        if kept and steps and max(steps) > min(c.step_number for c in kept):
            return max(steps)
        assert client.fine_tuning.jobs.retrieve(job_id).status not in DONE, all_messages(client, job_id)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never trained past its first checkpoint")


def assert_resumed_to_the_end(client: openai.OpenAI, job_id: str, total_steps: int) -> None:
    """A job whose worker was lost mid-run: requeued, resumed from a checkpoint, every step trained."""
    log = all_messages(client, job_id)
    assert any(" stopped responding; job requeued, it will resume from checkpoint step" in m for m in log), log
    assert any(m.startswith("Resuming from checkpoint at step") for m in log), log
    assert log.count("The job has successfully completed") == 1, log
    assert set(training_steps(client, job_id)) == set(range(1, total_steps + 1))
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.fine_tuned_model and client.models.retrieve(job.fine_tuned_model).id == job.fine_tuned_model
