"""Tenancy: another project's ids answer 404 exactly like missing ones, and lists stay separate."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from factories import chat_jsonl, store_leftovers
from live_server import LiveServer, make_client

from core.store import Store


@pytest.fixture
def a_objects(client: openai.OpenAI) -> dict[str, str]:
    """Project A's file, pending upload and part."""
    f = client.files.create(file=("a.jsonl", chat_jsonl(2), "application/jsonl"), purpose="fine-tune")
    u = client.uploads.create(
        bytes=6, filename="u.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    p = client.uploads.parts.create(u.id, data=b"abc")
    return {"file": f.id, "upload": u.id, "part": p.id}


def _error(exc: openai.APIStatusError) -> tuple[int, str | None, str]:
    """(status, param, message with the id replaced) — what must not tell a foreign id from a missing one."""
    body: Any = exc.body
    return exc.status_code, exc.param, str(body["message"])


def test_foreign_ids_read_as_missing(
    client: openai.OpenAI, other_client: openai.OpenAI, a_objects: dict[str, str]
) -> None:
    fid, uid, pid = a_objects["file"], a_objects["upload"], a_objects["part"]
    calls = {
        "retrieve": lambda c, f, u: c.files.retrieve(f),
        "content": lambda c, f, u: c.files.content(f),
        "delete": lambda c, f, u: c.files.delete(f),
        "part": lambda c, f, u: c.uploads.parts.create(u, data=b"def"),
        "complete": lambda c, f, u: c.uploads.complete(u, part_ids=[pid]),
        "cancel": lambda c, f, u: c.uploads.cancel(u),
    }
    for name, call in calls.items():
        with pytest.raises(openai.NotFoundError) as foreign:
            call(other_client, fid, uid)
        with pytest.raises(openai.NotFoundError) as missing:
            call(other_client, "file-" + "x" * 24, "upload_" + "x" * 24)
        f_status, f_param, f_msg = _error(foreign.value)
        m_status, m_param, m_msg = _error(missing.value)
        assert (f_status, f_param) == (m_status, m_param) == (404, f_param), name
        assert f_msg.replace(fid, "ID").replace(uid, "ID") == m_msg.replace("file-" + "x" * 24, "ID").replace(
            "upload_" + "x" * 24, "ID"
        ), name
    # A's objects are untouched by B's attempts
    assert client.files.retrieve(fid).id == fid
    p2 = client.uploads.parts.create(uid, data=b"def")
    assert client.uploads.complete(uid, part_ids=[pid, p2.id]).status == "completed"


def test_lists_are_per_project(
    client: openai.OpenAI, other_client: openai.OpenAI, a_objects: dict[str, str]
) -> None:
    b_file = other_client.files.create(
        file=("b.jsonl", chat_jsonl(1), "application/jsonl"), purpose="fine-tune"
    )
    assert [f.id for f in other_client.files.list()] == [b_file.id]
    assert [f.id for f in other_client.files.list(purpose="fine-tune", order="asc")] == [b_file.id]
    assert [f.id for f in client.files.list()] == [a_objects["file"]]
    # A's id is no cursor in B's list: same answer as an unknown id
    with pytest.raises(openai.BadRequestError) as err:
        other_client.files.list(after=a_objects["file"])
    assert err.value.param == "after"


def test_foreign_part_cannot_be_completed(
    client: openai.OpenAI, other_client: openai.OpenAI, a_objects: dict[str, str], store: Store
) -> None:
    b_upload = other_client.uploads.create(
        bytes=3, filename="b.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    with pytest.raises(openai.BadRequestError) as err:
        other_client.uploads.complete(b_upload.id, part_ids=[a_objects["part"]])
    assert err.value.param == "part_ids"
    assert not [k for k in store_leftovers(store) if k.startswith("files/") and a_objects["file"] not in k]


async def test_async_foreign_ids(server: LiveServer, other_key: str, a_objects: dict[str, str]) -> None:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key=other_key, _strict_response_validation=True
    ) as other:
        with pytest.raises(openai.NotFoundError):
            await other.files.retrieve(a_objects["file"])
        with pytest.raises(openai.NotFoundError):
            await other.uploads.cancel(a_objects["upload"])
        assert [f async for f in other.files.list()] == []


def test_an_admin_key_acts_in_the_project_named_by_the_openai_project_header(
    server: LiveServer, client: openai.OpenAI, other_key: str, org_admin_key: str
) -> None:
    """The console's project switcher: an admin key with ``OpenAI-Project`` (the client's ``project=``)."""
    mine = client.files.create(file=("a.jsonl", chat_jsonl(2), "application/jsonl"), purpose="fine-tune")
    with make_client(server, org_admin_key, project="proj-a") as as_a, make_client(server, org_admin_key) as own:
        assert [f.id for f in as_a.files.list().data] == [mine.id]
        made = as_a.files.create(file=("b.jsonl", chat_jsonl(2), "application/jsonl"), purpose="fine-tune")
        assert mine.id not in {f.id for f in own.files.list().data}
    assert {f.id for f in client.files.list().data} == {mine.id, made.id}
    with make_client(server, other_key, project="proj-a") as other:  # a project key cannot switch
        seen = {f.id for f in other.files.list().data}
        assert not seen & {mine.id, made.id}
        with pytest.raises(openai.NotFoundError):
            other.files.retrieve(mine.id)
    with make_client(server, org_admin_key, project="proj-nowhere") as nowhere, pytest.raises(openai.NotFoundError):
        nowhere.files.list()
