"""Chat wire details real clients trip over: every sampling parameter range-checked before
generation (a 400 naming it, streamed or not), ``system_fingerprint`` a string, and keys OpenAI
omits (``message.tool_calls``) absent rather than null."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import tasks
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

HELLO = [{"role": "user", "content": "hello there"}]

OUT_OF_RANGE: list[tuple[dict[str, Any], str]] = [
    ({"seed": 2**64}, "seed"),
    ({"seed": -(2**63) - 1}, "seed"),
    ({"temperature": -0.1}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 129}, "n"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"frequency_penalty": -3}, "frequency_penalty"),
    ({"logit_bias": {"\u00b2": 1}}, "logit_bias"),
    ({"logit_bias": {"5": 101}}, "logit_bias"),
    ({"top_logprobs": 21}, "top_logprobs"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("bad, param", OUT_OF_RANGE)
def test_out_of_range_sampling_parameters_are_400_before_generation(
        client: openai.OpenAI, bad: dict[str, Any], param: str, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny-chat", messages=HELLO, stream=stream,
                                       **{"max_tokens": 4, **bad})
    assert err.value.status_code == 400 and err.value.param == param
    assert err.value.type == "invalid_request_error" and param in err.value.message


EDGES: list[dict[str, Any]] = [
    {"seed": 2**64 - 1}, {"seed": -(2**63)}, {"temperature": 1e-300, "seed": 1}, {"top_p": 0.0, "seed": 1},
    {"presence_penalty": -2, "frequency_penalty": 2, "seed": 1},
]


@pytest.mark.parametrize("edge", EDGES)
def test_values_at_the_edges_of_their_ranges_are_served(client: openai.OpenAI, edge: dict[str, Any]) -> None:
    r = client.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=3, **edge)
    assert r.choices[0].finish_reason in ("stop", "length")
    chunks = list(client.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=3, stream=True,
                                                 **edge))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == r.choices[0].message.content


def test_fingerprint_is_a_string_naming_what_served_the_answer(
        http: Any, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    days = publish_model("proj-a", trained["next_day"], suffix="days")
    sentiment = publish_model("proj-a", trained["sentiment"], suffix="sent")
    msgs = tasks.next_day_example("friday", False)["messages"]

    def fingerprint(model: str) -> str:
        body = http.post("/v1/chat/completions", json={"model": model, "messages": msgs, "temperature": 0,
                                                       "max_tokens": 4}).json()
        message = body["choices"][0]["message"]
        assert "tool_calls" not in message and "function_call" not in message  # omitted, as OpenAI does
        assert message["role"] == "assistant" and isinstance(message["content"], str)
        fp = body["system_fingerprint"]
        assert isinstance(fp, str) and fp.startswith("fp_") and len(fp) == 15
        return fp

    base, tuned, other = fingerprint("tiny-chat"), fingerprint(days), fingerprint(sentiment)
    assert fingerprint(days) == tuned and fingerprint("tiny-chat") == base
    assert len({base, tuned, other}) == 3  # different weights, different fingerprints

    with http.stream("POST", "/v1/chat/completions", json={
            "model": days, "messages": msgs, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines()
                  if line.startswith("data: {")]
    assert events and all(e["system_fingerprint"] == tuned for e in events)
