"""``openft evals create|list|get|run|items`` and ``openft graders run|validate`` against the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdk._client import Client

DEFINITION = {
    "name": "capitals",
    "data_source_config": {"type": "custom", "item_schema": {"type": "object", "required": ["answer"]},
                           "include_sample_schema": True},
    "testing_criteria": [{"type": "string_check", "name": "exact", "operation": "eq",
                          "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}],
}
ROWS = [{"item": {"answer": "paris"}, "sample": {"output_text": "paris"}},
        {"item": {"answer": "rome"}, "sample": {"output_text": "milan"}},
        {"item": {"answer": "oslo"}, "sample": {"output_text": "oslo"}}]


def test_create_run_get_and_items(cli: Callable[..., Any], tmp_path: Path) -> None:
    definition = tmp_path / "eval.json"
    definition.write_text(json.dumps(DEFINITION))
    created = cli("evals", "create", definition, "--json")
    assert created.code == 0, created.err
    eval_id = created.json()["id"]
    assert created.json()["testing_criteria"][0]["name"] == "exact"

    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    ran = cli("evals", "run", eval_id, "--data", data, "--poll-interval", "0.1")
    assert ran.code == 0, ran.err
    assert "completed" in ran.out and "66.7%" in ran.out  # the table for people
    assert "3/3" in ran.err and "passed 2" in ran.err  # the live progress line

    as_json = cli("evals", "get", eval_id, "--json").json()
    assert as_json["eval"]["name"] == "capitals"
    run = as_json["runs"][0]
    assert run["result_counts"] == {"total": 3, "passed": 2, "failed": 1, "errored": 0}
    failing = cli("evals", "items", eval_id, run["id"], "--status", "fail", "--json").json()
    assert [i["datasource_item"]["answer"] for i in failing] == ["rome"]
    table = cli("evals", "items", eval_id, run["id"])
    assert "exact=1.00" in table.out and "milan" in table.out
    listed = cli("evals", "list")
    assert eval_id in listed.out and "capitals" in listed.out


def test_errors_exit_1_naming_the_param(cli: Callable[..., Any]) -> None:
    bad = cli("evals", "create", json.dumps({**DEFINITION, "testing_criteria": [{"type": "regex"}]}))
    assert bad.code == 1 and "testing_criteria[0].type" in bad.err
    missing = cli("evals", "get", "eval_nope", "--json")
    assert missing.code == 1 and missing.json()["error"]["status"] == 404


def test_graders_run_and_validate(cli: Callable[..., Any]) -> None:
    grader = json.dumps({"type": "string_check", "name": "g", "operation": "ilike", "input": "{{sample.output_text}}",
                         "reference": "%{{item.word}}%"})
    ran = cli("graders", "run", grader, "--sample", "a Big cat", "--item", '{"word": "big"}', "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["reward"] == 1.0
    people = cli("graders", "run", grader, "--sample", "small", "--item", '{"word": "big"}')
    assert people.code == 0 and people.out.startswith("reward") and " 0.0" in people.out.splitlines()[0]
    assert cli("graders", "validate", grader).out.strip() == "valid"
    invalid = cli("graders", "validate", json.dumps({"type": "string_check", "name": "g"}))
    assert invalid.code == 1 and "param: grader." in invalid.err


def test_sdk_wait_reports_progress(sdk: Client) -> None:
    ev = sdk.evals.create(**DEFINITION)  # type: ignore[arg-type]
    run = sdk.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_content",
                                                                                 "content": ROWS}})
    seen: list[str] = []
    done = sdk.evals.runs.wait(run.id, eval_id=ev.id, poll_interval=0.1, on_update=lambda r: seen.append(r.status))
    assert done.status == "completed" and seen[-1] == "completed"
    assert done.result_counts.passed == 2
