"""Admin API through the official client (strict): projects, service accounts, project keys,
admin keys; revocation and archival take effect on the next request."""

from __future__ import annotations

import openai
import pytest
from live_server import LiveServer, make_client


def _works(server: LiveServer, key: str) -> bool:
    """Whether ``key`` is accepted on a project route (True) or answers 401 (False)."""
    with make_client(server, key, max_retries=0) as c:
        try:
            c.models.list()
            return True
        except openai.AuthenticationError:
            return False


def test_projects_create_list_update_archive(admin: openai.OpenAI, server: LiveServer) -> None:
    org = admin.admin.organization
    made = [org.projects.create(name=f"team {i}") for i in range(3)]
    assert [p.name for p in made] == ["team 0", "team 1", "team 2"]
    assert all(p.id.startswith("proj_") and p.status == "active" and p.archived_at is None for p in made)
    assert org.projects.retrieve(made[1].id).name == "team 1"
    renamed = org.projects.update(made[1].id, name="platform")
    assert renamed.name == "platform" and org.projects.retrieve(made[1].id).name == "platform"

    first = org.projects.list(limit=1)
    assert len(first.data) == 1 and first.has_more
    everything = [p.id for p in org.projects.list(limit=1)]  # the client follows the cursor
    assert {p.id for p in made} <= set(everything) and len(everything) == len(set(everything))

    svc = org.projects.service_accounts.create(made[0].id, name="ci")
    assert svc.api_key is not None and _works(server, svc.api_key.value)
    archived = org.projects.archive(made[0].id)
    assert archived.status == "archived" and archived.archived_at is not None
    assert not _works(server, svc.api_key.value)  # an archived project's keys answer 401
    assert made[0].id not in [p.id for p in org.projects.list()]
    assert made[0].id in [p.id for p in org.projects.list(include_archived=True)]
    with pytest.raises(openai.BadRequestError) as err:
        org.projects.service_accounts.create(made[0].id, name="late")
    assert err.value.body["param"] == "project_id"  # type: ignore[index]


def test_service_account_key_is_shown_once_and_revocable(admin: openai.OpenAI, server: LiveServer) -> None:
    org = admin.admin.organization
    project = org.projects.create(name="ml")
    svc = org.projects.service_accounts.create(project.id, name="trainer")
    assert svc.role == "member" and svc.api_key is not None
    value = svc.api_key.value
    assert org.projects.service_accounts.retrieve(svc.id, project_id=project.id).name == "trainer"
    assert [s.id for s in org.projects.service_accounts.list(project.id)] == [svc.id]

    keys = list(org.projects.api_keys.list(project.id))
    assert [k.id for k in keys] == [svc.api_key.id]
    shown = keys[0]
    assert value not in shown.model_dump_json() and shown.redacted_value.endswith(value[-4:])
    assert shown.owner.type == "service_account" and shown.owner.service_account is not None
    assert shown.owner.service_account.id == svc.id
    assert org.projects.api_keys.retrieve(shown.id, project_id=project.id).id == shown.id

    with make_client(server, value) as c:  # the key acts for its project
        assert c.files.list().data == []
    org.projects.api_keys.delete(shown.id, project_id=project.id)
    assert not _works(server, value)  # revoked on the very next request
    assert list(org.projects.api_keys.list(project.id)) == []

    second = org.projects.service_accounts.create(project.id, name="batch")
    assert second.api_key is not None and _works(server, second.api_key.value)
    gone = org.projects.service_accounts.delete(second.id, project_id=project.id)
    assert gone.deleted and gone.object == "organization.project.service_account.deleted"
    assert not _works(server, second.api_key.value)


def test_admin_keys(admin: openai.OpenAI, server: LiveServer, org_admin_key: str) -> None:
    org = admin.admin.organization
    made = org.admin_api_keys.create(name="ops")
    assert made.value.startswith("sk-") and made.name == "ops" and made.value not in made.redacted_value
    listed = list(org.admin_api_keys.list())
    assert made.id in [k.id for k in listed] and len(listed) == 2
    assert all(made.value not in k.model_dump_json() for k in listed)
    assert org.admin_api_keys.retrieve(made.id).redacted_value == made.redacted_value

    with openai.OpenAI(base_url=server.base_url, api_key="x", admin_api_key=made.value,
                       _strict_response_validation=True) as ops:
        assert ops.admin.organization.projects.create(name="by ops").name == "by ops"
        first = [k for k in listed if k.id != made.id][0]
        ops.admin.organization.admin_api_keys.delete(first.id)  # the fixture's key
        with pytest.raises(openai.BadRequestError) as err:  # the last admin key stays
            ops.admin.organization.admin_api_keys.delete(made.id)
        assert err.value.body["param"] == "key_id"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        admin.admin.organization.projects.list()


def test_expiring_admin_key(admin: openai.OpenAI, server: LiveServer) -> None:
    made = admin.admin.organization.admin_api_keys.create(name="temp", expires_in_seconds=3600)
    assert made.expires_at is not None and made.expires_at - made.created_at == 3600


def test_project_keys_are_refused_on_admin_routes(server: LiveServer, api_key: str, admin_key: str) -> None:
    """A project key gets 403 on the admin API; even an admin key of a project is an admin key."""
    with openai.OpenAI(base_url=server.base_url, api_key="x", admin_api_key=api_key, max_retries=0,
                       _strict_response_validation=True) as c:
        org = c.admin.organization
        calls = [
            lambda: org.projects.list(), lambda: org.projects.create(name="x"),
            lambda: org.projects.retrieve("proj-a"), lambda: org.projects.update("proj-a", name="y"),
            lambda: org.projects.archive("proj-a"),
            lambda: org.projects.service_accounts.create("proj-a", name="s"),
            lambda: org.projects.service_accounts.list("proj-a"),
            lambda: org.projects.api_keys.list("proj-a"),
            lambda: org.admin_api_keys.list(), lambda: org.admin_api_keys.create(name="k"),
        ]
        for call in calls:
            with pytest.raises(openai.PermissionDeniedError) as err:
                call()
            assert err.value.body["type"] == "permission_error"  # type: ignore[index]
    with openai.OpenAI(base_url=server.base_url, api_key="x", admin_api_key=admin_key,
                       _strict_response_validation=True) as c:
        assert "proj-a" in [p.id for p in c.admin.organization.projects.list()]


def test_isolation_between_projects(admin: openai.OpenAI, api_key: str, other_key: str) -> None:
    """A key or service account of one project is not found under another project's id."""
    org = admin.admin.organization
    a_keys = list(org.projects.api_keys.list("proj-a"))
    assert len(a_keys) == 1
    with pytest.raises(openai.NotFoundError):
        org.projects.api_keys.retrieve(a_keys[0].id, project_id="proj-b")
    with pytest.raises(openai.NotFoundError):
        org.projects.api_keys.delete(a_keys[0].id, project_id="proj-b")
    svc = org.projects.service_accounts.create("proj-a", name="a-only")
    with pytest.raises(openai.NotFoundError):
        org.projects.service_accounts.retrieve(svc.id, project_id="proj-b")
    with pytest.raises(openai.NotFoundError):
        org.projects.service_accounts.delete(svc.id, project_id="proj-b")
    assert [k.id for k in org.projects.api_keys.list("proj-b")] != [a_keys[0].id]


async def test_async_admin_round_trip(async_admin: openai.AsyncOpenAI) -> None:
    org = async_admin.admin.organization
    project = await org.projects.create(name="async team")
    svc = await org.projects.service_accounts.create(project.id, name="bot")
    assert [k.id async for k in org.projects.api_keys.list(project.id)] == [svc.api_key.id]  # type: ignore[union-attr]
    key = await org.admin_api_keys.create(name="async")
    assert (await org.admin_api_keys.retrieve(key.id)).id == key.id
    assert (await org.admin_api_keys.delete(key.id)).deleted
    assert (await org.projects.archive(project.id)).status == "archived"
