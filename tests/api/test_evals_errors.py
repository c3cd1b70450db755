"""Malformed evals, runs and graders inside them: each is a 400 in OpenAI's shape naming its param."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}, "a": {"type": "string"}}, "required": ["q"]}
CHECK = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.a}}",
         "operation": "eq"}
CONFIG = {"type": "custom", "item_schema": SCHEMA}


def _eval(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data_source_config": CONFIG, "testing_criteria": [CHECK]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def _crit(**changes: Any) -> dict[str, Any]:
    spec = {**CHECK, **changes}
    return _eval(testing_criteria=[{k: v for k, v in spec.items() if v is not None}])


SIM = {"type": "text_similarity", "name": "sim", "input": "{{sample.output_text}}", "reference": "x",
       "evaluation_metric": "fuzzy_match", "pass_threshold": 0.5}
NAMELESS = {k: v for k, v in SIM.items() if k != "name"}  # known by its type
LABEL = {"type": "label_model", "name": "judge", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
         "labels": ["good", "bad"], "passing_labels": ["good"]}

BAD_EVALS: list[tuple[str, dict[str, Any], str]] = [
    ("no config", _eval(data_source_config=None), "data_source_config"),
    ("no criteria", _eval(testing_criteria=None), "testing_criteria"),
    ("empty criteria", _eval(testing_criteria=[]), "testing_criteria"),
    ("config type logs", _eval(data_source_config={"type": "logs"}), "data_source_config.type"),
    ("config type stored", _eval(data_source_config={"type": "stored_completions"}), "data_source_config.type"),
    ("config type unknown", _eval(data_source_config={"type": "csv", "item_schema": SCHEMA}),
     "data_source_config.type"),
    ("no item_schema", _eval(data_source_config={"type": "custom"}), "data_source_config.item_schema"),
    ("item_schema not a schema", _eval(data_source_config={"type": "custom", "item_schema": {"type": 12}}),
     "data_source_config.item_schema"),
    ("include_sample_schema not bool", _eval(data_source_config={**CONFIG, "include_sample_schema": "yes"}),
     "data_source_config.include_sample_schema"),
    ("unknown config field", _eval(data_source_config={**CONFIG, "foo": 1}), "data_source_config.foo"),
    ("criterion not an object", _eval(testing_criteria=["exact"]), "testing_criteria[0]"),
    ("criterion unknown type", _crit(type="regex"), "testing_criteria[0].type"),
    ("criterion multi", _crit(type="multi"), "testing_criteria[0].type"),
    ("string_check bad operation", _crit(operation="contains"), "testing_criteria[0].operation"),
    ("string_check no reference", _crit(reference=None), "testing_criteria[0].reference"),
    ("string_check input not a string", _crit(input=["x"]), "testing_criteria[0].input"),
    ("string_check with pass_threshold", _crit(pass_threshold=0.5), "testing_criteria[0].pass_threshold"),
    ("text_similarity no threshold", _eval(testing_criteria=[{**SIM, "pass_threshold": None}]),
     "testing_criteria[0].pass_threshold"),
    ("text_similarity bad metric", _eval(testing_criteria=[{**SIM, "evaluation_metric": "jaccard"}]),
     "testing_criteria[0].evaluation_metric"),
    ("threshold a string", _eval(testing_criteria=[{**SIM, "pass_threshold": "high"}]),
     "testing_criteria[0].pass_threshold"),
    ("label_model passing label not a label", _eval(testing_criteria=[{**LABEL, "passing_labels": ["meh"]}]),
     "testing_criteria[0].passing_labels"),
    ("label_model no labels", _eval(testing_criteria=[{**LABEL, "labels": []}]), "testing_criteria[0].labels"),
    ("score_model no input", _eval(testing_criteria=[{"type": "score_model", "name": "s", "model": "tiny-chat"}]),
     "testing_criteria[0].input"),
    ("duplicate names", _eval(testing_criteria=[CHECK, CHECK]), "testing_criteria[1].name"),
    ("duplicate default names", _eval(testing_criteria=[NAMELESS, NAMELESS]),
     "testing_criteria[1].name"),
    ("second criterion bad", _eval(testing_criteria=[CHECK, {**SIM, "evaluation_metric": 3}]),
     "testing_criteria[1].evaluation_metric"),
    ("unknown judge model", _eval(testing_criteria=[CHECK, {**LABEL, "model": "gpt-9"}]),
     "testing_criteria[1].model"),
    ("another project's judge", _eval(testing_criteria=[{"type": "score_model", "name": "s", "input": [
        {"role": "user", "content": "rate {{sample.output_text}}"}], "model": "ft:tiny-chat:proj-b::abcd1234"}]),
     "testing_criteria[0].model"),
    ("metadata too many", _eval(metadata={str(i): "v" for i in range(17)}), "metadata"),
    ("metadata value too long", _eval(metadata={"k": "v" * 513}), "metadata"),
    ("unknown top-level field", _eval(colour="red"), "colour"),
    ("name not a string", _eval(name=["x"]), "name"),
]

ITEMS = [{"item": {"q": "a?", "a": "b"}}]
JSONL = {"type": "jsonl", "source": {"type": "file_content", "content": ITEMS}}
COMPLETIONS = {"type": "completions", "model": "tiny-chat", "source": {"type": "file_content", "content": ITEMS},
               "input_messages": {"type": "template", "template": [{"role": "user", "content": "{{item.q}}"}]}}

BAD_RUNS: list[tuple[str, dict[str, Any], str]] = [
    ("no data_source", {}, "data_source"),
    ("type responses", {"data_source": {**JSONL, "type": "responses"}}, "data_source.type"),
    ("type unknown", {"data_source": {**JSONL, "type": "csv"}}, "data_source.type"),
    ("no source", {"data_source": {"type": "jsonl"}}, "data_source.source"),
    ("source type unknown", {"data_source": {"type": "jsonl", "source": {"type": "url"}}},
     "data_source.source"),
    ("stored_completions source", {"data_source": {**COMPLETIONS, "source": {"type": "stored_completions"}}},
     "data_source.source.type"),
    ("empty content", {"data_source": {"type": "jsonl", "source": {"type": "file_content", "content": []}}},
     "data_source.source.content"),
    ("row without item", {"data_source": {"type": "jsonl", "source": {"type": "file_content",
                                                                       "content": [{"sample": {}}]}}},
     "data_source.source.content[0].item"),
    ("item not matching schema", {"data_source": {"type": "jsonl", "source": {
        "type": "file_content", "content": [*ITEMS, {"item": {"a": "no q"}}]}}}, "data_source.source.content[1].item"),
    ("unknown file", {"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": "file-nope"}}},
     "data_source.source.id"),
    ("completions without model", {"data_source": {k: v for k, v in COMPLETIONS.items() if k != "model"}},
     "data_source.model"),
    ("completions unknown model", {"data_source": {**COMPLETIONS, "model": "gpt-9"}}, "data_source.model"),
    ("completions other project's model", {"data_source": {**COMPLETIONS, "model": "ft:tiny-chat:proj-b::abcd1234"}},
     "data_source.model"),
    ("completions no input_messages", {"data_source": {k: v for k, v in COMPLETIONS.items()
                                                       if k != "input_messages"}}, "data_source.input_messages"),
    ("empty template", {"data_source": {**COMPLETIONS, "input_messages": {"type": "template", "template": []}}},
     "data_source.input_messages.template"),
    ("template bad role", {"data_source": {**COMPLETIONS, "input_messages": {
        "type": "template", "template": [{"role": "robot", "content": "x"}]}}},
     "data_source.input_messages.template[0].role"),
    ("item_reference outside item", {"data_source": {**COMPLETIONS, "input_messages": {
        "type": "item_reference", "item_reference": "sample.x"}}}, "data_source.input_messages.item_reference"),
    ("temperature out of range", {"data_source": {**COMPLETIONS, "sampling_params": {"temperature": 7}}},
     "data_source.sampling_params.temperature"),
    ("max tokens zero", {"data_source": {**COMPLETIONS, "sampling_params": {"max_completion_tokens": 0}}},
     "data_source.sampling_params.max_completion_tokens"),
    ("json_schema format", {"data_source": {**COMPLETIONS, "sampling_params": {
        "response_format": {"type": "json_schema"}}}}, "data_source.sampling_params.response_format"),
    ("tools", {"data_source": {**COMPLETIONS, "sampling_params": {"tools": [{"type": "function"}]}}},
     "data_source.sampling_params.tools"),
    ("run metadata too many", {"data_source": JSONL, "metadata": {str(i): "v" for i in range(17)}}, "metadata"),
    ("unknown run field", {"data_source": JSONL, "model": "tiny-chat"}, "model"),
]


def _assert_400(resp: Any, param: str) -> None:
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param, error
    assert error["code"] is None or isinstance(error["code"], str)


def test_malformed_evals_are_400_naming_the_param(http: Any) -> None:
    for _label, body, param in BAD_EVALS:
        _assert_400(http.post("/v1/evals", json=body), param)
    assert http.get("/v1/evals").json()["data"] == []  # none was created


def test_malformed_runs_are_400_naming_the_param(http: Any) -> None:
    ev = http.post("/v1/evals", json=_eval()).json()
    for _label, body, param in BAD_RUNS:
        _assert_400(http.post(f"/v1/evals/{ev['id']}/runs", json=body), param)
    assert http.get(f"/v1/evals/{ev['id']}/runs").json()["data"] == []


def test_bad_lines_of_an_uploaded_file_are_named(http: Any) -> None:
    ev = http.post("/v1/evals", json=_eval()).json()
    fid = http.post("/v1/files", files={"file": ("e.jsonl", b'{"item": {"q": "x"}}\nnot json\n')},
                    data={"purpose": "user_data"}).json()["id"]
    resp = http.post(f"/v1/evals/{ev['id']}/runs",
                     json={"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": fid}}})
    _assert_400(resp, "data_source.source.id")
    assert "Line 2" in resp.json()["error"]["message"]


def test_list_parameters_and_unknown_ids(http: Any) -> None:
    ev = http.post("/v1/evals", json=_eval()).json()
    assert http.get("/v1/evals", params={"limit": 0}).json()["error"]["param"] == "limit"
    assert http.get("/v1/evals", params={"order_by": "name"}).json()["error"]["param"] == "order_by"
    assert http.get(f"/v1/evals/{ev['id']}/runs", params={"status": "done"}).json()["error"]["param"] == "status"
    assert http.get("/v1/evals", params={"after": "eval_nope"}).json()["error"]["param"] == "after"
    for path in ("/v1/evals/eval_nope", f"/v1/evals/{ev['id']}/runs/evalrun_nope",
                 f"/v1/evals/{ev['id']}/runs/evalrun_nope/output_items"):
        resp = http.get(path)
        assert resp.status_code == 404 and resp.json()["error"]["type"] == "invalid_request_error"
