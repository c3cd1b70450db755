"""The audit log through the official client (strict): every admin action, key creation and
deletion, job create/cancel and model delete, with the actor's key id and no secret."""

from __future__ import annotations

import io
import time

import openai
import pytest
from factories import chat_jsonl
from live_server import LiveServer, make_client
from sqlalchemy.engine import Engine

from core import ids
from core.db import session_scope
from core.tables import ApiKey, Model


def _key_id(engine: Engine, key: str) -> str:
    with session_scope(engine) as s:
        row = s.get(ApiKey, ids.hash_key(key))
        assert row is not None and row.id is not None
        return row.id


def test_admin_actions_are_audited_with_the_actor(admin: openai.OpenAI, engine: Engine,
                                                  org_admin_key: str) -> None:
    org = admin.admin.organization
    actor = _key_id(engine, org_admin_key)
    started = int(time.time())
    project = org.projects.create(name="audited")
    org.projects.update(project.id, name="audited 2")
    svc = org.projects.service_accounts.create(project.id, name="bot")
    assert svc.api_key is not None
    org.projects.api_keys.delete(svc.api_key.id, project_id=project.id)
    org.projects.service_accounts.delete(svc.id, project_id=project.id)
    admin_key = org.admin_api_keys.create(name="second")
    org.admin_api_keys.delete(admin_key.id)
    org.projects.archive(project.id)

    entries = list(org.audit_logs.list(project_ids=[project.id]))
    assert [e.type for e in entries] == [  # newest first
        "project.archived", "service_account.deleted", "api_key.deleted", "api_key.created",
        "service_account.created", "project.updated", "project.created",
    ]
    assert all(e.actor and e.actor.api_key and e.actor.api_key.id == actor for e in entries)
    assert all(e.project and e.project.id == project.id for e in entries)
    assert all(e.effective_at >= started for e in entries)
    created = entries[-1]
    assert created.project_created and created.project_created.id == project.id
    assert created.project_created.data and created.project_created.data.name == "audited"
    updated = entries[-2]
    assert updated.project_updated and updated.project_updated.changes_requested
    assert updated.project_updated.changes_requested.title == "audited 2"
    everything = list(admin.with_raw_response.admin.organization.audit_logs.list(limit=100).parse())
    assert svc.api_key.value not in str([e.model_dump() for e in everything])  # never a secret
    assert admin_key.value not in str([e.model_dump() for e in everything])

    org_keys = list(org.audit_logs.list(event_types=["api_key.created", "api_key.deleted"]))
    assert {e.api_key_created.id for e in org_keys if e.api_key_created} == {svc.api_key.id, admin_key.id}
    assert {e.api_key_deleted.id for e in org_keys if e.api_key_deleted} == {svc.api_key.id, admin_key.id}


def test_audit_filters_and_paging(admin: openai.OpenAI, engine: Engine, org_admin_key: str,
                                  server: LiveServer) -> None:
    org = admin.admin.organization
    made = [org.projects.create(name=f"p{i}") for i in range(5)]
    page = org.audit_logs.list(event_types=["project.created"], limit=2)
    assert len(page.data) == 2 and page.has_more
    walked = [e.project_created.id for e in org.audit_logs.list(event_types=["project.created"], limit=2)
              if e.project_created]
    assert walked == [p.id for p in reversed(made)]  # the client follows `after`
    before = org.audit_logs.list(event_types=["project.created"], before=page.data[-1].id)
    assert [e.id for e in before.data] == [e.id for e in page.data[:1]]

    other = org.admin_api_keys.create(name="other actor")
    with openai.OpenAI(base_url=server.base_url, api_key="x", admin_api_key=other.value,
                       _strict_response_validation=True) as c2:
        by_other = c2.admin.organization.projects.create(name="by other")
    mine = [e.id for e in org.audit_logs.list(actor_ids=[_key_id(engine, org_admin_key)], limit=100)]
    theirs = list(org.audit_logs.list(actor_ids=[other.id]))
    assert [e.project_created.id for e in theirs if e.project_created] == [by_other.id]
    assert not set(mine) & {e.id for e in theirs}
    future = int(time.time()) + 3600
    assert list(org.audit_logs.list(effective_at={"gt": future})) == []
    assert len(list(org.audit_logs.list(effective_at={"lte": future}, event_types=["project.created"]))) == 6
    assert list(org.audit_logs.list(actor_emails=["someone@example.com"])) == []


def test_jobs_and_models_are_audited(admin: openai.OpenAI, server: LiveServer, api_key: str,
                                     engine: Engine) -> None:
    with make_client(server, api_key) as client:
        file = client.files.create(file=("t.jsonl", io.BytesIO(chat_jsonl(12))), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=file.id)
        client.fine_tuning.jobs.cancel(job.id)
        with session_scope(engine) as s:
            s.add(Model(id="ft:tiny-chat:proj-a::abcdefgh", project_id="proj-a", base_model="tiny-chat",
                        artifact_key="models/none", kind="merge"))
        client.models.delete("ft:tiny-chat:proj-a::abcdefgh")
    actor = _key_id(engine, api_key)
    org = admin.admin.organization
    deleted = list(org.audit_logs.list(event_types=["resource.deleted"]))
    assert len(deleted) == 1 and deleted[0].actor and deleted[0].actor.api_key
    assert deleted[0].actor.api_key.id == actor and deleted[0].project and deleted[0].project.id == "proj-a"
    extra = deleted[0].model_extra or {}
    assert extra["resource.deleted"]["id"] == "ft:tiny-chat:proj-a::abcdefgh"
    # openft's own event types are listed when asked for (strict clients cannot parse them by default)
    raw = org.audit_logs.with_raw_response.list(
        project_ids=["proj-a"], extra_query={"include_openft_events": "true"}).http_response.json()
    types = [e["type"] for e in raw["data"]]  # type: ignore[index]
    assert types == ["resource.deleted", "fine_tuning.job.cancelled", "fine_tuning.job.created"]
    assert raw["data"][2]["fine_tuning.job.created"]["id"] == job.id  # type: ignore[index]
    assert all(e["actor"]["api_key"]["id"] == actor for e in raw["data"])  # type: ignore[index]
    assert "fine_tuning.job.created" not in [e.type for e in org.audit_logs.list()]


async def test_async_audit(async_admin: openai.AsyncOpenAI) -> None:
    project = await async_admin.admin.organization.projects.create(name="async audited")
    entries = [e async for e in async_admin.admin.organization.audit_logs.list(project_ids=[project.id])]
    assert [e.type for e in entries] == ["project.created"]


@pytest.mark.parametrize("params", [
    {"effective_at[gt]": "yesterday"}, {"effective_at[between]": "1"}, {"after": "audit_log-nope"},
    {"before": "audit_log-nope"}, {"limit": "0"}, {"limit": "101"},
])
def test_bad_audit_queries_are_400(admin: openai.OpenAI, params: dict[str, str]) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        admin.admin.organization.audit_logs.list(extra_query=params)
    assert err.value.body["param"] in {"effective_at", "after", "before", "limit"}  # type: ignore[index]
