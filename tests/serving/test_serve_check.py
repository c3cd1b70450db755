"""The train-to-serve check passes on faithful samples and fires on a tampered one."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving import tasks

from api.inference.check import check_model, warning_message
from api.inference.server import ModelServer
from core.settings import Settings
from core.store import Store

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
