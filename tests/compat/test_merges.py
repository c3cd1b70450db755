"""Adapter merges (``POST /v1/models/merges``): two fine-tunes on different tasks become one
served ``ft:`` model that answers both; bad combinations answer 400/404 naming the param."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import tasks
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


def wait_merge(http: Any, merge_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"/v1/models/merges/{merge_id}").json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.5)


def exact(client: openai.OpenAI, model: str, pairs: list[tuple[dict[str, Any], str]]) -> float:
    answers = [client.chat.completions.create(model=model, messages=ex["messages"], temperature=0, max_tokens=12)
               .choices[0].message.content or "" for ex, _ in pairs]
    return tasks.exact(answers, [want for _, want in pairs])


@pytest.mark.slow
def test_ties_and_linear_merges_answer_both_tasks_and_record_their_lineage(
        client: openai.OpenAI, http: Any, publish_model: Callable[..., str], trained: dict[str, Path]) -> None:
    """Parents: sentiment 100% / next_day 0%, and 0% / 100%; the base 0% on both. Merged as deltas
    (api.services.merges.PEFT_COMBINATION) these adapters give ties 90% / 100% and linear (equal
    weights 0.5, 0.5) 95% / 100% (another run: linear 90% / 86%, hence floors of 0.85); PEFT's own
    A-and-B-apart forms gave 85% / 57% and 85% / 71%."""
    mood = publish_model("proj-a", trained["sentiment"], suffix="mood")
    days = publish_model("proj-a", trained["next_day"], suffix="days")
    sentiment, next_day = tasks.sentiment()[1][:20], tasks.next_day()[1]
    assert exact(client, "tiny-chat", sentiment) == exact(client, "tiny-chat", next_day) == 0
    for method, weights, floors in (("ties", [1.0, 1.0], (0.85, 0.85)), ("linear", None, (0.85, 0.85))):
        body: dict[str, Any] = {"models": [mood, days], "method": method, "suffix": f"both-{method}"}
        if weights:
            body["weights"] = weights
        resp = http.post("/v1/models/merges", json=body)
        assert resp.status_code == 200, resp.text
        created = resp.json()
        assert created["object"] == "model.merge" and created["status"] == "queued"
        assert created["fine_tuned_model"].startswith(f"ft:tiny-chat:proj-a:both-{method}:")
        done = wait_merge(http, created["id"])
        assert done["status"] == "succeeded", done
        assert done["finished_at"] >= done["created_at"]
        merged = done["fine_tuned_model"]
        assert merged in [m.id for m in client.models.list()]
        scores = exact(client, merged, sentiment), exact(client, merged, next_day)
        assert scores[0] >= floors[0] and scores[1] >= floors[1], (method, scores)

        export = http.get(f"/v1/models/{merged}/content")
        with tarfile.open(fileobj=io.BytesIO(export.content)) as tar:
            top = merged.replace(":", "_")
            lineage = json.loads(tar.extractfile(f"{top}/lineage.json").read())  # type: ignore[union-attr]
            config = json.loads(tar.extractfile(f"{top}/adapter_config.json").read())  # type: ignore[union-attr]
        assert config["base_model_name_or_path"] == "tiny-chat"
        assert lineage["merge"]["parents"] == [mood, days] and lineage["merge"]["method"] == method
        assert lineage["merge"]["weights"] == (weights or [0.5, 0.5])
        assert lineage["merge"]["density"] == (0.5 if method == "ties" else None)
        assert set(lineage["parents"]) == {mood, days}


def _first_ranks(adapter: Path, dest: Path, rank: int) -> Path:
    """A copy of ``adapter`` cut to its first ``rank`` LoRA directions: a valid adapter of a lower rank."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, dest)
    weights = load_file(str(dest / "adapter_model.safetensors"))
    cut = {k: (v[:rank].contiguous() if ".lora_A." in k else v[:, :rank].contiguous() if ".lora_B." in k else v)
           for k, v in weights.items()}
    save_file(cut, str(dest / "adapter_model.safetensors"))
    config = json.loads((dest / "adapter_config.json").read_text())
    (dest / "adapter_config.json").write_text(json.dumps({**config, "r": rank}))
    return dest


def test_bad_merge_requests_answer_400_or_404_naming_the_param(
        http: Any, other_key: str, publish_model: Callable[..., str], trained: dict[str, Path],
        tmp_path: Path) -> None:
    mine = [publish_model("proj-a", trained["sentiment"], suffix="a"),
            publish_model("proj-a", trained["next_day"], suffix="b")]
    theirs = publish_model("proj-b", trained["next_day"], suffix="c")
    other_base = publish_model("proj-a", trained["next_day"], suffix="q", base="Qwen/Qwen2.5-0.5B-Instruct")
    low_rank = publish_model("proj-a", _first_ranks(trained["next_day"], tmp_path / "rank8", 8), suffix="r8")
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"models": [mine[0]]}, 400, "models"),
        ({"method": "ties"}, 400, "models"),
        ({"models": [mine[0], mine[0]]}, 400, "models"),
        ({"models": mine[0]}, 400, "models"),
        ({"models": [mine[0], "ft:tiny-chat:proj-a:x:nothere1"]}, 404, "models"),
        ({"models": [mine[0], theirs]}, 404, "models"),
        ({"models": [mine[0], "tiny-chat"]}, 400, "models"),
        ({"models": [mine[0], other_base]}, 400, "models"),
        ({"models": mine, "method": "svd"}, 400, "method"),
        ({"models": mine, "method": ""}, 400, "method"),
        ({"models": mine, "method": "cat", "density": 0.5}, 400, "density"),
        ({"models": mine, "weights": [1.0]}, 400, "weights"),
        ({"models": mine, "weights": [1.0, -1.0]}, 400, "weights"),
        ({"models": mine, "weights": ["a", 1]}, 400, "weights[0]"),
        ({"models": mine, "method": "linear", "density": 0.5}, 400, "density"),
        ({"models": mine, "method": "ties", "density": 1.5}, 400, "density"),
        ({"models": mine, "method": "dare_ties", "density": 0}, 400, "density"),
        ({"models": mine, "suffix": "a:b"}, 400, "suffix"),
        ({"models": mine, "suffix": "x" * 65}, 400, "suffix"),
        ({"models": mine, "colour": "red"}, 400, "colour"),
    ]
    for body, status, param in cases:
        resp = http.post("/v1/models/merges", json=body)
        assert resp.status_code == status, (body, resp.text)
        error = resp.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, (body, error)
        assert error["message"]

    mixed = http.post("/v1/models/merges", json={"models": [mine[0], low_rank], "method": "ties"})
    assert mixed.status_code == 200, mixed.text  # merged as deltas: adapters of different ranks combine
    assert wait_merge(http, mixed.json()["id"])["status"] == "succeeded"
    ok = http.post("/v1/models/merges", json={"models": [mine[0], low_rank], "method": "cat"})
    assert ok.status_code == 200, ok.text  # cat concatenates adapters of different ranks
    merge_id = ok.json()["id"]
    assert http.get(f"/v1/models/merges/{merge_id}").status_code == 200
    other = http.get(f"/v1/models/merges/{merge_id}", headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 404 and other.json()["error"]["param"] == "merge_id"
    assert http.get("/v1/models/merges/merge-nothere").status_code == 404
    stolen = http.post("/v1/models/merges", json={"models": mine}, headers={"Authorization": f"Bearer {other_key}"})
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "model_not_found"
