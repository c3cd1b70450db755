"""Every admin, webhook and checkpoint-permission route through the official client in strict mode,
once with ``openai.OpenAI`` and once with ``openai.AsyncOpenAI`` (the ``flavor`` parameter), on
each backend (SQLite + local store, PostgreSQL + S3).

One scenario per surface, written once: :func:`call` awaits what the async client returns and
passes the sync client's answer through, so both clients run the same lines. The deeper checks
(limits under load, deliveries and retries, sharing a model's use) live in the surface's own module.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from job_factories import create_job
from live_server import LiveServer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from webhook_receiver import receiver

from core.settings import Settings
from core.tables import Model

JOB_EVENTS = ["fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled"]
Client = Any  # openai.OpenAI or openai.AsyncOpenAI, by flavor


async def call(result: Any) -> Any:
    """The answer of a client call: awaited for the async client, as it is for the sync one."""
    return await result if inspect.isawaitable(result) else result


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def connect(server: LiveServer, flavor: str) -> AsyncIterator[Any]:
    """``connect(**kwargs)``: the strict official client of ``flavor`` against ``server``."""
    opened: list[Any] = []

    def make(**kwargs: Any) -> Client:
        cls = openai.OpenAI if flavor == "sync" else openai.AsyncOpenAI
        client = cls(base_url=server.base_url, _strict_response_validation=True, **kwargs)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await call(client.close())


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private_targets": True})


async def test_projects_service_accounts_and_keys(connect: Any, org_admin_key: str) -> None:
    org = connect(api_key="unused", admin_api_key=org_admin_key).admin.organization
    project = await call(org.projects.create(name="platform"))
    assert (project.object, project.status) == ("organization.project", "active")
    assert (await call(org.projects.retrieve(project.id))).name == "platform"
    assert (await call(org.projects.update(project.id, name="platform 2"))).name == "platform 2"
    assert project.id in [p.id for p in (await call(org.projects.list(limit=100))).data]

    svc = await call(org.projects.service_accounts.create(project.id, name="ci"))
    assert svc.api_key is not None and svc.api_key.value.startswith("sk-")
    assert [s.id for s in (await call(org.projects.service_accounts.list(project.id))).data] == [svc.id]
    assert (await call(org.projects.service_accounts.retrieve(svc.id, project_id=project.id))).name == "ci"
    keys = (await call(org.projects.api_keys.list(project.id))).data
    assert [k.id for k in keys] == [svc.api_key.id] and svc.api_key.value not in str(keys)
    key = await call(org.projects.api_keys.retrieve(svc.api_key.id, project_id=project.id))
    assert key.redacted_value and key.redacted_value != svc.api_key.value
    assert (await call(org.projects.api_keys.delete(svc.api_key.id, project_id=project.id))).deleted
    assert (await call(org.projects.api_keys.list(project.id))).data == []
    assert (await call(org.projects.service_accounts.delete(svc.id, project_id=project.id))).deleted
    with pytest.raises(openai.NotFoundError):
        await call(org.projects.service_accounts.retrieve(svc.id, project_id=project.id))

    archived = await call(org.projects.archive(project.id))
    assert archived.status == "archived" and archived.archived_at
    assert project.id not in [p.id for p in (await call(org.projects.list(limit=100))).data]
    assert project.id in [p.id for p in (await call(org.projects.list(limit=100, include_archived=True))).data]

    made = await call(org.admin_api_keys.create(name="second admin"))
    assert made.value and (await call(org.admin_api_keys.retrieve(made.id))).name == "second admin"
    assert made.id in [k.id for k in (await call(org.admin_api_keys.list(limit=100))).data]
    assert (await call(org.admin_api_keys.delete(made.id))).deleted

    audit = (await call(org.audit_logs.list(project_ids=[project.id], limit=100))).data
    assert {"project.created", "project.updated", "project.archived", "service_account.created",
            "service_account.deleted", "api_key.deleted"} <= {e.type for e in audit}


async def test_rate_limits_usage_costs_and_refusals(connect: Any, org_admin_key: str, api_key: str) -> None:
    org = connect(api_key="unused", admin_api_key=org_admin_key).admin.organization
    limits = {r.model: r for r in (await call(org.projects.rate_limits.list_rate_limits("proj-a"))).data}
    updated = await call(org.projects.rate_limits.update_rate_limit(
        limits["tiny-chat"].id, project_id="proj-a", max_requests_per_1_minute=5))
    assert (updated.model, updated.max_requests_per_1_minute) == ("tiny-chat", 5)
    again = (await call(org.projects.rate_limits.list_rate_limits("proj-a"))).data
    assert {r.model: r.max_requests_per_1_minute for r in again}["tiny-chat"] == 5

    now = int(time.time())
    usage = await call(org.usage.completions(start_time=now - 3600, end_time=now + 60, bucket_width="1h"))
    assert usage.object == "page" and all(b.results == [] for b in usage.data)  # nothing served yet
    costs = await call(org.usage.costs(start_time=now - 86400, end_time=now + 60))
    assert costs.object == "page" and all(b.results == [] for b in costs.data)

    as_project = connect(api_key="unused", admin_api_key=api_key).admin.organization  # a project key
    with pytest.raises(openai.PermissionDeniedError):
        await call(as_project.projects.rate_limits.list_rate_limits("proj-a"))
    with pytest.raises(openai.PermissionDeniedError):
        await call(as_project.usage.completions(start_time=now - 60))
    with pytest.raises(openai.NotFoundError):
        await call(org.projects.rate_limits.update_rate_limit("rl-nope", project_id="proj-a",
                                                             max_requests_per_1_minute=1))


async def test_webhook_endpoints(connect: Any, api_key: str, other_key: str) -> None:
    client = connect(api_key=api_key)
    with receiver() as rec:
        made = await call(client.webhooks.create(name="hooks", url=rec.url, event_types=JOB_EVENTS))
        assert made.signing_secret.startswith("whsec_")
        assert (await call(client.webhooks.retrieve(made.id))).url == rec.url
        assert [w.id for w in (await call(client.webhooks.list())).data] == [made.id]
        updated = await call(client.webhooks.update(made.id, name="hooks 2",
                                                    event_types=["fine_tuning.job.failed"]))
        assert (updated.name, updated.event_types) == ("hooks 2", ["fine_tuning.job.failed"])
        rotated = await call(client.webhooks.rotate_secret(made.id))
        assert rotated.signing_secret != made.signing_secret
        result = await call(client.webhooks.test(made.id, event_type="fine_tuning.job.failed"))
        assert (result.status_code, result.webhook_endpoint_id) == (200, made.id)
        headers, body, _ = rec.wait(1)[0]
        assert client.webhooks.unwrap(body, headers, secret=rotated.signing_secret).type == "fine_tuning.job.failed"
        assert set(JOB_EVENTS) <= set((await call(client.webhooks.event_types.list())).data)

    with pytest.raises(openai.NotFoundError):  # another project's endpoint is as if missing
        await call(connect(api_key=other_key).webhooks.retrieve(made.id))
    assert (await call(client.webhooks.delete(made.id))).deleted
    with pytest.raises(openai.NotFoundError):
        await call(client.webhooks.retrieve(made.id))


async def test_checkpoint_permissions(connect: Any, engine: Engine, org_admin_key: str, api_key: str,
                                      other_key: str) -> None:
    job = create_job(engine, "proj-a", status="succeeded")
    model_id = "ft:tiny-chat:proj-a:shared:abcd1234"
    with Session(engine) as session:
        session.add(Model(id=model_id, project_id="proj-a", job_id=job.id, base_model="tiny-chat",
                          artifact_key="models/shared"))
        session.commit()
    perms = connect(api_key=org_admin_key).fine_tuning.checkpoints.permissions  # bearer: the admin key
    [granted] = (await call(perms.create(model_id, project_ids=["proj-b"]))).data
    assert (granted.object, granted.project_id) == ("checkpoint.permission", "proj-b")
    assert [p.id for p in (await call(perms.retrieve(model_id))).data] == [granted.id]
    assert [p.id for p in (await call(perms.list(model_id))).data] == [granted.id]
    assert (await call(perms.retrieve(model_id, project_id="proj-a"))).data == []
    with pytest.raises(openai.PermissionDeniedError):
        await call(connect(api_key=api_key).fine_tuning.checkpoints.permissions.retrieve(model_id))
    deleted = await call(perms.delete(granted.id, fine_tuned_model_checkpoint=model_id))
    assert (deleted.id, deleted.deleted) == (granted.id, True)
    assert (await call(perms.retrieve(model_id))).data == []
    with pytest.raises(openai.NotFoundError):
        await call(perms.delete(granted.id, fine_tuned_model_checkpoint=model_id))
