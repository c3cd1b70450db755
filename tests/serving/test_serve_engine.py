"""The inference engine on tiny-chat: one base in memory, adapters hot-swapped, decoding rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from serving import tasks

from api.inference.engine import ContextLengthExceeded, InferenceEngine
from api.inference.params import Completion, Target
from core.catalog import get_catalog
from core.generation import Delta, SamplingParams
from core.settings import Settings
from core.store import Store

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


@pytest.fixture
def tiny(settings: Settings) -> Target:
    return Target("tiny-chat", get_catalog(settings).require("tiny-chat").spec())


@pytest.fixture
def keys(store: Store, trained: dict[str, Path]) -> dict[str, str]:
    """Store prefixes of the trained adapters."""
    out = {}
    for name, folder in trained.items():
        store.upload_dir(folder, f"models/ft_tiny-chat_p_{name}_x")
        out[name] = f"models/ft_tiny-chat_p_{name}_x"
    return out


@pytest.fixture
def engine(settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    eng = InferenceEngine(settings, store)
    yield eng
    eng.close()


def _on(tiny: Target, key: str | None) -> Target:
    return Target(key or "tiny-chat", tiny.base, key)


async def answer(engine: InferenceEngine, target: Target, messages: list[dict], params: SamplingParams = GREEDY) -> str:
    prepared = await engine.prepare(target, messages, max_tokens=params.max_tokens)
    return (await engine.generate(prepared, params)).choices[0].text


async def test_adapters_hot_swap_over_one_base(engine: InferenceEngine, tiny: Target, keys: dict[str, str]) -> None:
    _, sentiment = tasks.sentiment()
    _, days = tasks.next_day()
    prompts = [ex["messages"] for ex, _ in sentiment[:20]]
    expected = [e for _, e in sentiment[:20]]
    base_before = [await answer(engine, tiny, m) for m in prompts]
    tuned = [await answer(engine, _on(tiny, keys["sentiment"]), m) for m in prompts]
    day_answers = [await answer(engine, _on(tiny, keys["next_day"]), ex["messages"]) for ex, _ in days]
    base_after = [await answer(engine, tiny, m) for m in prompts]

    assert tasks.exact(base_before, expected) <= 0.5  # the pretrained base may know some of it
    assert tasks.exact(tuned, expected) >= 0.9
    assert day_answers == [e for _, e in days]
    assert base_after == base_before  # adapters are switched off for base requests
    # both adapters over one copy of the base (on the CPU the base requests share it too)
    assert {"adapters": 2, "loads": 2} in engine.stats().values()
    if engine.device == "cpu":
        assert engine.stats() == {"tiny-chat/none": {"adapters": 2, "loads": 2}}


async def test_concurrent_requests_for_different_adapters(engine: InferenceEngine, tiny: Target,
                                                         keys: dict[str, str]) -> None:
    _, sentiment = tasks.sentiment()
    _, days = tasks.next_day()
    jobs = []
    for i in range(8):
        jobs.append((_on(tiny, keys["sentiment"]), sentiment[i][0]["messages"]))
        jobs.append((_on(tiny, keys["next_day"]), days[i % 7][0]["messages"]))
        jobs.append((tiny, days[i % 7][0]["messages"]))
    sequential = [await answer(engine, t, m) for t, m in jobs]
    concurrent = await asyncio.gather(*(answer(engine, t, m) for t, m in jobs))
    assert list(concurrent) == sequential
    assert sequential[1] == days[0][1] and sequential[4] == days[1][1]


async def test_lru_evicts_least_recent_adapter_and_reloads_it(settings: Settings, store: Store, tiny: Target,
                                                              keys: dict[str, str]) -> None:
    engine = InferenceEngine(settings, store, max_adapters=1)
    try:
        _, days = tasks.next_day()
        msgs = days[0][0]["messages"]
        for _ in range(2):
            assert await answer(engine, _on(tiny, keys["next_day"]), msgs) == "tuesday"
            assert (await answer(engine, _on(tiny, keys["sentiment"]), msgs)) != "tuesday"
        assert {"adapters": 1, "loads": 4} in engine.stats().values()
    finally:
        engine.close()


async def test_seeded_sampling_repeats_and_stream_joins_to_same_text(engine: InferenceEngine, tiny: Target) -> None:
    msgs = [{"role": "user", "content": "hello there"}]
    params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=30, seed=7, n=2)
    prepared = await engine.prepare(tiny, msgs, max_tokens=30)
    first = await engine.generate(prepared, params)
    second = await engine.generate(prepared, params)
    other = await engine.generate(prepared, SamplingParams(temperature=1.0, max_tokens=30, seed=8, n=2))
    texts = [c.text for c in first.choices]
    assert texts == [c.text for c in second.choices]
    assert texts != [c.text for c in other.choices]
    assert texts[0] != texts[1]  # n choices are sampled, not copies

    joined = ["", ""]
    finishes: dict[int, str] = {}
    final = None
    async for item in engine.stream(prepared, params):
        if isinstance(item, Completion):
            final = item
        elif isinstance(item, Delta) and item.finish_reason:
            finishes[item.index] = item.finish_reason
        else:
            joined[item.index] += item.text
    assert joined == texts
    assert final is not None and final.completion_tokens == first.completion_tokens
    assert finishes == {c.index: c.finish_reason for c in first.choices}


async def test_stop_sequences_max_tokens_and_end_of_turn(engine: InferenceEngine, tiny: Target,
                                                         keys: dict[str, str]) -> None:
    target = _on(tiny, keys["sentiment"])
    msgs = tasks.sentiment()[1][0][0]["messages"]
    prepared = await engine.prepare(target, msgs, max_tokens=24)
    full = (await engine.generate(prepared, GREEDY)).choices[0]
    assert full.finish_reason == "stop" and full.text.startswith('{"sentiment": ')  # stopped at <|im_end|>
    assert full.completion_tokens < 24

    stop = SamplingParams(temperature=0, max_tokens=24, stop=("sentiment",))
    cut = (await engine.generate(prepared, stop)).choices[0]
    assert (cut.text, cut.finish_reason) == ('{"', "stop")

    short = (await engine.generate(prepared, SamplingParams(temperature=0, max_tokens=2))).choices[0]
    assert short.finish_reason == "length" and short.completion_tokens == 2
    assert full.text.startswith(short.text)


async def test_prompt_over_the_context_is_a_400(engine: InferenceEngine, tiny: Target) -> None:
    limit = tiny.base.max_length
    long = [{"role": "user", "content": "good " * limit}]
    with pytest.raises(ContextLengthExceeded) as err:
        await engine.prepare(tiny, long)
    assert err.value.status == 400 and err.value.param == "messages"
    assert err.value.code == "context_length_exceeded" and f"maximum context length is {limit}" in err.value.message

    fits = [{"role": "user", "content": "good " * (limit // 4)}]
    prepared = await engine.prepare(tiny, fits)
    assert prepared.max_new_tokens == limit - len(prepared.prompt_ids)
    with pytest.raises(ContextLengthExceeded, match="in the completion"):
        await engine.prepare(tiny, fits, max_tokens=limit)


async def test_evict_unloads_adapter_and_removes_local_copy(engine: InferenceEngine, tiny: Target,
                                                            keys: dict[str, str], settings: Settings) -> None:
    from api.inference.loading import adapter_cache_dir

    target = _on(tiny, keys["next_day"])
    msgs = tasks.next_day()[1][0][0]["messages"]
    assert await answer(engine, target, msgs) == "tuesday"
    assert adapter_cache_dir(settings, keys["next_day"]).is_dir()
    await engine.evict(keys["next_day"])
    assert not adapter_cache_dir(settings, keys["next_day"]).exists()
    assert all(v["adapters"] == 0 for v in engine.stats().values())
    assert await answer(engine, tiny, msgs) != "tuesday"  # the bare base again


async def test_logit_bias_forces_and_bans_tokens(engine: InferenceEngine, tiny: Target) -> None:
    msgs = [{"role": "user", "content": "hello there"}]
    prepared = await engine.prepare(tiny, msgs, max_tokens=6)
    plain = (await engine.generate(prepared, SamplingParams(temperature=0, max_tokens=6))).choices[0]
    first = plain.token_ids[0]
    forced_id = next(t for t in range(300, 400) if t not in plain.token_ids and t not in prepared.tokenizer.end_ids)
    for params in (SamplingParams(temperature=0, max_tokens=3, logit_bias={forced_id: 100.0}),
                   SamplingParams(temperature=1.0, seed=3, max_tokens=3, logit_bias={forced_id: 100.0})):
        forced = (await engine.generate(prepared, params)).choices[0]
        assert forced.token_ids == [forced_id] * 3 and forced.finish_reason == "length"
    banned = (await engine.generate(prepared, SamplingParams(temperature=0, max_tokens=6,
                                                             logit_bias={first: -100.0}))).choices[0]
    assert banned.token_ids[0] != first and first not in banned.token_ids
