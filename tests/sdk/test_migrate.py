"""``openft migrate``: a second openft serves as the source account (it speaks the same API).

The source runs the embedded scheduler without a worker, so its jobs get as far as ``queued``
with their hyperparameters resolved, which is what inventory and import read. The destination
is the test's own server. A source that refuses file downloads (as OpenAI does for some
purposes) is the same app behind a gate that answers 400 on ``/content``: OpenAI's behaviour,
outside our boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl, jsonl, preference_example
from live_server import LiveServer, make_client, run_server_in_thread

from api.app import create_app
from api.services.keys import create_key
from core.db import make_engine
from core.settings import Settings
from core.store import store_from_settings
from sdk.cli.main import main
from sdk.migrate import plan_import, run_import, take_inventory
from sdk.migrate.importer import SOURCE_JOB_KEY


@dataclass
class Source:
    """The source account: its server, a strict client, its key and data dir."""

    live: LiveServer
    client: openai.OpenAI
    key: str
    data_dir: Path


@contextlib.contextmanager
def _source(tmp_path: Path, sqlite_template: Path, *, scheduler: bool, refuse_downloads: bool = False
            ) -> Iterator[Source]:
    data_dir = tmp_path / "source"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "openft.db")
    settings = fast_settings(Settings(data_dir=data_dir))
    engine = make_engine(settings)
    store = store_from_settings(settings)
    key = create_key(engine, "legacy")
    if scheduler:
        server_cm = embedded_server(settings, engine, store, worker=False)
    else:
        app = create_app(settings, engine=engine, store=store)
        server_cm = run_server_in_thread(_RefuseDownloads(app) if refuse_downloads else app)  # type: ignore[arg-type]
    try:
        with server_cm as live, make_client(live, key) as client:
            yield Source(live, client, key, data_dir)
    finally:
        engine.dispose()


class _RefuseDownloads:
    """OpenAI refuses to return the content of files of some purposes with a 400."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/content"):
            body = json.dumps({"error": {"message": "Not allowed to download files of purpose: fine-tune",
                                         "type": "invalid_request_error", "param": None, "code": None}}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _wait_status(client: openai.OpenAI, job_id: str, statuses: tuple[str, ...], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"{job_id} did not reach {statuses}: {job.status}")


@pytest.fixture
def source(tmp_path: Path, sqlite_template: Path) -> Iterator[Source]:
    with _source(tmp_path, sqlite_template, scheduler=True) as src:
        yield src


@pytest.fixture
def source_jobs(source: Source) -> dict[str, Any]:
    """Two jobs at the source: SFT with set values and metadata, DPO on auto; plus a spare file."""
    c = source.client
    train = c.files.create(file=("train.jsonl", chat_jsonl(24)), purpose="fine-tune")
    valid = c.files.create(file=("valid.jsonl", chat_jsonl(12)), purpose="fine-tune")
    prefs = c.files.create(file=("prefs.jsonl", jsonl(preference_example(i) for i in range(12))),
                           purpose="fine-tune")
    spare = c.files.create(file=("notes.jsonl", chat_jsonl(10)), purpose="fine-tune")
    sft = c.fine_tuning.jobs.create(
        model="tiny-chat", training_file=train.id, validation_file=valid.id, suffix="support",
        metadata={"team": "support", "ticket": "ML-7"}, seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {
            "n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}}},
    )
    dpo = c.fine_tuning.jobs.create(model="tiny-chat", training_file=prefs.id,
                                    method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}})
    jobs = {j.id: _wait_status(c, j.id, ("queued",)) for j in (sft, dpo)}
    return {"jobs": jobs, "files": {f.id: f for f in (train, valid, prefs, spare)}, "sft": sft.id, "dpo": dpo.id}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inventory_lists_the_source_exactly(source: Source, source_jobs: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    inventory = take_inventory(source.client)
    assert {j.id for j in inventory.jobs} == set(source_jobs["jobs"])
    assert {f.id: f.bytes for f in inventory.files} == {i: f.bytes for i, f in source_jobs["files"].items()}
    assert inventory.models == []  # nothing trained at the source yet
    sft = inventory.job(source_jobs["sft"])
    assert (sft.method, sft.suffix, sft.metadata, sft.seed) == ("supervised", "support",
                                                                 {"team": "support", "ticket": "ML-7"}, 7)
    assert sft.hyperparameters == {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}
    dpo = inventory.job(source_jobs["dpo"])
    assert dpo.method == "dpo" and dpo.hyperparameters["beta"] == 0.2
    assert all(v != "auto" for v in dpo.hyperparameters.values()), "queued jobs carry resolved values"

    code, out, _err = _cli(capsys, "migrate", "inventory", "--from-base-url", source.live.base_url,
                           "--from-key", source.key, "--json")
    assert code == 0
    listed = json.loads(out)
    assert {j["id"] for j in listed["jobs"]} == set(source_jobs["jobs"])
    assert len(listed["files"]) == 4
    code, out, _err = _cli(capsys, "migrate", "inventory", "--from-base-url", source.live.base_url,
                           "--from-key", source.key)
    assert code == 0 and "# fine-tuning jobs (2)" in out and source_jobs["sft"] in out
    assert source.key not in out


def test_import_recreates_files_and_jobs_idempotently(
    source: Source, source_jobs: dict[str, Any], client: openai.OpenAI, server: LiveServer, api_key: str,
    settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    inventory = take_inventory(source.client)
    wanted = [source_jobs["sft"], source_jobs["dpo"]]
    plan = plan_import(source.client, client, inventory, job_ids=wanted)
    assert [s.model for s in plan.steps] == ["tiny-chat", "tiny-chat"], "the destination serves the same base"
    report = run_import(source.client, client, plan)
    assert report.ok and set(report.created_jobs) == set(wanted), report

    for source_id, here_id in report.created_jobs.items():
        theirs, ours = source_jobs["jobs"][source_id], client.fine_tuning.jobs.retrieve(here_id)
        assert ours.model == theirs.model and ours.seed == theirs.seed
        assert ours.metadata == {**(theirs.metadata or {}), SOURCE_JOB_KEY: source_id}
        assert ours.method.type == theirs.method.type
        kind = theirs.method.type
        assert getattr(ours.method, kind).hyperparameters == getattr(theirs.method, kind).hyperparameters
        for role in ("training_file", "validation_file"):
            src_file = getattr(theirs, role)
            if src_file is None:
                assert getattr(ours, role) is None
                continue
            assert client.files.content(getattr(ours, role)).read() == source.client.files.content(src_file).read()
    assert (client.fine_tuning.jobs.retrieve(report.created_jobs[source_jobs["sft"]]).model_extra or {}).get(
        "user_provided_suffix") == "support"

    files_before = sorted(f.id for f in client.files.list())
    jobs_before = sorted(j.id for j in client.fine_tuning.jobs.list())
    code, out, _err = _cli(capsys, "migrate", "import", "--from-base-url", source.live.base_url,
                           "--from-key", source.key, "--base-url", server.base_url, "--api-key", api_key,
                           "--job", wanted[0], "--job", wanted[1], "--json")
    again = json.loads(out)
    assert code == 0 and again["created_jobs"] == {} and set(again["skipped"]) == set(wanted)
    assert sorted(f.id for f in client.files.list()) == files_before
    assert sorted(j.id for j in client.fine_tuning.jobs.list()) == jobs_before
    assert not _mentions(settings.data_dir, source.key)


def test_a_file_left_by_a_stopped_run_is_reused_not_uploaded_twice(
    source: Source, source_jobs: dict[str, Any], client: openai.OpenAI,
) -> None:
    sft = source_jobs["jobs"][source_jobs["sft"]]
    data = source.client.files.content(sft.training_file).read()
    client.files.create(file=("train.jsonl", data), purpose="fine-tune")  # as a run that stopped would leave
    before = len(client.files.list().data)
    report = run_import(source.client, client, plan_import(source.client, client, take_inventory(source.client),
                                                           job_ids=[sft.id]))
    assert report.ok
    assert len(client.files.list().data) == before + 1, "only the validation file is new"


def test_dry_run_creates_nothing(source: Source, source_jobs: dict[str, Any], client: openai.OpenAI,
                                 server: LiveServer, api_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _cli(capsys, "migrate", "import", "--dry-run", "--json", "--job", source_jobs["sft"],
                           "--from-base-url", source.live.base_url, "--from-key", source.key,
                           "--base-url", server.base_url, "--api-key", api_key,
                           "--model-map", "tiny-chat=meta-llama/Llama-3.2-1B-Instruct")
    plan = json.loads(out)
    assert code == 0 and [s["model"] for s in plan["jobs"]] == ["meta-llama/Llama-3.2-1B-Instruct"]
    assert [f["action"] for f in plan["jobs"][0]["files"]] == ["download", "download"]
    assert client.files.list().data == [] and client.fine_tuning.jobs.list().data == []


@pytest.fixture
def refusing_source(tmp_path: Path, sqlite_template: Path) -> Iterator[Source]:
    with _source(tmp_path, sqlite_template, scheduler=False, refuse_downloads=True) as src:
        yield src


def test_refused_downloads_name_each_missing_file_then_import_from_local_copies(
    refusing_source: Source, client: openai.OpenAI, tmp_path: Path,
) -> None:
    src = refusing_source.client
    train_bytes, valid_bytes = chat_jsonl(20), chat_jsonl(11)
    train = src.files.create(file=("train.jsonl", train_bytes), purpose="fine-tune")
    valid = src.files.create(file=("valid.jsonl", valid_bytes), purpose="fine-tune")
    job = src.fine_tuning.jobs.create(model="tiny-chat", training_file=train.id, validation_file=valid.id)
    inventory = take_inventory(src)

    report = run_import(src, client, plan_import(src, client, inventory, job_ids=[job.id]))
    assert not report.ok and job.id in report.failed
    for missing in (train.id, valid.id):
        assert missing in report.failed[job.id] and f"--file-map {missing}=PATH" in report.failed[job.id]
    assert client.files.list().data == [] and client.fine_tuning.jobs.list().data == [], "nothing half-imported"

    (tmp_path / "t.jsonl").write_bytes(train_bytes)
    (tmp_path / "v-wrong.jsonl").write_bytes(valid_bytes + b"\n")
    plan = plan_import(src, client, inventory, job_ids=[job.id],
                       file_map={train.id: tmp_path / "t.jsonl", valid.id: tmp_path / "v-wrong.jsonl"})
    report = run_import(src, client, plan)
    assert not report.ok and f"the source says {len(valid_bytes)} bytes" in report.failed[job.id]

    (tmp_path / "v.jsonl").write_bytes(valid_bytes)
    plan = plan_import(src, client, inventory, job_ids=[job.id],
                       file_map={train.id: tmp_path / "t.jsonl", valid.id: tmp_path / "v.jsonl"})
    report = run_import(src, client, plan)
    assert report.ok
    here = client.fine_tuning.jobs.retrieve(report.created_jobs[job.id])
    assert hashlib.sha256(client.files.content(here.training_file).read()).digest() == \
        hashlib.sha256(train_bytes).digest()


def _mentions(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]

