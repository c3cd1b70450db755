"""``/v1/evals`` with the official client (strict): evals, runs, output items, tenancy, sync and async."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
import pytest

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

ITEM_SCHEMA = {"type": "object", "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
               "required": ["question", "answer"]}
CRITERIA: list[dict[str, Any]] = [
    {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}",
     "operation": "eq"},
    {"type": "text_similarity", "name": "close", "input": "{{sample.output_text}}",
     "reference": "{{item.answer}}", "evaluation_metric": "fuzzy_match", "pass_threshold": 0.8},
]
# answer, sample given with it -> exact passes?, close passes?
ROWS = [("paris", "paris", True, True), ("rome", "Rome!", False, False), ("berlin", "berlinn", False, True),
        ("madrid", "madrid", True, True)]


def _content() -> list[dict[str, Any]]:
    return [{"item": {"question": f"capital {i}", "answer": a}, "sample": {"output_text": s}}
            for i, (a, s, _, _) in enumerate(ROWS)]


def _create_eval(client: openai.OpenAI) -> Any:
    return client.evals.create(name="capitals", metadata={"team": "geo"},
                               data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA,
                                                   "include_sample_schema": True},
                               testing_criteria=CRITERIA)  # type: ignore[arg-type]


def _wait(client: openai.OpenAI, eval_id: str, run_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "failed", "canceled") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_eval_crud_and_tenancy(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    ev = _create_eval(client)
    assert ev.object == "eval" and ev.id.startswith("eval_") and ev.name == "capitals"
    assert ev.metadata == {"team": "geo"}
    assert ev.data_source_config.type == "custom"
    schema = ev.data_source_config.schema_
    assert schema["properties"]["item"] == ITEM_SCHEMA and "sample" in schema["properties"]
    assert [c.name for c in ev.testing_criteria] == ["exact", "close"]
    assert ev.testing_criteria[1].pass_threshold == 0.8  # type: ignore[union-attr]

    nameless = {k: v for k, v in CRITERIA[0].items() if k != "name"}  # as OpenAI's examples write them
    second = client.evals.create(data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA},
                                 testing_criteria=[nameless])  # type: ignore[list-item]
    assert second.testing_criteria[0].name == "string_check"
    assert [e.id for e in client.evals.list()] == [ev.id, second.id]
    assert [e.id for e in client.evals.list(order="desc", limit=1).data] == [second.id]
    renamed = client.evals.update(ev.id, name="capitals v2", metadata={"team": "maps"})
    assert (renamed.name, renamed.metadata) == ("capitals v2", {"team": "maps"})
    assert client.evals.retrieve(ev.id).name == "capitals v2"
    assert [e.id for e in client.evals.list(order_by="updated_at", order="desc")][0] == ev.id

    with pytest.raises(openai.NotFoundError) as err:
        other_client.evals.retrieve(ev.id)
    assert err.value.status_code == 404 and err.value.body["param"] == "eval_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        other_client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {
            "type": "file_content", "content": _content()}})
    assert other_client.evals.list().data == []

    deleted = client.evals.delete(second.id)
    assert (deleted.deleted, deleted.eval_id) == (True, second.id)
    with pytest.raises(openai.NotFoundError):
        client.evals.retrieve(second.id)


def test_jsonl_run_scores_items_and_lists_output_items(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    ev = _create_eval(client)
    run = client.evals.runs.create(ev.id, name="given samples", metadata={"k": "v"}, data_source={
        "type": "jsonl", "source": {"type": "file_content", "content": _content()}})
    assert run.object == "eval.run" and run.id.startswith("evalrun_") and run.eval_id == ev.id
    assert run.status in ("queued", "in_progress", "completed") and run.name == "given samples"
    run = _wait(client, ev.id, run.id)
    assert run.status == "completed", run.error
    exact = sum(r[2] for r in ROWS)
    both = sum(r[2] and r[3] for r in ROWS)
    counts = run.result_counts
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (4, both, 4 - both, 0)
    per = {r.testing_criteria: (r.passed, r.failed) for r in run.per_testing_criteria_results}
    close = sum(r[3] for r in ROWS)
    assert per == {"exact": (exact, 4 - exact), "close": (close, 4 - close)}

    items = client.evals.runs.output_items.list(run.id, eval_id=ev.id)
    assert [i.datasource_item_id for i in items] == [0, 1, 2, 3]
    for item, (answer, given, ok_exact, ok_close) in zip(items, ROWS, strict=True):
        assert item.object == "eval.run.output_item" and item.run_id == run.id and item.eval_id == ev.id
        assert item.datasource_item["answer"] == answer
        assert item.status == ("pass" if ok_exact and ok_close else "fail")
        results = {r.name: r for r in item.results}
        assert (results["exact"].passed, results["close"].passed) == (ok_exact, ok_close)
        assert results["exact"].score == (1.0 if ok_exact else 0.0)
        assert item.sample.output[0].content == given
    passing = client.evals.runs.output_items.list(run.id, eval_id=ev.id, status="pass")
    assert [i.datasource_item_id for i in passing] == [i for i, r in enumerate(ROWS) if r[2] and r[3]]
    one = client.evals.runs.output_items.retrieve(items.data[1].id, eval_id=ev.id, run_id=run.id)
    assert one.id == items.data[1].id and one.results[0].score == 0.0
    page = client.evals.runs.output_items.list(run.id, eval_id=ev.id, limit=2)
    assert [i.datasource_item_id for i in page.data] == [0, 1] and page.has_more

    assert [r.id for r in client.evals.runs.list(ev.id, status="completed")] == [run.id]
    assert client.evals.runs.list(ev.id, status="queued").data == []
    with pytest.raises(openai.BadRequestError) as err:
        client.evals.runs.cancel(run.id, eval_id=ev.id)
    assert "Cannot cancel an eval run with status completed" in err.value.message
    with pytest.raises(openai.NotFoundError):
        other_client.evals.runs.output_items.list(run.id, eval_id=ev.id)

    gone = client.evals.runs.delete(run.id, eval_id=ev.id)
    assert (gone.deleted, gone.run_id) == (True, run.id)
    with pytest.raises(openai.NotFoundError):
        client.evals.runs.retrieve(run.id, eval_id=ev.id)


def test_run_from_an_uploaded_file(client: openai.OpenAI) -> None:
    ev = _create_eval(client)
    lines = "".join(json.dumps(row) + "\n" for row in _content())
    file = client.files.create(file=("capitals.jsonl", lines.encode()), purpose="user_data")
    run = client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_id",
                                                                                    "id": file.id}})
    run = _wait(client, ev.id, run.id)
    assert run.status == "completed" and run.result_counts.total == 4
    assert run.data_source.source.type == "file_id"  # type: ignore[union-attr]


def test_missing_template_variable_counts_as_errored(client: openai.OpenAI) -> None:
    ev = client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"}},
                             testing_criteria=[{"type": "string_check", "name": "x", "operation": "eq",
                                                "input": "{{item.nope}}", "reference": "a"}])
    run = client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {
        "type": "file_content", "content": [{"item": {"a": 1}}, {"item": {"nope": "a"}}]}})
    run = _wait(client, ev.id, run.id)
    assert run.status == "completed"
    assert (run.result_counts.errored, run.result_counts.passed) == (1, 1)


async def test_async_client_drives_runs(async_client: openai.AsyncOpenAI) -> None:
    ev = await async_client.evals.create(name="async", data_source_config={
        "type": "custom", "item_schema": ITEM_SCHEMA}, testing_criteria=CRITERIA)  # type: ignore[arg-type]
    run = await async_client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {
        "type": "file_content", "content": _content()}})
    for _ in range(300):
        run = await async_client.evals.runs.retrieve(run.id, eval_id=ev.id)
        if run.status == "completed":
            break
        await asyncio.sleep(0.2)
    assert run.status == "completed" and run.result_counts.total == 4
    items = [i async for i in async_client.evals.runs.output_items.list(run.id, eval_id=ev.id, limit=1)]
    assert len(items) == 4
    runs = await async_client.evals.runs.list(ev.id)
    assert [r.id for r in runs.data] == [run.id]
    assert (await async_client.evals.delete(ev.id)).deleted


def test_sample_json_fields_are_graded(client: openai.OpenAI) -> None:
    ev = client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"},
                                                 "include_sample_schema": True},
                             testing_criteria=[{"type": "string_check", "name": "city", "operation": "eq",
                                                "input": "{{sample.output_json.city}}",
                                                "reference": "{{item.city}}"}])
    rows = [{"item": {"city": "paris"}, "sample": {"output_text": '{"city": "paris"}'}},
            {"item": {"city": "rome"}, "sample": {"output_json": {"city": "rome"}}},
            {"item": {"city": "oslo"}, "sample": {"output_text": '{"city": "bergen"}'}}]
    run = client.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_content",
                                                                                    "content": rows}})
    run = _wait(client, ev.id, run.id)
    assert (run.result_counts.passed, run.result_counts.failed) == (2, 1)
