"""``client.fine_tuning.alpha.graders.run / validate`` with the official client (strict), sync and async."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from serving.fixtures import tiny_cache  # noqa: F401

from core.graders.sandbox import sandbox_available
from core.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


@pytest.fixture
def settings(settings: Settings, tiny_cache: Path) -> Settings:
    """tiny-chat available as a judge; short python grader limits."""
    return settings.model_copy(update={"model_cache_dir": tiny_cache, "python_grader_timeout_seconds": 2.0,
                                       "python_grader_memory_mib": 256})

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


def test_valid_graders_the_clients_type_cannot_hold_are_not_echoed(client: openai.OpenAI) -> None:
    label = {"type": "label_model", "name": "l", "model": "tiny-chat", "labels": ["a", "b"], "passing_labels": ["a"],
             "input": [{"role": "user", "content": "{{sample.output_text}}"}]}
    mapping = {"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": EXACT}}
    for grader in (label, mapping):
        assert client.fine_tuning.alpha.graders.validate(grader=grader).grader is None  # type: ignore[arg-type]


def test_validate_echoes_the_grader(client: openai.OpenAI) -> None:
    valid = client.fine_tuning.alpha.graders.validate(grader=EXACT)
    assert valid.grader is not None and valid.grader.model_dump(exclude_none=True) == EXACT
    single = {"type": "multi", "name": "m", "calculate_output": "exact * 2", "graders": EXACT}
    echoed = client.fine_tuning.alpha.graders.validate(grader=single)  # type: ignore[arg-type]
    assert echoed.grader is not None and echoed.grader.model_dump(exclude_none=True) == single


BAD: list[tuple[dict[str, Any], str]] = [
    ({**EXACT, "operation": "contains"}, "grader.operation"),
    ({k: v for k, v in EXACT.items() if k != "reference"}, "grader.reference"),
    ({**EXACT, "input": 5}, "grader.input"),
    ({**EXACT, "type": "regex"}, "grader.type"),
    ({k: v for k, v in EXACT.items() if k != "type"}, "grader.type"),
    ({**FUZZY, "evaluation_metric": "rouge_9"}, "grader.evaluation_metric"),
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
    ({"type": "python", "name": "p"}, "grader.source"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "range": [0, 1, 2]}, "grader.range"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "sampling_params": {"temperature": 5}}, "grader.sampling_params.temperature"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat",
      "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
     "grader.input[0]"),
    ({"type": "score_model", "name": "s", "model": "tiny-chat", "input": "rate it"}, "grader.input"),
    ({"type": "score_model", "name": "s", "input": [{"role": "user", "content": "x"}]}, "grader.model"),
    ({"type": "label_model", "name": "l", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "labels": ["a", "a"], "passing_labels": ["a"]}, "grader.labels"),
    ({"type": "label_model", "name": "l", "model": "tiny-chat", "input": [{"role": "user", "content": "x"}],
      "labels": ["a", "b"], "passing_labels": []}, "grader.passing_labels"),
    ({"type": "multi", "name": "m", "calculate_output": "", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "[x for x in a]", "graders": {"a": EXACT}},
     "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "'a'", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({"type": "multi", "name": "m", "calculate_output": "a", "graders": [EXACT]}, "grader.graders"),
    ({"type": "multi", "name": "m", "graders": {"a": EXACT}}, "grader.calculate_output"),
    ({**EXACT, "name": 7}, "grader.name"),
    ({k: v for k, v in FUZZY.items() if k != "evaluation_metric"}, "grader.evaluation_metric"),
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


needs_sandbox = pytest.mark.skipif(sys.platform != "linux" or not sandbox_available(),
                                   reason="this host cannot build the python grader sandbox")
PY_SOURCE = """
from rapidfuzz import fuzz

def grade(sample, item):
    return fuzz.ratio(sample["output_text"], item["reference"]) / 100
"""


@needs_sandbox
def test_python_grader_runs_in_the_sandbox(client: openai.OpenAI, settings: Settings) -> None:
    grader = {"type": "python", "name": "py", "source": PY_SOURCE}
    res = client.fine_tuning.alpha.graders.run(grader=grader, model_sample="kitten",  # type: ignore[arg-type]
                                               item={"reference": "sitting"})
    assert res.reward == pytest.approx(8 / 13) and res.metadata.type == "python"
    echoed = client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
    assert echoed.grader is not None and echoed.grader.model_dump(exclude_none=True) == grader
    # escapes are scored errors and the service keeps answering
    db = settings.data_dir / "openft.db"
    for source, flag in [(f"def grade(s, i):\n    return len(open({str(db)!r}, 'rb').read())",
                          "python_grader_runtime_error"),
                         ("def grade(s, i):\n    while True:\n        pass", "python_grader_server_error"),
                         ("def grade(s, i):\n    return 'high'", "python_grader_runtime_error")]:
        bad = client.fine_tuning.alpha.graders.run(grader={"type": "python", "name": "x", "source": source},
                                                   model_sample="x")
        assert bad.reward == 0.0 and getattr(bad.metadata.errors, flag) is True, source
        errors = bad.metadata.errors
        assert errors.python_grader_runtime_error_details or errors.python_grader_server_error_type
    assert client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="a", item={"answer": "a"}).reward == 1.0


@pytest.mark.slow  # loads tiny-chat into this process (torch)
async def test_score_model_judged_by_a_served_model(async_client: openai.AsyncOpenAI) -> None:
    grader = {"type": "score_model", "name": "judge", "model": "tiny-chat", "range": [0, 10],
              "input": [{"role": "user", "content": "Rate from 0 to 10: {{sample.output_text}} ({{item.q}})"}],
              "sampling_params": {"temperature": 0, "max_completions_tokens": 6, "seed": 1}}
    res = await async_client.fine_tuning.alpha.graders.run(grader=grader, model_sample="Paris",  # type: ignore[arg-type]
                                                           item={"q": "capital of France"})
    usage = res.api_model_grader_token_usage_per_model["tiny-chat"]
    assert isinstance(usage, dict) and usage["prompt_tokens"] > 10 and 0 < usage["completion_tokens"] <= 6
    assert res.metadata.token_usage == usage["total_tokens"]
    assert res.metadata.sampled_model_name == "tiny-chat"
    errors = res.metadata.errors
    assert not errors.api_model_grader_server_error and not errors.invalid_variable_error
    # an untrained tiny model rarely writes a number in range: then it is a parse error, never a crash
    assert 0.0 <= res.reward <= 10.0 and (res.reward > 0 or errors.api_model_grader_parse_error or res.reward == 0)


def test_unknown_judge_models_are_400(client: openai.OpenAI) -> None:
    def score(model: str) -> dict[str, Any]:
        return {"type": "score_model", "name": "j", "model": model, "input": [{"role": "user", "content": "x"}]}

    for grader, param in [(score("gpt-9"), "grader.model"),
                          (score("ft:tiny-chat:proj-b:x:abcd1234"), "grader.model"),
                          ({"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": score("nope")}},
                           "grader.graders.a.model")]:
        for call in ("run", "validate"):
            with pytest.raises(openai.BadRequestError) as err:
                if call == "run":
                    client.fine_tuning.alpha.graders.run(grader=grader, model_sample="x")  # type: ignore[arg-type]
                else:
                    client.fine_tuning.alpha.graders.validate(grader=grader)  # type: ignore[arg-type]
            assert (err.value.param, err.value.code) == (param, "model_not_found")
            assert "does not exist" in err.value.message
