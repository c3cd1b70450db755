"""The production path: ft: models of a vLLM-served base go to vLLM (here a fake of its API)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from serving.fake_vllm import FakeVLLM, serve
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from api.inference.check import check_model
from api.inference.params import Target
from api.inference.server import ModelServer
from api.services import serve_checks
from api.state import build_state
from core.catalog import get_catalog
from core.db import session_scope
from core.protocol import model_prefix
from core.settings import Settings
from core.store import Store
from core.tables import JobEvent, Model, ServeCheck

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local", "postgres-s3"], indirect=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeVLLM]:
    gen = serve(FakeVLLM(served_name="tiny-chat"), _free_port())
    yield next(gen)
    gen.close()


@pytest.fixture
def settings(settings: Settings, fake: FakeVLLM, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"vllm_servers": {"tiny-chat": fake.url},
                                       "vllm_adapter_dir": tmp_path / "shared-adapters"})


@pytest.fixture
def model_id(publish_model: Callable[..., str], trained: dict[str, Path]) -> str:
    return publish_model("proj-a", trained["next_day"], suffix="days")


async def test_register_loads_the_adapter_through_the_dynamic_lora_endpoint(
        settings: Settings, store: Store, fake: FakeVLLM, model_id: str) -> None:
    base = get_catalog(settings).require("tiny-chat").spec()
    target = Target(model_id, base, model_prefix(model_id))
    server = ModelServer(settings, store)
    try:
        assert await server.register(target)
        path = Path(fake.loras[model_id])
        assert path.parent == settings.vllm_adapter_dir
        assert (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file()
    finally:
        await server.aclose()
    # another process (e.g. after an API restart) registers again: "already loaded" is success
    unrouted = ModelServer(settings.model_copy(update={"vllm_servers": {}}), store)
    again = ModelServer(settings, store)
    try:
        assert await again.register(target)
        assert not await unrouted.register(target)  # served locally: nothing to load
    finally:
        await again.aclose()
        await unrouted.aclose()
    assert [load["lora_name"] for load in fake.loads] == [model_id, model_id]


async def test_a_succeeded_job_is_loaded_into_vllm_and_checked_there(
        settings: Settings, engine: Engine, store: Store, fake: FakeVLLM, model_id: str) -> None:
    """The service's pass over succeeded jobs registers the adapter before any request, then asks
    vLLM the worker's sample prompts (the fake is no fine-tune, so the check fires)."""
    with session_scope(engine) as session:
        job_id = session.get(Model, model_id).job_id  # type: ignore[union-attr]
        session.add(ServeCheck(job_id=job_id, model_id=model_id, samples=[
            {"messages": [{"role": "user", "content": "next day: monday"}], "answer": "tuesday"}]))
    server = ModelServer(settings, store)
    try:
        assert await serve_checks.run_pending(build_state(settings, engine=engine, store=store), server) == 1
    finally:
        await server.aclose()
    assert [load["lora_name"] for load in fake.loads] == [model_id]
    assert fake.requests[-1]["model"] == model_id and fake.requests[-1]["temperature"] == 0
    with session_scope(engine) as session:
        events = session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(col(JobEvent.seq))).all()
        assert len(events) == 2
        assert (events[0].level, events[0].message) == ("info", f"Loaded {model_id} into the vLLM server of tiny-chat")
        assert events[1].level == "warn" and events[1].message.startswith("Train-to-serve check: 1 of 1 sample")
        assert f"served '{model_id} says hi'" in events[1].message


def test_chat_is_proxied_plain_and_streamed(client: openai.OpenAI, fake: FakeVLLM, model_id: str) -> None:
    msgs = [{"role": "user", "content": "next day: monday"}]
    r = client.chat.completions.create(model=model_id, messages=msgs, temperature=0)
    assert r.choices[0].message.content == f"{model_id} says hi" and r.model == model_id
    assert fake.requests[-1]["model"] == model_id and fake.requests[-1]["temperature"] == 0
    assert len(fake.loads) == 1  # registered lazily on the first request

    chunks = list(client.chat.completions.create(model=model_id, messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"{model_id} says hi"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3

    base = client.chat.completions.create(model="tiny-chat", messages=msgs)
    assert base.choices[0].message.content == "tiny-chat says hi"


def test_legacy_completions_are_proxied_to_vllms_completions(client: openai.OpenAI, fake: FakeVLLM,
                                                             model_id: str) -> None:
    r = client.completions.create(model=model_id, prompt="once upon", max_tokens=4, seed=1)
    assert r.choices[0].text == f"{model_id} continues 'once upon'" and r.model == model_id
    assert fake.requests[-1] == {"model": model_id, "prompt": "once upon", "max_tokens": 4, "seed": 1,
                                 "stream": False}
    with pytest.raises(openai.BadRequestError) as err:  # checked here, before vLLM sees it
        client.completions.create(model=model_id, prompt="once upon", seed=2**64)
    assert err.value.param == "seed" and fake.requests[-1]["seed"] == 1


def test_restarted_vllm_gets_the_adapter_again(client: openai.OpenAI, fake: FakeVLLM, model_id: str) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model=model_id, messages=msgs)
    fake.restart()
    r = client.chat.completions.create(model=model_id, messages=msgs)
    assert r.choices[0].message.content == f"{model_id} says hi"
    assert [load["lora_name"] for load in fake.loads] == [model_id, model_id]


def test_vllm_errors_come_back_in_openai_shape(client: openai.OpenAI, model_id: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hi"}], max_tokens=5000)
    assert err.value.message.endswith("max_tokens is too large for this model.")
    assert err.value.type == "invalid_request_error" and err.value.code is None


@pytest.mark.allow_5xx
def test_unreachable_vllm_is_503(server: Any, api_key: str, fake: FakeVLLM, model_id: str,
                                 settings: Settings) -> None:
    router = server.app.state.openft.extra.setdefault(
        "model_server", ModelServer(settings, server.app.state.openft.store)).vllm
    router.servers["tiny-chat"] = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    with (openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0) as client,
          pytest.raises(openai.InternalServerError) as err):
        client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 503 and "unreachable" in err.value.message


def test_delete_unloads_the_adapter_from_vllm(client: openai.OpenAI, fake: FakeVLLM, model_id: str,
                                              settings: Settings) -> None:
    client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hi"}])
    shared = Path(fake.loras[model_id])
    client.models.delete(model_id)
    assert fake.unloads == [model_id] and model_id not in fake.loras
    assert not shared.exists()


async def test_train_to_serve_check_asks_vllm(settings: Settings, store: Store, fake: FakeVLLM, model_id: str) -> None:
    server = ModelServer(settings, store)
    try:
        samples = [{"messages": [{"role": "user", "content": "next day: monday"}], "answer": "tuesday"}]
        bad = await check_model(server, model_id=model_id, base_model="tiny-chat",
                                artifact_key=model_prefix(model_id), samples=samples)
        assert [m.served for m in bad] == [f"{model_id} says hi"]  # the fake is no fine-tune
        assert fake.requests[-1]["temperature"] == 0
    finally:
        await server.aclose()
