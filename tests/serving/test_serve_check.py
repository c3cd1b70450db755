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


async def test_check_agrees_with_recorded_answers_and_fires_on_tampering(
        settings: Settings, store: Store, trained: dict[str, Path]) -> None:
    store.upload_dir(trained["next_day"], "models/ft_days")
    server = ModelServer(settings, store)
    try:
        samples = [{"messages": ex["messages"], "answer": answer, "max_tokens": 8}
                   for ex, answer in tasks.next_day()[1][:3]]
        ok = await check_model(server, model_id="ft:tiny-chat:p::days", base_model="tiny-chat",
                               artifact_key="models/ft_days", samples=samples)
        assert ok == []

        samples[1] = {**samples[1], "answer": "caturday"}
        bad = await check_model(server, model_id="ft:tiny-chat:p::days", base_model="tiny-chat",
                                artifact_key="models/ft_days", samples=samples)
        assert [(m.expected, m.served) for m in bad] == [("caturday", "wednesday")]
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
