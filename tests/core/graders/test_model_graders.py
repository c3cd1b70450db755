"""score_model / label_model against an external OpenAI-compatible judge (a fake one: the endpoint
is outside openft), through :class:`core.graders.judge.ExternalJudge`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_judge import USAGE, fake_judge

from core.graders import GraderSpecError, Sample, grade, parse_grader
from core.graders.judge import external_judge
from core.settings import Settings

REPLIES: dict[str, str | dict[str, str]] = {
    "judge-json": '{"result": 0.8, "steps": []}',
    "judge-prose": "I would say 7 out of 10.",
    "judge-too-high": "15",
    "judge-words": "no idea",
    "judge-label": "Positive.",
    "judge-label-json": '{"result": "negative"}',
    "judge-two-labels": "positive or negative, hard to say",
    "refuser": {"refusal": "I can't help with that."},
}


@pytest.fixture(scope="module")
def judge() -> Iterator[tuple[Settings, list[dict[str, Any]]]]:
    with fake_judge(REPLIES) as (url, seen):
        yield Settings(grader_judge_url=url, grader_judge_api_key="k"), seen


def score(model: str, **extra: Any) -> dict[str, Any]:
    return {"type": "score_model", "name": "judge", "model": model,
            "input": [{"role": "system", "content": "Grade the answer."},
                      {"role": "user", "content": [{"type": "input_text", "text": "Q: {{item.question}}"},
                                                   "A: {{sample.output_text}}"]}], **extra}


def label(model: str) -> dict[str, Any]:
    return {"type": "label_model", "name": "sentiment", "model": model, "labels": ["positive", "negative"],
            "passing_labels": ["positive"], "input": [{"role": "user", "content": "{{sample.output_text}}"}]}


async def run(settings: Settings, spec: dict[str, Any], sample: str = "Paris") -> Any:
    return await grade(parse_grader(spec, settings), item={"question": "Capital of France?"},
                       sample=Sample.from_text(sample), judge=external_judge(settings), settings=settings)


async def test_score_model_renders_the_prompt_and_reads_the_score(judge: tuple[Settings, list[Any]]) -> None:
    settings, seen = judge
    params = {"temperature": 0.2, "seed": 7, "max_completions_tokens": 50, "top_p": 0.9}
    result = await run(settings, score("judge-json", sampling_params=params))
    assert (result.reward, result.failed) == (0.8, False)
    body = seen[-1]
    assert body["messages"] == [
        {"role": "system", "content": "Grade the answer."},
        {"role": "user",
         "content": "Q: Capital of France?\nA: Paris\n\nReply with only the score: a number from 0 to 1."},
    ]
    assert (body["temperature"], body["seed"], body["max_completion_tokens"], body["top_p"]) == (0.2, 7, 50, 0.9)
    assert result.token_usage == {"judge-json": USAGE}
    assert result.total_tokens() == 14 and result.sampled_model_name == "judge-json"


@pytest.mark.parametrize(("model", "range_", "reward", "flag"), [
    ("judge-prose", [0, 10], 7.0, None),
    ("judge-too-high", [0, 10], 0.0, "model_grader_parse_error"),
    ("judge-words", [0, 1], 0.0, "model_grader_parse_error"),
    ("refuser", [0, 1], 0.0, "model_grader_refusal_error"),
    ("no-such-model", [0, 1], 0.0, "model_grader_server_error"),
])
async def test_score_model_answers(judge: tuple[Settings, list[Any]], model: str, range_: list[float],
                                   reward: float, flag: str | None) -> None:
    result = await run(judge[0], score(model, range=range_))
    assert result.reward == reward
    assert [k for k, v in result.errors.items() if v] == ([flag] if flag else [])
    if flag == "model_grader_server_error":
        assert "no-such-model" in result.details["model_grader_server_error_details"]
        assert result.token_usage == {}
    else:
        assert result.token_usage[model]["total_tokens"] == 14


@pytest.mark.parametrize(("model", "reward", "flag"), [
    ("judge-label", 1.0, None), ("judge-label-json", 0.0, None),
    ("judge-two-labels", 0.0, "model_grader_parse_error"), ("judge-words", 0.0, "model_grader_parse_error"),
])
async def test_label_model(judge: tuple[Settings, list[Any]], model: str, reward: float, flag: str | None) -> None:
    settings, seen = judge
    result = await run(settings, label(model), sample="I loved it")
    assert result.reward == reward
    assert [k for k, v in result.errors.items() if v] == ([flag] if flag else [])
    instruction = "Reply with only one of these labels: positive, negative."
    assert seen[-1]["messages"][-1]["content"] == f"I loved it\n\n{instruction}"


async def test_multi_adds_up_judge_usage_per_model(judge: tuple[Settings, list[Any]]) -> None:
    spec = {"type": "multi", "name": "m", "calculate_output": "(a + b + c) / 3",
            "graders": {"a": score("judge-json"), "b": score("judge-json"), "c": label("judge-label")}}
    result = await run(judge[0], spec)
    assert result.reward == pytest.approx((0.8 + 0.8 + 1.0) / 3)
    assert result.token_usage == {"judge-json": {k: 2 * v for k, v in USAGE.items()}, "judge-label": USAGE}
    assert result.total_tokens() == 42


async def test_missing_variable_in_judge_input_is_flagged_without_calling_the_judge(
    judge: tuple[Settings, list[Any]],
) -> None:
    settings, seen = judge
    before = len(seen)
    spec = score("judge-json")
    spec["input"][1]["content"] = "{{item.nope}}"
    result = await run(settings, spec)
    assert result.errors["invalid_variable_error"] and result.reward == 0.0
    assert len(seen) == before and result.token_usage == {}


async def test_no_judge_is_a_server_error() -> None:
    result = await grade(parse_grader(score("judge-json")), item={"question": "q"}, sample=Sample.from_text("a"),
                         judge=None, settings=Settings())
    assert result.errors["model_grader_server_error"]


@pytest.mark.parametrize(("text", "reference", "expected"), [
    ("aab", "abb", 4 / 5),  # (2,1,0).(1,2,0) / (sqrt5 * sqrt5)
    ("a", "b", 0.0),
    ("abc", "cba", 1.0),
    ("same", "same", 1.0),
])
async def test_cosine_with_an_embeddings_endpoint(text: str, reference: str, expected: float) -> None:
    with fake_judge({}) as (url, _seen):
        settings = Settings(grader_embeddings_url=url, grader_embeddings_model="embedder")
        spec = {"type": "text_similarity", "name": "cos", "evaluation_metric": "cosine",
                "input": "{{sample.output_text}}", "reference": reference}
        result = await grade(parse_grader(spec, settings), item={}, sample=Sample.from_text(text), settings=settings)
    assert not result.failed and result.reward == pytest.approx(expected)


def test_cosine_without_an_embedding_model_names_the_settings() -> None:
    spec = {"type": "text_similarity", "name": "cos", "evaluation_metric": "cosine", "input": "a", "reference": "b"}
    with pytest.raises(GraderSpecError) as err:
        parse_grader(spec, Settings())
    assert err.value.param == "evaluation_metric"
    for setting in ("OPENFT_GRADER_EMBEDDINGS_URL", "OPENFT_GRADER_EMBEDDINGS_MODEL_DIR"):
        assert setting in err.value.message


def test_cosine_with_a_model_dir_needs_sentence_transformers(tmp_path: Any) -> None:
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers is installed here")
    spec = {"type": "text_similarity", "name": "cos", "evaluation_metric": "cosine", "input": "a", "reference": "b"}
    with pytest.raises(GraderSpecError) as err:
        parse_grader(spec, Settings(grader_embeddings_model_dir=tmp_path))
    assert err.value.param == "evaluation_metric" and "pip install sentence-transformers" in err.value.message
