"""Legacy ``/v1/completions`` with the official client: raw prompts on base and ``ft:`` models,
lists of prompts, ``n``, ``echo``, ``stop``, seeds, streams, and the same errors as chat.

Non-streamed answers are checked with the strict client. Streamed events are OpenAI's
(``finish_reason: null`` until a choice ends), which openai-python's ``CompletionChoice`` type
(finish_reason not optional) rejects in strict mode even from OpenAI itself, so streams are
read with a non-strict client and their bytes checked here.
"""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from compat.test_chat_wire import OUT_OF_RANGE
from live_server import LiveServer
from openai.types import Completion
from serving import tasks
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


@pytest.fixture
def loose(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """The official client without strict validation, for legacy streams (see module docstring)."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key) as c:
        yield c


@pytest.fixture
def days(publish_model: Callable[..., str], trained: dict[str, Path]) -> str:
    return publish_model("proj-a", trained["next_day"], suffix="days")


def rendered(tiny_dir: Path, day: str) -> str:
    """A next-day prompt rendered by hand with the chat template, as a legacy script would."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    text: str = tok.apply_chat_template(tasks.next_day_example(day, False)["messages"], tokenize=False,
                                        add_generation_prompt=True)
    return text


def test_fine_tuned_model_continues_a_raw_prompt(client: openai.OpenAI, days: str, tiny_dir: Path) -> None:
    r = client.completions.create(model=days, prompt=rendered(tiny_dir, "friday"), temperature=0, max_tokens=8)
    assert isinstance(r, Completion) and r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.model == days and isinstance(r.created, int)
    assert [(c.index, c.text, c.finish_reason) for c in r.choices] == [(0, "saturday", "stop")]
    assert r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert isinstance(r.system_fingerprint, str) and r.system_fingerprint.startswith("fp_")
    base = client.completions.create(model="tiny-chat", prompt=rendered(tiny_dir, "friday"), temperature=0,
                                     max_tokens=8)
    assert base.choices[0].text != "saturday" and base.system_fingerprint != r.system_fingerprint


def test_default_length_echo_stop_and_token_prompts(client: openai.OpenAI, days: str, tiny_dir: Path) -> None:
    prompt = rendered(tiny_dir, "monday")
    plain = client.completions.create(model="tiny-chat", prompt="the cat sat on", temperature=0)
    assert plain.usage is not None and 1 <= plain.usage.completion_tokens <= 16  # OpenAI's default max_tokens
    echoed = client.completions.create(model=days, prompt=prompt, temperature=0, echo=True)
    assert echoed.choices[0].text == prompt + "tuesday"
    cut = client.completions.create(model=days, prompt=prompt, temperature=0, stop=["sd"])
    assert (cut.choices[0].text, cut.choices[0].finish_reason) == ("tue", "stop")
    short = client.completions.create(model=days, prompt=prompt, temperature=0, max_tokens=1)
    assert short.choices[0].finish_reason == "length" and short.usage and short.usage.completion_tokens == 1

    from transformers import AutoTokenizer

    token_ids = AutoTokenizer.from_pretrained(str(tiny_dir))(prompt, add_special_tokens=True)["input_ids"]
    by_ids = client.completions.create(model=days, prompt=token_ids, temperature=0)
    assert by_ids.choices[0].text == "tuesday"
    sunday = AutoTokenizer.from_pretrained(str(tiny_dir))(rendered(tiny_dir, "sunday"))["input_ids"]
    both = client.completions.create(model=days, prompt=[token_ids, sunday], temperature=0)
    assert [c.text for c in both.choices] == ["tuesday", "monday"]


def test_prompts_times_n_seeded_and_streamed_alike(client: openai.OpenAI, loose: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = dict(model="tiny-chat", prompt=["once upon", "the weather"], n=2, seed=5,
                                  temperature=1.0, max_tokens=12)
    first = client.completions.create(**kwargs)
    again = client.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1, 2, 3]
    assert [c.text for c in first.choices] == [c.text for c in again.choices]
    assert first.choices[0].text != first.choices[1].text  # n choices are sampled, not copies
    assert first.usage is not None and 4 <= first.usage.completion_tokens <= 4 * 12

    events = list(loose.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    assert all(e.object == "text_completion" for e in events) and len({e.id for e in events}) == 1
    joined = {i: "" for i in range(4)}
    finish = {}
    for e in events[:-1]:
        assert e.usage is None and len(e.choices) == 1
        joined[e.choices[0].index] += e.choices[0].text
        if e.choices[0].finish_reason:
            finish[e.choices[0].index] = e.choices[0].finish_reason
    assert joined == {c.index: c.text for c in first.choices}
    assert finish == {c.index: c.finish_reason for c in first.choices}
    assert events[-1].choices == [] and events[-1].usage == first.usage


def test_stream_bytes_are_openais_shape(http: Any, days: str, tiny_dir: Path) -> None:
    with http.stream("POST", "/v1/completions", json={"model": days, "prompt": rendered(tiny_dir, "sunday"),
                                                      "temperature": 0, "stream": True, "echo": True}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    for e in events:
        assert set(e) == {"id", "object", "created", "model", "choices", "system_fingerprint"}
        [choice] = e["choices"]
        assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert [e["choices"][0]["finish_reason"] for e in events][-1] == "stop"
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])
    assert "".join(e["choices"][0]["text"] for e in events) == rendered(tiny_dir, "sunday") + "monday"


async def test_async_client(async_client: openai.AsyncOpenAI, days: str, tiny_dir: Path,
                            server: LiveServer, api_key: str) -> None:
    r = await async_client.completions.create(model=days, prompt=rendered(tiny_dir, "monday"), temperature=0)
    assert r.choices[0].text == "tuesday"
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=api_key) as loose:
        stream = await loose.completions.create(model=days, prompt=rendered(tiny_dir, "monday"), temperature=0,
                                                stream=True)
        assert "".join([e.choices[0].text async for e in stream]) == "tuesday"


BAD: list[tuple[dict[str, Any], str]] = [
    *[(bad, param) for bad, param in OUT_OF_RANGE if param not in ("max_completion_tokens", "top_logprobs")],
    ({"max_tokens": 0}, "max_tokens"),
    ({"logit_bias": {"999999": 5}}, "logit_bias"),
    ({"logprobs": 2}, "logprobs"),
    ({"logprobs": 6}, "logprobs"),
    ({"suffix": "end"}, "suffix"),
    ({"best_of": 3}, "best_of"),
    ({"prompt": []}, "prompt"),
    ({"prompt": [[]]}, "prompt"),
    ({"prompt": [10**9]}, "prompt"),
    ({"prompt": "good " * 2000}, "prompt"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("bad, param", BAD)
def test_bad_parameters_are_400_naming_them(client: openai.OpenAI, bad: dict[str, Any], param: str,
                                            stream: bool) -> None:
    kwargs: dict[str, Any] = {"model": "tiny-chat", "prompt": "hello", "max_tokens": 4, **bad}
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(**kwargs, stream=stream)
    assert err.value.param == param and err.value.type == "invalid_request_error"


def test_unknown_and_other_projects_models_are_404(client: openai.OpenAI, other_client: openai.OpenAI,
                                                  days: str) -> None:
    for c, model in ((client, "nope"), (other_client, days)):
        for stream in (False, True):
            with pytest.raises(openai.NotFoundError) as err:
                c.completions.create(model=model, prompt="hello", stream=stream)
            assert err.value.code == "model_not_found"
