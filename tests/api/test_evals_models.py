"""Eval runs that sample served models: base vs ``ft:``, models deleted mid-run, and job hooks."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import tasks
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401
from sqlalchemy.engine import Engine

from core import ids
from core.db import session_scope
from core.tables import Checkpoint, Job, JobEvent

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

ANSWER = {"type": "string_check", "name": "answer", "operation": "eq", "input": "{{sample.output_text}}",
          "reference": "{{item.expected}}"}
SCHEMA = {"type": "object", "properties": {"messages": {"type": "array"}, "expected": {"type": "string"}},
          "required": ["messages", "expected"]}


def _held_out(n: int) -> list[dict[str, Any]]:
    _, held_out = tasks.sentiment()
    return [{"item": {"messages": ex["messages"], "expected": expected}} for ex, expected in held_out[:n]]


def _completions(model: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "completions", "model": model, "source": {"type": "file_content", "content": content},
            "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
            "sampling_params": {"temperature": 0, "max_completion_tokens": 16}}


def _wait(client: openai.OpenAI, eval_id: str, run_id: str, timeout: float = 600) -> Any:
    deadline = time.monotonic() + timeout
    while (run := client.evals.runs.retrieve(run_id, eval_id=eval_id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
    return run


def _wait_first_item(client: openai.OpenAI, eval_id: str, run_id: str) -> None:
    deadline = time.monotonic() + 300
    while client.evals.runs.retrieve(run_id, eval_id=eval_id).result_counts.total < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _eval(client: openai.OpenAI, criteria: list[dict[str, Any]]) -> Any:
    return client.evals.create(name="sentiment", data_source_config={"type": "custom", "item_schema": SCHEMA},
                               testing_criteria=criteria)  # type: ignore[arg-type]


@pytest.mark.slow
def test_fine_tuned_model_scores_above_its_base_in_one_eval(
        client: openai.OpenAI, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    ft = publish_model("proj-a", trained["sentiment"], suffix="sent")
    ev = _eval(client, [ANSWER])
    content = _held_out(12)
    base_run = client.evals.runs.create(ev.id, name="base", data_source=_completions("tiny-chat", content))
    ft_run = client.evals.runs.create(ev.id, name="ft", data_source=_completions(ft, content))
    base, tuned = _wait(client, ev.id, base_run.id), _wait(client, ev.id, ft_run.id)
    assert (base.status, tuned.status) == ("completed", "completed")
    assert tuned.result_counts.total == base.result_counts.total == 12
    assert tuned.result_counts.passed >= 10, tuned.result_counts
    assert base.result_counts.passed <= 1, base.result_counts
    assert tuned.model == ft and base.model == "tiny-chat"
    usage = {u.run_model_name: u for u in tuned.per_model_usage}
    assert usage[ft].invocation_count == 12 and usage[ft].completion_tokens > 0
    items = client.evals.runs.output_items.list(tuned.id, eval_id=ev.id, limit=100).data
    assert len(items) == 12
    item = next(i for i in items if i.results[0].passed)  # a passed item's sample is the expected answer
    assert item.sample.model == ft and item.sample.input[-1].role == "user"
    assert item.sample.output[0].content == item.datasource_item["expected"]
    assert item.sample.usage.total_tokens == item.sample.usage.prompt_tokens + item.sample.usage.completion_tokens


def test_sampled_model_deleted_mid_run_fails_the_run(
        client: openai.OpenAI, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    ft = publish_model("proj-a", trained["next_day"], suffix="days")
    ev = _eval(client, [ANSWER])
    content = _held_out(40) * 5
    run = client.evals.runs.create(ev.id, data_source=_completions(ft, content))
    _wait_first_item(client, ev.id, run.id)
    client.models.delete(ft)
    run = _wait(client, ev.id, run.id)
    assert run.status == "failed" and run.error.code == "model_not_found"
    assert ft in run.error.message and "deleted" in run.error.message
    assert 1 <= run.result_counts.total < len(content)


def test_judge_deleted_mid_run_fails_the_run(
        client: openai.OpenAI, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    judge = publish_model("proj-a", trained["sentiment"], suffix="judge")
    label = {"type": "label_model", "name": "judge", "model": judge, "labels": ["positive", "negative"],
             "passing_labels": ["positive"], "input": [{"role": "user", "content": "{{item.expected}}"}],
             "sampling_params": {"max_completions_tokens": 4}}
    ev = _eval(client, [label])
    rows = [{"item": {"messages": [], "expected": f"review {i}"}} for i in range(200)]
    run = client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_content",
                                                                                    "content": rows}})
    _wait_first_item(client, ev.id, run.id)
    client.models.delete(judge)
    run = _wait(client, ev.id, run.id)
    assert run.status == "failed" and run.error.code == "model_not_found"
    assert judge in run.error.message and "judge" in run.error.message
    assert any(u.run_model_name == judge for u in run.per_model_usage)


@pytest.mark.slow
def test_job_eval_id_scores_every_kept_checkpoint_and_the_final_model(
        client: openai.OpenAI, engine: Engine, publish_model: Callable[..., str], trained: dict[str, Path],
        tmp_path: Path) -> None:
    final = publish_model("proj-a", trained["sentiment"], suffix="sent")
    early = publish_model("proj-a", trained["next_day"], suffix="sent", kind="checkpoint")
    ev = _eval(client, [ANSWER])
    content = _held_out(10)
    training = client.files.create(file=("t.jsonl", tasks.write_jsonl(tasks.sentiment()[0][:20])),
                                   purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as err:  # no run yet to take a data source from
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id,
                                       extra_body={"openft": {"eval_id": ev.id}})
    assert err.value.body["param"] == "openft[eval_data_source]"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id,
                                       extra_body={"openft": {"eval_id": "eval_nope"}})
    assert err.value.body["param"] == "openft[eval_id]"  # type: ignore[index]
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=training.id, extra_body={
        "openft": {"eval_id": ev.id, "eval_data_source": _completions("tiny-chat", content)}})
    with session_scope(engine) as session:  # the job trains elsewhere; here it just succeeded
        row = session.get(Job, job.id)
        assert row is not None
        row.status, row.fine_tuned_model = "succeeded", final
        for step, model in ((10, early), (20, final)):
            session.add(Checkpoint(id=ids.checkpoint_id(), job_id=job.id, project_id="proj-a", step_number=step,
                                   fine_tuned_model_checkpoint=model, metrics={"step": float(step)}))
    deadline = time.monotonic() + 600
    while True:
        checkpoints = {c.step_number: c for c in client.fine_tuning.jobs.checkpoints.list(job.id)}
        if all(hasattr(c.metrics, "eval_pass_rate") for c in checkpoints.values()):
            break
        assert time.monotonic() < deadline, checkpoints
        time.sleep(0.3)
    assert checkpoints[20].metrics.eval_pass_rate >= 0.8 > checkpoints[10].metrics.eval_pass_rate  # type: ignore[attr-defined]
    assert checkpoints[20].metrics.eval_answer_pass_rate == checkpoints[20].metrics.eval_pass_rate  # type: ignore[attr-defined]
    events = client.fine_tuning.jobs.list_events(job.id, limit=50).data
    started = [e for e in events if e.message.startswith(f"Eval {ev.id} started on 2 models")]
    assert len(started) == 1
    run_ids = [r["run_id"] for r in started[0].data["runs"]]  # type: ignore[index]
    assert sorted(run_ids) == sorted(r.id for r in client.evals.runs.list(ev.id))
    scored = [e for e in events if e.type == "metrics" and (e.data or {}).get("eval_run_id") in run_ids]
    assert {e.data["step"] for e in scored} == {10, 20}  # type: ignore[index]
    with session_scope(engine) as session:
        assert session.query(JobEvent).filter(JobEvent.job_id == job.id).count() == len(events)
