"""``openft migrate distill``: a tiny-chat teacher fine-tuned at a source openft, distilled here.

The teacher learns a small classification task at the source (a second ``openft serve`` with
its own worker); distill samples it on prompts it never saw, trains a tiny-chat student here on
its answers, and grades the student against the teacher with an eval (default grader:
fuzzy_match against the teacher's answers). One real training run on each side.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from embedded import embedded_server, fast_settings
from live_server import make_client

from api.services.keys import create_key
from core.db import make_engine
from core.settings import Settings
from core.store import store_from_settings
from sdk.cli.main import main
from sdk.migrate import take_inventory
from sdk.migrate.distill import read_prompts, sample_source

pytestmark = pytest.mark.slow

TOPICS = {
    "sports": ["football", "tennis", "the match", "the referee", "a goal"],
    "food": ["the soup", "a pizza", "the bakery", "dessert", "the recipe"],
    "travel": ["the flight", "a hotel", "the beach", "my passport", "the train"],
}
FRAMES = ["Tell me the topic: {x} was on my mind.", "Topic of this note: I talked about {x}.",
          "Which topic? {x} again today.", "Classify: everyone mentioned {x}."]


def _rows(n: int, seed: int, *, answers: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(sorted(TOPICS))
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": rng.choice(FRAMES).format(x=rng.choice(TOPICS[topic]))}]
        if answers:
            messages.append({"role": "assistant", "content": topic})
        rows.append({"messages": messages})
    return rows


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _server(root: Path, sqlite_template: Path, project: str) -> tuple[Any, str, Any]:
    root.mkdir()
    shutil.copyfile(sqlite_template, root / "openft.db")
    settings = fast_settings(Settings(data_dir=root))
    engine = make_engine(settings)
    return embedded_server(settings, engine, store_from_settings(settings)), create_key(engine, project), engine


def test_distill_trains_a_student_that_agrees_with_its_teacher(
    tmp_path: Path, sqlite_template: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    source_cm, source_key, source_engine = _server(tmp_path / "source", sqlite_template, "legacy")
    dest_cm, dest_key, dest_engine = _server(tmp_path / "dest", sqlite_template, "team")
    with source_cm as source, dest_cm as dest, make_client(source, source_key) as teacher_client:
        f = teacher_client.files.create(file=("teach.jsonl", _jsonl(_rows(60, 1, answers=True))), purpose="fine-tune")
        job = teacher_client.fine_tuning.jobs.create(model="tiny-chat", training_file=f.id, suffix="teacher")
        deadline = time.monotonic() + 1800
        while (job := teacher_client.fine_tuning.jobs.retrieve(job.id)).status not in (
                "succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, "the teacher did not finish"
            time.sleep(1)
        assert job.status == "succeeded" and job.fine_tuned_model, job.error
        teacher = job.fine_tuned_model
        inventory = take_inventory(teacher_client)  # the source now holds a job, its file and an ft: model
        assert [j.fine_tuned_model for j in inventory.jobs] == [teacher] and [f.id for f in inventory.files] == [f.id]
        assert teacher in {m.id for m in inventory.models}
        assert all(m.id.startswith(teacher) for m in inventory.models), "the model and its checkpoints"

        prompts = tmp_path / "prompts.jsonl"
        prompts.write_bytes(_jsonl(_rows(50, 2, answers=False)))
        monkeypatch.setenv("OPENAI_API_KEY", source_key)  # the default source key variable
        capsys.readouterr()
        code = main(["migrate", "distill", "--json", "--from-base-url", source.base_url,
                     "--base-url", dest.base_url, "--api-key", dest_key, "--model", teacher,
                     "--prompts", str(prompts), "--work-dir", str(tmp_path / "work"), "--base", "tiny-chat"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        report = json.loads(captured.out)

        assert report["source_model"] == teacher and report["student_model"].startswith("ft:tiny-chat:")
        assert (report["n_train"], report["n_holdout"]) == (40, 10)
        # fuzzy agreement with the teacher on 10 unseen prompts: 0.65 measured on the varied-frames
        # tiny-chat (40 distilled examples); the base's own score is the baseline below
        assert report["student_score"] >= 0.55, report["items"]
        assert report["student_score"] > report["base_score"]
        for item in report["items"]:
            assert item["source_answer"] in TOPICS and item["student_answer"] is not None

        # the sampled answers were kept, one per distinct prompt: sampling again asks nothing new
        answers_file = tmp_path / "work" / "answers.jsonl"
        distinct = {json.dumps(r["messages"]) for r in _rows(50, 2, answers=False)}
        assert len(answers_file.read_text().splitlines()) == len(distinct)
        again = sample_source(teacher_client, teacher, read_prompts(prompts), tmp_path / "work",
                              requests_per_second=0)
        assert len(answers_file.read_text().splitlines()) == len(distinct)
        assert len(again) == 50
        for path in (tmp_path / "dest").rglob("*"):
            if path.is_file():
                assert source_key.encode() not in path.read_bytes(), f"the source key leaked into {path}"
        assert source_key not in captured.out and source_key not in captured.err
    source_engine.dispose()
    dest_engine.dispose()
