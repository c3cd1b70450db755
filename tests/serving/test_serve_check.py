"""The train-to-serve check passes on faithful samples and fires on a tampered one, and the
service runs the checks the scheduler queues when jobs succeed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from serving import tasks
from sqlalchemy.engine import Engine
from sqlmodel import select

from api.inference.check import check_model, warning_message
from api.inference.server import ModelServer
from api.services import serve_checks
from api.state import build_state
from core.db import session_scope
from core.settings import Settings
from core.store import Store
from core.tables import JobEvent, Model, ServeCheck

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


def worker_samples(adapter_dir: Path, tiny_dir: Path, rows: list[dict]) -> list[dict]:
    """Samples as the training worker records them (``gpu_worker.publish.samples``)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.catalog import open_tokenizer
    from gpu_worker import data, generate

    tok = open_tokenizer(adapter_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_dir)), str(adapter_dir))
    out = []
    for row in rows:
        messages, tools, _ = data.prompt_of(row)
        answer, stopped = generate.greedy(model, tok, messages, tools, max_new_tokens=64)
        out.append({"messages": messages, "tools": tools, "answer": answer, "stopped": stopped})
    return out


async def test_check_agrees_with_the_workers_samples_and_fires_on_tampering(
        settings: Settings, store: Store, trained: dict[str, Path], tiny_dir: Path) -> None:
    store.upload_dir(trained["weather"], "models/ft_weather")
    rows = tasks.weather()[0][:2] + tasks.weather()[0][3:4]
    samples = worker_samples(trained["weather"], tiny_dir, rows)
    assert all(s["stopped"] and "<tool_call>" in s["answer"] for s in samples)
    server = ModelServer(settings, store)
    try:
        ok = await check_model(server, model_id="ft:tiny-chat:p::weather", base_model="tiny-chat",
                               artifact_key="models/ft_weather", samples=samples)
        assert ok == []

        samples[1] = {**samples[1], "answer": "caturday"}
        bad = await check_model(server, model_id="ft:tiny-chat:p::weather", base_model="tiny-chat",
                                artifact_key="models/ft_weather", samples=samples)
        assert [m.expected for m in bad] == ["caturday"] and "get_weather" in bad[0].served
        message = warning_message(bad, len(samples))
        assert message.startswith("Train-to-serve check: 1 of 3") and "caturday" in message
    finally:
        await server.aclose()


async def test_check_fires_when_served_with_the_wrong_chat_template(
        settings: Settings, store: Store, trained: dict[str, Path], tmp_path: Path) -> None:
    """A template that differs from training's (here: no system/user markers) changes the answers."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained["next_day"], broken)
    (broken / "chat_template.jinja").write_text(
        "{% for m in messages %}{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}>{% endif %}")
    store.upload_dir(broken, "models/ft_broken")
    server = ModelServer(settings, store)
    try:
        samples = [{"messages": ex["messages"], "answer": a, "max_tokens": 8} for ex, a in tasks.next_day()[1][:3]]
        bad = await check_model(server, model_id="ft:tiny-chat:p::broken", base_model="tiny-chat",
                                artifact_key="models/ft_broken", samples=samples)
        assert bad and all(m.served != m.expected for m in bad)
    finally:
        await server.aclose()


# --- the service runs queued checks on its own (api.services.serve_checks) ---------------------
def _queue(engine: Engine, model_id: str, samples: list[dict]) -> str:
    """What the scheduler does when a job succeeds: a ServeCheck row with the worker's samples."""
    with session_scope(engine) as session:
        job_id = session.get(Model, model_id).job_id  # type: ignore[union-attr]
        session.add(ServeCheck(job_id=job_id, model_id=model_id, samples=samples))
    return job_id


def _outcome(engine: Engine, job_id: str) -> tuple[str, list[JobEvent]]:
    with session_scope(engine) as session:
        check = session.get(ServeCheck, job_id)
        assert check is not None
        found = session.exec(select(JobEvent).where(JobEvent.job_id == job_id)).all()
        return check.status, list(found)


async def test_queued_checks_pass_or_leave_a_warn_event_naming_the_prompt(
        settings: Settings, engine: Engine, store: Store, trained: dict[str, Path], tiny_dir: Path,
        publish_model: Callable[..., str]) -> None:
    rows = tasks.weather()[0][:2]
    samples = worker_samples(trained["weather"], tiny_dir, rows)
    good = publish_model("proj-a", trained["weather"], suffix="good")
    tampered = publish_model("proj-a", trained["weather"], suffix="bad")
    gone = publish_model("proj-a", trained["weather"], suffix="gone")
    good_job = _queue(engine, good, samples)
    bad_job = _queue(engine, tampered, [samples[0], {**samples[1], "answer": "caturday"}])
    gone_job = _queue(engine, gone, samples)
    with session_scope(engine) as session:
        session.delete(session.get(Model, gone))

    state = build_state(settings, engine=engine, store=store)
    server = ModelServer(settings, store)
    try:
        assert await serve_checks.run_pending(state, server) == 3
        assert await serve_checks.run_pending(state, server) == 0  # each check runs once
    finally:
        await server.aclose()

    status, events = _outcome(engine, good_job)
    assert status == "passed" and [(e.level, e.message) for e in events] == [
        ("info", f"Train-to-serve check passed: {good}, as served, gives the trained model's 2 sample answers")]
    status, events = _outcome(engine, bad_job)
    assert status == "mismatch" and len(events) == 1 and events[0].level == "warn"
    assert events[0].message.startswith("Train-to-serve check: 1 of 2 sample answers differ")
    assert "caturday" in events[0].message and "get_weather" in events[0].data["mismatches"][0]["served"]
    assert _outcome(engine, gone_job) == ("skipped", [])


def test_one_process_claims_each_check(settings: Settings, engine: Engine, store: Store,
                                       trained: dict[str, Path], publish_model: Callable[..., str]) -> None:
    """Several API replicas poll the same table: a claim is a conditional update, won once."""
    model_id = publish_model("proj-a", trained["weather"], suffix="claim")
    job_id = _queue(engine, model_id, [{"messages": [{"role": "user", "content": "hi"}], "answer": "x"}])
    state = build_state(settings, engine=engine, store=store)
    first = serve_checks.claim_next(state)
    assert first is not None and first.job_id == job_id and first.attempts == 1
    assert serve_checks.claim_next(state) is None  # running, and not stale
    with session_scope(engine) as session:  # the claimant died long ago: the claim is taken over
        session.get(ServeCheck, job_id).claimed_at = time.time() - serve_checks.STALE_CLAIM_SECONDS - 1  # type: ignore[union-attr]
    again = serve_checks.claim_next(state)
    assert again is not None and again.attempts == 2
