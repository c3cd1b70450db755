"""Conformance checklist items 1-10: /v1/files through the official client (sync and async)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import openai
import pytest
from factories import chat_jsonl, store_leftovers
from openai.types import FileDeleted, FileObject

from core.store import Store


def _assert_fresh_file(f: FileObject, *, size: int, filename: str, purpose: str = "fine-tune") -> None:
    assert f.id.startswith("file-")
    assert f.object == "file"
    assert f.bytes == size
    assert f.filename == filename
    assert f.purpose == purpose
    assert isinstance(f.created_at, int) and abs(f.created_at - time.time()) <= 60
    assert f.status in ("uploaded", "processed", "error")


def test_create_from_open_file(client: openai.OpenAI, train_path: Path) -> None:  # item 1
    with train_path.open("rb") as fh:
        f = client.files.create(file=fh, purpose="fine-tune")
    _assert_fresh_file(f, size=os.path.getsize(train_path), filename="train.jsonl")
    assert f.expires_at is None


def test_create_from_bytes_and_tuple(client: openai.OpenAI) -> None:  # item 2
    data = chat_jsonl(3)
    assert client.files.create(file=data, purpose="fine-tune").filename == "upload"
    f = client.files.create(file=("x.jsonl", data, "application/jsonl"), purpose="fine-tune")
    _assert_fresh_file(f, size=len(data), filename="x.jsonl")


def test_expires_after(client: openai.OpenAI) -> None:  # item 3
    f = client.files.create(
        file=b'{"a": 1}\n', purpose="user_data", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert f.expires_at == f.created_at + 3600
    assert client.files.retrieve(f.id).expires_at == f.expires_at
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(
            file=b'{"a": 1}\n', purpose="user_data", expires_after={"anchor": "created_at", "seconds": 60}
        )
    assert err.value.param == "expires_after[seconds]"


def test_retrieve(client: openai.OpenAI) -> None:  # item 4
    f = client.files.create(file=("r.jsonl", chat_jsonl(2), "application/jsonl"), purpose="fine-tune")
    got = client.files.retrieve(f.id)
    assert (got.id, got.bytes, got.created_at, got.filename, got.purpose) == (
        f.id,
        f.bytes,
        f.created_at,
        f.filename,
        f.purpose,
    )
    with pytest.raises(openai.NotFoundError) as err:
        client.files.retrieve("file-nope")
    assert err.value.status_code == 404
    assert err.value.type == "invalid_request_error"
    assert isinstance(err.value.body, dict) and err.value.body["message"]
    assert "file-nope" in err.value.body["message"]


def test_content_exact_bytes(client: openai.OpenAI, tmp_path: Path) -> None:  # item 5
    data = chat_jsonl(4) + '{"é": "ü ✓"}\n'.encode()
    f = client.files.create(file=("c.jsonl", data, "application/jsonl"), purpose="fine-tune")
    content = client.files.content(f.id)
    assert content.content == data
    assert content.text == data.decode()
    out = tmp_path / "out.jsonl"
    content.write_to_file(out)
    assert out.read_bytes() == data


def test_list_order_and_filter(client: openai.OpenAI) -> None:  # item 6
    empty = client.files.list()
    wire = empty.to_dict()  # object/first_id/last_id are kept as extra fields by the client
    assert wire["object"] == "list" and empty.data == [] and empty.has_more is False
    assert wire["first_id"] is None and wire["last_id"] is None
    a = client.files.create(file=("a.jsonl", chat_jsonl(1), "application/jsonl"), purpose="fine-tune")
    b = client.files.create(file=("b.txt", b"hello", "text/plain"), purpose="user_data")
    c = client.files.create(file=("c.jsonl", chat_jsonl(1), "application/jsonl"), purpose="fine-tune")
    page = client.files.list()
    assert [f.id for f in page.data] == [c.id, b.id, a.id]
    assert (page.to_dict()["first_id"], page.to_dict()["last_id"]) == (c.id, a.id)
    assert page.has_more is False
    assert [f.id for f in client.files.list(order="asc").data] == [a.id, b.id, c.id]
    assert [f.id for f in client.files.list(purpose="fine-tune").data] == [c.id, a.id]
    assert [f.id for f in client.files.list(purpose="batch").data] == []


def test_auto_pagination(client: openai.OpenAI, server) -> None:  # item 7
    made = [
        client.files.create(file=(f"{i}.jsonl", chat_jsonl(1), "application/jsonl"), purpose="fine-tune").id
        for i in range(5)
    ]
    before = len(server.log.entries)
    seen = [f.id for f in client.files.list(limit=2)]
    requests = [e for e in server.log.entries[before:] if e[1] == "/v1/files"]
    assert seen == made[::-1]
    assert len(requests) >= 3
    last = client.files.list(limit=2, after=made[1])
    assert [f.id for f in last.data] == [made[0]] and last.has_more is False
    asc = [f.id for f in client.files.list(limit=2, order="asc")]
    assert asc == made


def test_delete(client: openai.OpenAI, store: Store) -> None:  # item 8
    f = client.files.create(file=("d.jsonl", chat_jsonl(1), "application/jsonl"), purpose="fine-tune")
    client.files.wait_for_processing(f.id, poll_interval=0.05)
    deleted = client.files.delete(f.id)
    assert isinstance(deleted, FileDeleted)
    assert (deleted.id, deleted.deleted, deleted.object) == (f.id, True, "file")
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(f.id)
    assert store_leftovers(store) == []


def test_wait_for_processing(client: openai.OpenAI) -> None:  # item 9
    f = client.files.create(file=("w.jsonl", chat_jsonl(10), "application/jsonl"), purpose="fine-tune")
    done = client.files.wait_for_processing(f.id, poll_interval=0.1)
    assert done.status == "processed" and done.status_details is None


def test_processing_error_names_the_line(client: openai.OpenAI) -> None:
    data = chat_jsonl(2) + b"not json\n"
    f = client.files.create(file=("bad.jsonl", data, "application/jsonl"), purpose="fine-tune")
    done = client.files.wait_for_processing(f.id, poll_interval=0.1)
    assert done.status == "error"
    assert done.status_details is not None and "Line 3: invalid JSON" in done.status_details
    nested = client.files.create(file=("arr.jsonl", b"[1, 2]\n", "application/jsonl"), purpose="fine-tune")
    assert "Line 1: the file is a JSON array" in (
        client.files.wait_for_processing(nested.id, poll_interval=0.1).status_details or "")
    # a bad byte is named on its own line (the check used to say "line 1" for every one)
    latin = client.files.create(
        file=("l.jsonl", chat_jsonl(12) + b'{"a": "\xe9"}\n', "application/jsonl"), purpose="fine-tune"
    )
    details = client.files.wait_for_processing(latin.id, poll_interval=0.1).status_details or ""
    assert "Line 13: not valid UTF-8 (byte 0xe9" in details
    bom = client.files.create(file=("bom.jsonl", b"\xef\xbb\xbf" + chat_jsonl(2), "application/jsonl"),
                              purpose="fine-tune")
    assert client.files.wait_for_processing(bom.id, poll_interval=0.1).status == "processed"


def test_other_purposes_are_processed_at_once(client: openai.OpenAI) -> None:
    for purpose in ("assistants", "batch", "vision", "user_data"):
        f = client.files.create(
            file=(f"{purpose}.bin", b"\x00\x01 binary", "application/octet-stream"), purpose=purpose
        )
        assert (f.purpose, f.status) == (purpose, "processed")


def test_request_id_on_success(client: openai.OpenAI) -> None:  # item 40 (success side)
    page = client.files.list()
    assert page._request_id and page._request_id.startswith("req_")
    raw = client.files.with_raw_response.list(extra_headers={"x-request-id": "mine-123"})
    assert raw.headers["x-request-id"] == "mine-123"


async def test_async_client_round_trip(async_client: openai.AsyncOpenAI) -> None:  # item 10, async
    data = chat_jsonl(10)
    f = await async_client.files.create(file=("async.jsonl", data, "application/jsonl"), purpose="fine-tune")
    assert f.id.startswith("file-") and f.bytes == len(data)
    done = await async_client.files.wait_for_processing(f.id, poll_interval=0.1)
    assert done.status == "processed"
    assert (await async_client.files.content(f.id)).content == data
    ids = [x.id async for x in async_client.files.list(limit=1)]
    assert ids == [f.id]
    assert (await async_client.files.delete(f.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await async_client.files.retrieve(f.id)
