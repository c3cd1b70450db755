"""Checkpoint permissions through the official client (strict): share an ``ft:`` model with another
project, which then lists it, chats with it and fine-tunes on top of it, but never deletes or
exports it; revoking takes access away at once. Admin key only; errors in OpenAI's shape."""

# ruff: noqa: F811  (the serving fixtures are imported by name, then requested as arguments)
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from factories import chat_jsonl
from live_server import LiveServer, make_client
from serving.fixtures import publish_model, settings, tiny_cache, tiny_dir, trained  # noqa: F401


@pytest.fixture
def shared_model(publish_model: Callable[..., str], trained: dict[str, Path]) -> str:
    return publish_model("proj-a", trained["next_day"], suffix="days")


@pytest.fixture
def org(server: LiveServer, org_admin_key: str) -> Iterator[openai.OpenAI]:
    """The permission routes take the admin key as the bearer key (``security: bearer_auth``)."""
    with make_client(server, org_admin_key) as c:
        yield c


def _chat(client: openai.OpenAI, model: str) -> str:
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Monday"}],
                                            max_tokens=4, temperature=0)
    return answer.choices[0].message.content or ""


def test_share_use_and_revoke(org: openai.OpenAI, client: openai.OpenAI, other_client: openai.OpenAI,
                              server: LiveServer, other_key: str, shared_model: str) -> None:
    perms = org.fine_tuning.checkpoints.permissions
    with pytest.raises(openai.NotFoundError):
        _chat(other_client, shared_model)
    assert shared_model not in [m.id for m in other_client.models.list()]

    [granted] = perms.create(shared_model, project_ids=["proj-b"]).data
    assert (granted.object, granted.project_id) == ("checkpoint.permission", "proj-b")
    listed = perms.retrieve(shared_model)
    assert [p.id for p in listed.data] == [granted.id]
    assert [p.id for p in perms.list(shared_model)] == [granted.id]

    assert shared_model in [m.id for m in other_client.models.list()]
    assert other_client.models.retrieve(shared_model).owned_by == "proj-a"
    assert _chat(other_client, shared_model) == _chat(client, shared_model)  # the same weights answer
    fid = other_client.files.create(file=("t.jsonl", chat_jsonl(12), "application/jsonl"), purpose="fine-tune").id
    job = other_client.fine_tuning.jobs.create(model=shared_model, training_file=fid)
    assert job.model == shared_model and job.status in ("validating_files", "queued")

    with pytest.raises(openai.PermissionDeniedError):
        other_client.models.delete(shared_model)
    exported = httpx.get(f"{server.base_url}/models/{shared_model}/content",
                         headers={"authorization": f"Bearer {other_key}"})
    assert exported.status_code == 403 and exported.json()["error"]["code"] == "insufficient_permissions"

    deleted = perms.delete(granted.id, fine_tuned_model_checkpoint=shared_model)
    assert (deleted.id, deleted.deleted) == (granted.id, True)
    with pytest.raises(openai.NotFoundError):  # at once
        _chat(other_client, shared_model)
    assert shared_model not in [m.id for m in other_client.models.list()]
    with pytest.raises(openai.BadRequestError):
        other_client.fine_tuning.jobs.create(model=shared_model, training_file=fid)
    assert client.models.retrieve(shared_model).id == shared_model  # the owner keeps it


def test_bad_requests(org: openai.OpenAI, server: LiveServer, api_key: str, org_admin_key: str, other_key: str,
                      shared_model: str) -> None:
    [granted] = org.fine_tuning.checkpoints.permissions.create(shared_model, project_ids=["proj-b"]).data
    base = f"/fine_tuning/checkpoints/{shared_model}/permissions"
    cases = [
        (api_key, "POST", base, {"project_ids": ["proj-b"]}, 403),
        (api_key, "GET", base, None, 403),
        (api_key, "DELETE", f"{base}/{granted.id}", None, 403),
        ("sk-wrong", "GET", base, None, 401),
        (org_admin_key, "POST", base, {"project_ids": []}, 400),
        (org_admin_key, "POST", base, {}, 400),
        (org_admin_key, "POST", base, {"project_ids": ["no-such-project"]}, 400),
        (org_admin_key, "POST", base, {"project_ids": ["proj-a"]}, 400),  # the owner
        (org_admin_key, "POST", base, {"project_ids": "proj-b"}, 400),
        (org_admin_key, "POST", "/fine_tuning/checkpoints/ft:tiny-chat:proj-a::nope/permissions",
         {"project_ids": ["proj-b"]}, 404),
        (org_admin_key, "GET", "/fine_tuning/checkpoints/tiny-chat/permissions", None, 404),
        (org_admin_key, "GET", f"{base}?limit=0", None, 400),
        (org_admin_key, "GET", f"{base}?after=cp_nope", None, 400),
        (org_admin_key, "GET", f"{base}?order=sideways", None, 400),
        (org_admin_key, "DELETE", f"{base}/cp_nope", None, 404),
    ]
    with httpx.Client(base_url=server.base_url) as http:
        for key, method, path, body, status in cases:
            r = http.request(method, path, json=body, headers={"authorization": f"Bearer {key}"})
            assert r.status_code == status, (method, path, body, r.text)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert [p.id for p in org.fine_tuning.checkpoints.permissions.retrieve(shared_model).data] == [granted.id]
