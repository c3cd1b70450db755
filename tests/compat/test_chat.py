"""``/v1/chat/completions`` with the official client (strict): answers, streams, errors, tenancy."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from serving import tasks
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def models(publish_model: Callable[..., str], trained: dict[str, Path]) -> dict[str, str]:
    return {
        "days": publish_model("proj-a", trained["next_day"], suffix="days"),
        "days_ckpt": publish_model("proj-a", trained["next_day"], suffix="days", kind="checkpoint"),
        "sentiment": publish_model("proj-a", trained["sentiment"], suffix="sent"),
        "theirs": publish_model("proj-b", trained["next_day"], suffix="theirs"),
    }


def test_fine_tuned_model_answers_held_out_prompts_where_base_does_not(
        client: openai.OpenAI, models: dict[str, str]) -> None:
    _, held_out = tasks.sentiment()
    expected = [e for _, e in held_out]

    def answers(model: str) -> list[str]:
        out = []
        for ex, _ in held_out:
            r = client.chat.completions.create(model=model, messages=ex["messages"], temperature=0, max_tokens=20)
            out.append(r.choices[0].message.content or "")
        return out

    assert tasks.exact(answers("tiny-chat"), expected) <= 0.5  # the pretrained base may know some of it
    assert tasks.exact(answers(models["sentiment"]), expected) >= 0.9


def test_completion_object_and_usage(client: openai.OpenAI, models: dict[str, str]) -> None:
    for model in (models["days"], models["days_ckpt"]):
        r = client.chat.completions.create(model=model, messages=tasks.next_day_example("friday", False)["messages"],
                                           temperature=0)
        assert isinstance(r, ChatCompletion) and r.object == "chat.completion"
        assert r.id.startswith("chatcmpl-") and r.model == model and isinstance(r.created, int)
        choice = r.choices[0]
        assert (choice.index, choice.message.role, choice.message.content, choice.finish_reason) == (
            0, "assistant", "saturday", "stop")
        assert r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert r.usage.prompt_tokens > 5 and 1 <= r.usage.completion_tokens <= 4


def test_stream_joins_to_the_non_streamed_text_for_the_same_seed(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = dict(model="tiny-chat", messages=HELLO, temperature=1.0, seed=11, n=2, max_tokens=40)
    whole = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    assert all(isinstance(c, ChatCompletionChunk) and c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    joined = {0: "", 1: ""}
    finish = {}
    for c in chunks[:-1]:
        assert c.usage is None
        for ch in c.choices:
            joined[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    assert joined == {c.index: c.message.content for c in whole.choices}
    assert finish == {c.index: c.finish_reason for c in whole.choices}
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert len(chunks) > 6  # streamed piece by piece, not in one go


def test_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI, models: dict[str, str]) -> None:
    stream = client.chat.completions.create(model=models["days"], stream=True, temperature=0,
                                            messages=tasks.next_day_example("sunday", False)["messages"])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "monday"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


async def test_async_client_streams(async_client: openai.AsyncOpenAI, models: dict[str, str]) -> None:
    stream = await async_client.chat.completions.create(
        model=models["days"], stream=True, temperature=0, messages=tasks.next_day_example("monday", False)["messages"])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "tuesday"


def test_unknown_and_other_projects_models_are_404(client: openai.OpenAI, other_client: openai.OpenAI,
                                                  models: dict[str, str]) -> None:
    for model in ("nope", models["theirs"]):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=model, messages=HELLO)
        assert err.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=model, messages=HELLO, stream=True)
    with pytest.raises(openai.NotFoundError):
        other_client.chat.completions.create(model=models["days"], messages=HELLO)
    r = other_client.chat.completions.create(model=models["theirs"], temperature=0,
                                             messages=tasks.next_day_example("monday", False)["messages"])
    assert r.choices[0].message.content == "tuesday"


def test_prompt_over_the_context_is_400(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="tiny-chat", stream=stream,
                                           messages=[{"role": "user", "content": "good " * 2000}])
        assert err.value.code == "context_length_exceeded" and err.value.param == "messages"
        assert "maximum context length" in err.value.message


@pytest.mark.parametrize("bad, param", [
    ({"temperature": 2.5}, "temperature"),
    ({"n": 0}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"logprobs": True}, "logprobs"),
    ({"logit_bias": {"999999": 5}}, "logit_bias"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
])
def test_bad_parameters_are_400_naming_them(client: openai.OpenAI, bad: dict[str, Any], param: str) -> None:
    kwargs: dict[str, Any] = {"model": "tiny-chat", "messages": HELLO, **bad}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(**kwargs)
    assert err.value.param == param and err.value.type == "invalid_request_error"


def test_stop_max_tokens_and_parameters_are_honoured(client: openai.OpenAI, models: dict[str, str]) -> None:
    msgs = tasks.sentiment()[1][0][0]["messages"]
    cut = client.chat.completions.create(model=models["sentiment"], messages=msgs, temperature=0, stop="sentiment")
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ('{"', "stop")
    short = client.chat.completions.create(model=models["sentiment"], messages=msgs, temperature=0,
                                           max_completion_tokens=2)
    assert short.choices[0].finish_reason == "length" and short.usage and short.usage.completion_tokens == 2
    # developer messages and text parts are accepted like system messages and strings
    parts = client.chat.completions.create(
        model=models["days"], temperature=0,
        messages=[{"role": "developer", "content": "be brief"},
                  {"role": "user", "content": [{"type": "text", "text": "next day: monday"}]}])
    assert parts.choices[0].message.content


def test_tool_calls_of_a_tool_tuned_model(client: openai.OpenAI, publish_model: Callable[..., str],
                                          trained: dict[str, Path]) -> None:
    """A model tuned on tool-call examples answers with ``tool_calls``, plain and streamed."""
    model = publish_model("proj-a", trained["weather"], suffix="tools")
    for example, _ in tasks.weather()[1][:3]:
        r = client.chat.completions.create(model=model, messages=example["messages"], tools=example["tools"],
                                           temperature=0)
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        calls = choice.message.tool_calls or []
        assert len(calls) == 1 and calls[0].id.startswith("call_") and calls[0].type == "function"
        assert calls[0].function.name == "get_weather"
        assert json.loads(calls[0].function.arguments)["city"] in tasks.CITIES

        chunks = list(client.chat.completions.create(model=model, messages=example["messages"],
                                                     tools=example["tools"], temperature=0, stream=True))
        streamed = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
        assert [(t.function.name, t.function.arguments) for t in streamed if t.function] == [
            (calls[0].function.name, calls[0].function.arguments)]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
