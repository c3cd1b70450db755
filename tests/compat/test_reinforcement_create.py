"""Reinforcement jobs with the strict official client: create, the echoed method, and every bad
request or file refused (400, or a failed job naming the code, the param and the line), none trained."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import jsonl
from live_server import LiveServer
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store import Store

pytestmark = [pytest.mark.no_worker, pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)]

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}
HP = "method[reinforcement][hyperparameters]"


@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store) -> Iterator[LiveServer]:
    """The scheduler alone (no worker): jobs validate and stay queued, nothing trains."""
    with embedded_server(fast_settings(settings), engine, store, worker=False) as live:
        yield live


def rft_row(i: int, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "developer", "content": "Answer with digits."},
                         {"role": "user", "content": f"What is {i} plus one?"}], "answer": str(i + 1), **extra}


def upload(client: openai.OpenAI, rows: list[dict[str, Any]] | bytes, name: str = "rft.jsonl") -> str:
    data = rows if isinstance(rows, bytes) else jsonl(rows)
    return client.files.create(file=(name, data, "application/jsonl"), purpose="fine-tune").id


def method(grader: Any = GRADER, **hp: Any) -> dict[str, Any]:
    return {"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": hp}}


def wait_final(client: openai.OpenAI, job_id: str) -> Any:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("queued", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("job never left validating_files")


def test_create_echoes_the_method_and_resolves_auto(client: openai.OpenAI) -> None:
    train, valid = upload(client, [rft_row(i) for i in range(12)]), upload(client, [rft_row(i) for i in range(5)])
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=train, validation_file=valid,
                                         method=method(compute_multiplier=1.5, reasoning_effort="low"))
    assert job.method.type == "reinforcement" and job.method.reinforcement is not None
    assert job.method.reinforcement.grader.type == "string_check"
    hp = job.method.reinforcement.hyperparameters
    assert (hp.compute_multiplier, hp.reasoning_effort, hp.n_epochs, hp.eval_interval) == (1.5, "low", "auto", "auto")
    job = wait_final(client, job.id)
    assert job.status == "queued", job.error
    hp = job.method.reinforcement.hyperparameters
    assert "auto" not in (hp.batch_size, hp.n_epochs, hp.learning_rate_multiplier, hp.eval_interval,
                          hp.eval_samples, hp.compute_multiplier)
    assert (hp.eval_samples, hp.compute_multiplier, hp.reasoning_effort) == (5, 1.5, "low")
    assert job.hyperparameters.n_epochs == hp.n_epochs


BAD_REQUESTS = [
    (method(None), "method[reinforcement][grader]", "missing_required_parameter"),
    (method({"type": "string_check", "name": "s", "reference": "y", "operation": "eq"}),
     "method[reinforcement][grader].input", "invalid_value"),
    (method({**GRADER, "operation": "equals"}), "method[reinforcement][grader].operation", "invalid_value"),
    (method({**GRADER, "type": "nope"}), "method[reinforcement][grader].type", "invalid_value"),
    (method({"type": "text_similarity", "name": "s", "input": "a", "reference": "b", "evaluation_metric": "bleu9"}),
     "method[reinforcement][grader].evaluation_metric", "invalid_value"),
    (method({"type": "score_model", "name": "j", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}]}),
     "method[reinforcement][grader].model", "unsupported_grader"),
    (method(compute_multiplier=0), f"{HP}[compute_multiplier]", "invalid_value"),
    (method(compute_multiplier=11), f"{HP}[compute_multiplier]", "invalid_value"),
    (method(compute_multiplier="lots"), f"{HP}[compute_multiplier]", "invalid_value"),
    (method(eval_interval=0), f"{HP}[eval_interval]", "invalid_value"),
    (method(eval_samples=1.5), f"{HP}[eval_samples]", "invalid_value"),
    (method(reasoning_effort="extreme"), f"{HP}[reasoning_effort]", "invalid_value"),
    (method(n_epochs=0), f"{HP}[n_epochs]", "invalid_value"),
    (method(batch_size=257), f"{HP}[batch_size]", "invalid_value"),
    (method(learning_rate_multiplier=-1), f"{HP}[learning_rate_multiplier]", "invalid_value"),
    (method(beta=0.1), f"{HP}[beta]", "invalid_value"),
    (method(eval_interval=2), "validation_file", "missing_required_parameter"),
    ({"type": "reinforcement", "reinforcement": {"grader": GRADER, "extra": 1}},
     "method[reinforcement][extra]", "invalid_value"),
    ({"type": "reinforcement", "dpo": {}}, "method[dpo]", "invalid_value"),
]


@pytest.mark.parametrize(("bad", "param", "code"), BAD_REQUESTS)
def test_bad_requests_are_400(client: openai.OpenAI, bad: dict[str, Any], param: str, code: str) -> None:
    train = upload(client, [rft_row(i) for i in range(12)])
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=train, method=bad)
    assert (err.value.param, err.value.code) == (param, code), err.value.body
    assert err.value.body["message"]
    assert client.fine_tuning.jobs.list().data == []


BAD_FILES = [
    ([rft_row(i) for i in range(9)], "invalid_n_examples", None),
    ([*[rft_row(i) for i in range(11)], {"messages": [{"role": "user", "content": "hi"}]}],
     "missing_item_field", 12),
    ([rft_row(0), {**rft_row(1), "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
      *[rft_row(i) for i in range(10)]], "invalid_last_message", 2),
    ([rft_row(0), rft_row(1), {"answer": "1"}, *[rft_row(i) for i in range(10)]], "missing_messages", 3),
    ([{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []},
      *[rft_row(i) for i in range(10)]], "wrong_format_for_method", 1),
    ([*[rft_row(i) for i in range(3)], {**rft_row(3), "messages": [{"role": "robot", "content": "x"}]},
      *[rft_row(i) for i in range(10)]], "unrecognized_role", 4),
    (b'{"messages": [{"role": "user", "content": "x"}], "answer": "1"}\n{oops\n' * 6, "invalid_json", 2),
]


@pytest.mark.parametrize(("rows", "code", "line"), BAD_FILES)
def test_bad_files_fail_the_job_naming_the_line(client: openai.OpenAI, rows: Any, code: str,
                                                line: int | None) -> None:
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, rows), method=method())
    job = wait_final(client, job.id)
    assert job.status == "failed" and job.error is not None
    assert (job.error.code, job.error.param) == (code, "training_file"), job.error
    if line is not None:
        assert job.error.message.startswith(f"Line {line}:"), job.error.message
    assert job.fine_tuned_model is None


def test_a_validation_file_missing_an_item_field_fails(client: openai.OpenAI) -> None:
    train = upload(client, [rft_row(i) for i in range(12)])
    valid = upload(client, [rft_row(0), {"messages": [{"role": "user", "content": "x"}], "answer": 3},
                            {"messages": [{"role": "user", "content": "x"}]}])
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=train, validation_file=valid,
                                         method=method())
    job = wait_final(client, job.id)
    assert job.status == "failed" and job.error is not None
    assert (job.error.code, job.error.param) == ("missing_item_field", "validation_file")
    assert job.error.message.startswith("Line 3:") and "{{item.answer}}" in job.error.message
