"""``client.fine_tuning.alpha.graders.run / validate`` with the official client (strict), sync and async."""

from __future__ import annotations

from typing import Any

import openai
import pytest

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

EXACT = {"type": "string_check", "name": "exact", "operation": "eq",
         "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}
FUZZY = {"type": "text_similarity", "name": "fuzzy", "evaluation_metric": "fuzzy_match",
         "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}


def test_run_string_check(client: openai.OpenAI) -> None:
    hit = client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="Paris", item={"answer": "Paris"})
    assert hit.reward == 1.0
    assert hit.metadata.name == "exact" and hit.metadata.type == "string_check"
    assert hit.metadata.scores == {"exact": 1.0}
    assert hit.metadata.execution_time > 0
    assert hit.metadata.token_usage is None and hit.api_model_grader_token_usage_per_model == {}
    errors = hit.metadata.errors.model_dump()
    assert not any(v for v in errors.values())
    assert set(errors) >= {"formula_parse_error", "invalid_variable_error", "python_grader_runtime_error",
                           "sample_parse_error", "truncated_observation_error", "unresponsive_reward_error"}
    miss = client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="Lyon", item={"answer": "Paris"})
    assert miss.reward == 0.0


def test_run_missing_item_field_is_an_invalid_variable(client: openai.OpenAI) -> None:
    res = client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="Paris", item={"other": 1})
    assert res.reward == 0.0
    assert res.metadata.errors.invalid_variable_error is True
    res = client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="Paris")  # no item at all
    assert res.metadata.errors.invalid_variable_error is True


def test_run_multi_with_named_graders(client: openai.OpenAI, http: Any) -> None:
    multi = {"type": "multi", "name": "combo", "calculate_output": "0.5 * exact + 0.5 * fuzzy",
             "graders": {"exact": EXACT, "fuzzy": FUZZY}}
    res = client.fine_tuning.alpha.graders.run(grader=multi, model_sample="kitten",  # type: ignore[arg-type]
                                               item={"answer": "sitting"})
    assert res.sub_rewards == pytest.approx({"exact": 0.0, "fuzzy": 8 / 13})
    assert res.reward == pytest.approx(0.5 * 8 / 13)
    assert res.metadata.type == "multi" and res.metadata.name == "combo"


async def test_async_run_and_validate(async_client: openai.AsyncOpenAI) -> None:
    res = await async_client.fine_tuning.alpha.graders.run(grader=FUZZY, model_sample="kitten",
                                                           item={"answer": "sitting"})
    assert res.reward == pytest.approx(8 / 13)
    valid = await async_client.fine_tuning.alpha.graders.validate(grader=FUZZY)
    assert valid.grader is not None and valid.grader.model_dump(exclude_none=True) == FUZZY


def test_validate_echoes_the_grader(client: openai.OpenAI) -> None:
    valid = client.fine_tuning.alpha.graders.validate(grader=EXACT)
    assert valid.grader is not None and valid.grader.model_dump(exclude_none=True) == EXACT
    single = {"type": "multi", "name": "m", "calculate_output": "exact * 2", "graders": EXACT}
    echoed = client.fine_tuning.alpha.graders.validate(grader=single)  # type: ignore[arg-type]
    assert echoed.grader is not None and echoed.grader.model_dump(exclude_none=True) == single


BAD: list[tuple[dict[str, Any], str]] = [
    ({**EXACT, "operation": "contains"}, "grader.operation"),
    ({k: v for k, v in EXACT.items() if k != "reference"}, "grader.reference"),
    ({k: v for k, v in EXACT.items() if k != "name"}, "grader.name"),
    ({**EXACT, "input": 5}, "grader.input"),
    ({**EXACT, "type": "regex"}, "grader.type"),
    ({k: v for k, v in EXACT.items() if k != "type"}, "grader.type"),
    ({**FUZZY, "evaluation_metric": "rouge_9"}, "grader.evaluation_metric"),
    ({**FUZZY, "evaluation_metric": "cosine"}, "grader.evaluation_metric"),  # no embedding model configured
    ({"type": "multi", "name": "m", "calculate_output": "a +", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "b", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "__import__('os')", "graders": {"a": EXACT}},
     "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "a.real", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": {**EXACT, "operation": "x"}}},
     "grader.graders.a.operation"),
    ({"type": "multi", "name": "m", "calculate_output": "a", "graders": {}}, "grader.graders"),
    ({"type": "multi", "name": "m", "calculate_output": "a",
      "graders": {"a": {"type": "multi", "name": "n", "calculate_output": "x", "graders": {"x": EXACT}}}},
     "grader.graders.a.type"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": [], "range": [0, 1]}, "grader.input"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "range": [1, 0]}, "grader.range"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": [{"role": "robot", "content": "x"}]},
     "grader.input[0].role"),
    ({"type": "label_model", "name": "l", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "labels": ["good", "bad"], "passing_labels": ["great"]}, "grader.passing_labels"),
    ({"type": "label_model", "name": "l", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "labels": [], "passing_labels": ["good"]}, "grader.labels"),
    ({"type": "python", "name": "p", "source": "def grade(sample, item) return 1"}, "grader.source"),
    ({"type": "python", "name": "p", "source": "def score(sample, item):\n    return 1"}, "grader.source"),
]


def test_bad_graders_are_400_naming_the_param(client: openai.OpenAI) -> None:
    # one server for the whole table (a server per case would cost seconds each)
    for grader, param in BAD:
        for call in ("validate", "run"):
            with pytest.raises(openai.BadRequestError) as err:
                if call == "validate":
                    client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
                else:
                    client.fine_tuning.alpha.graders.run(grader=grader, model_sample="x")  # type: ignore[arg-type]
            assert err.value.status_code == 400
            assert (err.value.param, err.value.type) == (param, "invalid_request_error"), err.value.body
            assert isinstance(err.value.message, str) and len(err.value.message) > 10


def test_malformed_bodies_are_400(http: Any) -> None:
    for body, param in [({}, "grader"), ({"grader": "x", "model_sample": "y"}, "grader"),
                        ({"grader": EXACT}, "model_sample"), ({"grader": EXACT, "model_sample": 3}, "model_sample")]:
        r = http.post("/v1/fine_tuning/alpha/graders/run", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == param
