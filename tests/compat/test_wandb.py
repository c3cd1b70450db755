"""The W&B integration: ``integrations=[{"type": "wandb", ...}]`` through the official client (strict),
the project's own W&B key through the admin API, and real jobs whose worker logs with the real
``wandb`` package in offline mode; the run files are read back (tests/wandb_records.py) and compared
with the job's own events. A W&B failure leaves the job alone: one ``warn`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from live_server import LiveServer, make_client
from polling import DONE, wait_status
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from wandb_records import read_run, run_dirs

from core.protocol import spec_key
from core.settings import Settings
from core.store import Store

WANDB = {"type": "wandb", "wandb": {"project": "openft-ci", "entity": "platform", "name": "first run",
                                    "tags": ["nightly", "team/search"]}}
KEY_ROUTE = "/v1/organization/projects/{}/integrations/wandb"
SUPERVISED = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}}


def _training_file(client: openai.OpenAI) -> str:
    return client.files.create(file=("t.jsonl", chat_jsonl(16), "application/jsonl"), purpose="fine-tune").id


@pytest.fixture
def admin_http(server: LiveServer, org_admin_key: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {org_admin_key}"}) as http:
        yield http


# --- the wire: jobs carry integrations as the client's types say ----------------------------------
@pytest.mark.no_worker
def test_integrations_round_trip_through_the_client(jobs_client: openai.OpenAI) -> None:
    job = jobs_client.fine_tuning.jobs.create(model="tiny-chat", training_file=_training_file(jobs_client),
                                              integrations=[WANDB])  # type: ignore[list-item]
    for got in (job, jobs_client.fine_tuning.jobs.retrieve(job.id)):
        assert got.integrations is not None and len(got.integrations) == 1
        wandb = got.integrations[0].wandb
        assert (got.integrations[0].type, wandb.project, wandb.entity, wandb.name, wandb.tags) == (
            "wandb", "openft-ci", "platform", "first run", ["nightly", "team/search"])
    plain = jobs_client.fine_tuning.jobs.create(model="tiny-chat", training_file=job.training_file)
    assert plain.integrations is None


async def test_integrations_through_the_async_client(server: LiveServer, api_key: str) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=api_key, _strict_response_validation=True) as c:
        fid = (await c.files.create(file=("t.jsonl", chat_jsonl(12), "application/jsonl"), purpose="fine-tune")).id
        job = await c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, integrations=[
            {"type": "wandb", "wandb": {"project": "async-proj"}}])
        listed = [j async for j in c.fine_tuning.jobs.list()]
    assert job.integrations and job.integrations[0].wandb.project == "async-proj"
    assert job.integrations[0].wandb.name is None and job.integrations[0].wandb.tags is None
    assert [j.integrations for j in listed if j.id == job.id] == [job.integrations]


BAD_INTEGRATIONS: list[tuple[Any, str]] = [
    ("wandb", "integrations"),
    ([{"type": "comet", "wandb": {"project": "p"}}], "integrations[0][type]"),
    ([{"type": "wandb"}], "integrations[0][wandb]"),
    ([{"type": "wandb", "wandb": {}}], "integrations[0][wandb][project]"),
    ([{"type": "wandb", "wandb": {"project": ""}}], "integrations[0][wandb][project]"),
    ([{"type": "wandb", "wandb": {"project": "a/b"}}], "integrations[0][wandb][project]"),
    ([{"type": "wandb", "wandb": {"project": "p", "entity": "x:y"}}], "integrations[0][wandb][entity]"),
    ([{"type": "wandb", "wandb": {"project": "p", "tags": ["t" * 65]}}], "integrations[0][wandb][tags][0]"),
    ([{"type": "wandb", "wandb": {"project": "p", "tags": "nightly"}}], "integrations[0][wandb][tags]"),
    ([{"type": "wandb", "wandb": {"project": "p", "api_key": "k"}}], "integrations[0][wandb][api_key]"),
    ([{"type": "wandb", "wandb": {"project": "p"}, "extra": 1}], "integrations[0][extra]"),
    ([WANDB, WANDB], "integrations"),
]


@pytest.mark.parametrize(("integrations", "param"), BAD_INTEGRATIONS)
def test_a_bad_integration_is_a_400_naming_it(client: openai.OpenAI, integrations: Any, param: str) -> None:
    fid = client.files.create(file=("t.jsonl", chat_jsonl(10), "application/jsonl"), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, integrations=integrations)
    assert caught.value.param == param, caught.value.body
    assert client.fine_tuning.jobs.list().data == []  # nothing was recorded


# --- the project's own key (admin API) --------------------------------------------------------
def test_a_project_sets_reads_and_deletes_its_wandb_key(admin_http: httpx2.Client, api_key: str,
                                                         server: LiveServer) -> None:
    route = KEY_ROUTE.format("proj-a")
    assert admin_http.get(route).status_code == 404
    key = "wandb_v1_" + "K" * 30 + "abcd"
    set_ = admin_http.post(route, json={"api_key": key})
    assert set_.status_code == 200, set_.text
    obj = set_.json()
    assert (obj["object"], obj["id"], obj["project_id"], obj["api_key_hint"]) == (
        "organization.project.integration", "wandb", "proj-a", "...abcd")
    assert admin_http.get(route).json() == obj
    replaced = admin_http.post(route, json={"api_key": "other_key_wxyz"}).json()
    assert replaced["api_key_hint"] == "...wxyz" and replaced["created_at"] == obj["created_at"]

    project_key = httpx2.get(server.url + route, headers={"Authorization": f"Bearer {api_key}"})
    assert project_key.status_code == 403 and project_key.json()["error"]["type"] == "permission_error"

    assert admin_http.delete(route).json() == {
        "id": "wandb", "object": "organization.project.integration.deleted", "deleted": True}
    assert admin_http.get(route).status_code == 404
    raw = admin_http.get("/v1/organization/audit_logs", params={
        "event_types[]": ["project.integration.updated", "project.integration.deleted"]}).json()["data"]
    assert [e["type"] for e in raw] == ["project.integration.deleted"] + ["project.integration.updated"] * 2
    assert key not in str(raw) and "other_key_wxyz" not in str(raw)  # never a secret in the log


BAD_KEY_REQUESTS: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "proj-a", {}, 400, "api_key"),
    ("POST", "proj-a", {"api_key": ""}, 400, "api_key"),
    ("POST", "proj-a", {"api_key": "two words"}, 400, "api_key"),
    ("POST", "proj-a", {"api_key": 7}, 400, "api_key"),
    ("POST", "proj-a", {"api_key": "k", "entity": "e"}, 400, "entity"),
    ("POST", "proj_nope", {"api_key": "k"}, 404, "project_id"),
    ("GET", "proj_nope", None, 404, "project_id"),
    ("DELETE", "proj-a", None, 404, "project_id"),
]


@pytest.mark.parametrize(("method", "project", "body", "status", "param"), BAD_KEY_REQUESTS)
def test_bad_wandb_key_requests(admin_http: httpx2.Client, api_key: str, method: str, project: str, body: Any,
                                status: int, param: str | None) -> None:
    r = admin_http.request(method, KEY_ROUTE.format(project), json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param


# --- real jobs ---------------------------------------------------------------------------------
def _wandb_settings(settings: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    return fast_settings(settings, **{"wandb_mode": "offline", "wandb_dir": tmp_path / "wandb-runs", **overrides})


def _finished(client: openai.OpenAI, job_id: str) -> Any:
    wait_status(client, job_id, DONE)
    return client.fine_tuning.jobs.retrieve(job_id)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)  # the database plays no part in the logging
def test_a_job_logs_its_metrics_config_and_hyperparameters_to_wandb(
        settings: Settings, engine: Engine, store: Store, api_key: str, org_admin_key: str, tmp_path: Path) -> None:
    settings = _wandb_settings(settings, tmp_path)
    with embedded_server(settings, engine, store) as live, make_client(live, api_key) as client:
        project_key = "wandb_v1_project_key_1234"
        with httpx2.Client(base_url=live.url, headers={"Authorization": f"Bearer {org_admin_key}"}) as http:
            assert http.post(KEY_ROUTE.format("proj-a"), json={"api_key": project_key}).status_code == 200
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=_training_file(client),
                                             method=SUPERVISED, integrations=[WANDB])  # type: ignore[list-item]
        done = _finished(client, job.id)
        events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert done.status == "succeeded", done.error
    assert store.read_json(spec_key(job.id))["wandb"]["api_key"] == project_key  # the project's key, not the operator's

    (run_dir,) = run_dirs(settings.wandb_dir)  # type: ignore[arg-type]
    run = read_run(run_dir)
    assert (run.id, run.project, run.entity, run.name) == (job.id, "openft-ci", "platform", "first run")
    assert run.tags == ["openft/finetune", "openft/tiny-chat", f"openft/{job.id}", "nightly", "team/search"]

    logged = {row["_step"]: {k: v for k, v in row.items() if not k.startswith("_")} for row in run.history}
    metrics = {e.data["step"]: {k: v for k, v in e.data.items() if k not in ("step", "total_steps")}
               for e in events if e.type == "metrics"}
    assert metrics and logged == metrics  # every metrics event, value for value

    hp = done.method.supervised.hyperparameters  # type: ignore[union-attr]
    assert run.config["hyperparameters"]["n_epochs"] == hp.n_epochs == 1
    assert run.config["hyperparameters"]["batch_size"] == hp.batch_size == 4
    assert run.config["hyperparameters"]["learning_rate_multiplier"] == hp.learning_rate_multiplier
    assert (run.config["job_id"], run.config["base_model"], run.config["method"]) == (job.id, "tiny-chat",
                                                                                       "supervised")
    assert run.config["plan"]["total_steps"] == max(metrics)  # the engine's plan, from the started report
    assert run.summary["fine_tuned_model"] == done.fine_tuned_model
    assert run.summary["trained_tokens"] == done.trained_tokens and run.summary["status"] == "succeeded"
    assert run.exit_code == 0
    assert not [e for e in events if e.level == "warn" and "W&B" in e.message]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_a_wandb_failure_is_a_warning_and_the_job_still_succeeds(
        settings: Settings, engine: Engine, store: Store, api_key: str, tmp_path: Path) -> None:
    # online with a key W&B refuses before any network call: the operator's setting is bad
    settings = _wandb_settings(settings, tmp_path, wandb_mode="online", wandb_api_key=SecretStr("not a key"),
                               wandb_base_url="http://127.0.0.1:9")
    with embedded_server(settings, engine, store) as live, make_client(live, api_key) as client:
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=_training_file(client),
                                             method=SUPERVISED, integrations=[WANDB])  # type: ignore[list-item]
        done = _finished(client, job.id)
        events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert done.status == "succeeded" and done.fine_tuned_model, done.error
    warnings = [e for e in events if e.level == "warn" and "W&B" in e.message]
    assert len(warnings) == 1, [e.message for e in events]
    assert "API key" in warnings[0].message and "not a key" not in warnings[0].message
    assert [e for e in events if e.type == "metrics"]  # training went on, reported as always
