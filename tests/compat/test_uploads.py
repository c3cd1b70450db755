"""Conformance checklist items 11-16: /v1/uploads through the official client (sync and async)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import openai
import pytest
from factories import chat_jsonl, row_counts, store_leftovers
from sqlalchemy.engine import Engine

from core.store import Store


def test_create(client: openai.OpenAI) -> None:  # item 11
    u = client.uploads.create(bytes=123, filename="t.jsonl", mime_type="text/jsonl", purpose="fine-tune")
    assert u.id.startswith("upload_") and u.object == "upload" and u.status == "pending"
    assert u.bytes == 123 and u.filename == "t.jsonl" and u.purpose == "fine-tune"
    assert u.expires_at == u.created_at + 3600
    assert abs(u.created_at - time.time()) <= 60
    assert u.file is None


def test_parts_assemble_in_given_order(client: openai.OpenAI, store: Store, engine: Engine) -> None:
    chunk1, chunk2 = b'{"part": 1}\n', b'{"part": 2, "x": "yy"}\n'
    u = client.uploads.create(
        bytes=len(chunk1) + len(chunk2), filename="t.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    p1 = client.uploads.parts.create(u.id, data=chunk1)  # item 12
    p2 = client.uploads.parts.create(u.id, data=chunk2)
    for p in (p1, p2):
        assert p.id.startswith("part_") and p.object == "upload.part" and p.upload_id == u.id
        assert isinstance(p.created_at, int)
    done = client.uploads.complete(u.id, part_ids=[p2.id, p1.id])  # item 13
    assert done.status == "completed" and done.id == u.id
    assert done.file is not None and done.file.id.startswith("file-")
    assert done.file.bytes == u.bytes and done.file.filename == "t.jsonl" and done.file.purpose == "fine-tune"
    assert client.files.content(done.file.id).content == chunk2 + chunk1
    assert client.files.retrieve(done.file.id).bytes == u.bytes
    assert client.files.wait_for_processing(done.file.id, poll_interval=0.05).status == "processed"
    # the parts are gone from the store; only the assembled file remains
    assert store_leftovers(store) == [f"files/{done.file.id}"]
    assert row_counts(engine)["files"] == 1


def test_md5_checked(client: openai.OpenAI) -> None:
    data = b"0123456789" * 10
    u = client.uploads.create(
        bytes=len(data), filename="m.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    p = client.uploads.parts.create(u.id, data=data)
    done = client.uploads.complete(u.id, part_ids=[p.id], md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.file is not None


@pytest.mark.parametrize("case", ["short", "long", "md5"])
def test_complete_rejects_wrong_total_or_md5(  # item 14
    client: openai.OpenAI, store: Store, engine: Engine, case: str
) -> None:
    u = client.uploads.create(
        bytes=10, filename="x.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    parts = [client.uploads.parts.create(u.id, data=b"12345").id]
    if case != "short":
        parts.append(client.uploads.parts.create(u.id, data=b"67890").id)
    with pytest.raises(openai.BadRequestError) as err:
        if case == "md5":
            client.uploads.complete(u.id, part_ids=parts, md5="0" * 32)
        else:
            client.uploads.complete(u.id, part_ids=parts if case == "short" else parts + parts[:1])
    assert err.value.param in ("part_ids", "md5")
    # nothing was registered and the upload is still usable
    assert row_counts(engine)["files"] == 0
    assert not [k for k in store_leftovers(store) if k.startswith("files/")]
    if case == "md5":
        assert client.uploads.complete(u.id, part_ids=parts).status == "completed"


def test_cancel(client: openai.OpenAI, store: Store) -> None:  # item 15
    u = client.uploads.create(
        bytes=4, filename="c.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    p = client.uploads.parts.create(u.id, data=b"ab")
    cancelled = client.uploads.cancel(u.id)
    assert cancelled.status == "cancelled" and cancelled.id == u.id and cancelled.file is None
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(u.id, data=b"cd")
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(u.id, part_ids=[p.id])
    with pytest.raises(openai.BadRequestError):
        client.uploads.cancel(u.id)
    assert store_leftovers(store) == []


def test_upload_file_chunked(client: openai.OpenAI, tmp_path: Path) -> None:  # item 16
    path = tmp_path / "big.jsonl"
    path.write_bytes(chat_jsonl(200))
    done = client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="fine-tune", part_size=1024
    )
    assert done.status == "completed" and done.file is not None
    assert done.file.filename == "big.jsonl" and done.file.bytes == path.stat().st_size
    assert client.files.content(done.file.id).content == path.read_bytes()


def test_expires_after_reaches_the_file(client: openai.OpenAI) -> None:
    u = client.uploads.create(
        bytes=3,
        filename="e.txt",
        mime_type="text/plain",
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    p = client.uploads.parts.create(u.id, data=b"abc")
    done = client.uploads.complete(u.id, part_ids=[p.id])
    assert done.file is not None and done.file.expires_at == done.file.created_at + 7200


async def test_async_upload_chunked(async_client: openai.AsyncOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(chat_jsonl(50))
    done = await async_client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="fine-tune", part_size=700
    )
    assert done.file is not None
    assert (await async_client.files.content(done.file.id)).content == path.read_bytes()
    cancelled = await async_client.uploads.cancel(
        (
            await async_client.uploads.create(
                bytes=1, filename="z", mime_type="text/plain", purpose="user_data"
            )
        ).id
    )
    assert cancelled.status == "cancelled"


def test_concurrent_completes_make_one_file(client: openai.OpenAI, engine: Engine, store: Store) -> None:
    """Two completions racing: one wins, the other is a 400, and exactly one File exists."""
    from concurrent.futures import ThreadPoolExecutor

    data = b"x" * 5000
    u = client.uploads.create(
        bytes=len(data), filename="race.bin", mime_type="application/octet-stream", purpose="user_data"
    )
    p = client.uploads.parts.create(u.id, data=data)

    def complete() -> str:
        try:
            return client.uploads.complete(u.id, part_ids=[p.id]).status
        except openai.BadRequestError:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: complete(), range(4)))
    assert outcomes.count("completed") == 1 and outcomes.count("refused") == 3
    assert row_counts(engine)["files"] == 1
    assert [k for k in store_leftovers(store)] == [f"files/{client.files.list().data[0].id}"]


@pytest.mark.parametrize(("purpose", "mime_type"), [("fine-tune", "image/png"), ("batch", "application/pdf"),
                                                    ("vision", "text/jsonl"), ("user_data", "not a type")])
def test_mime_type_must_fit_the_purpose(client: openai.OpenAI, engine: Engine, purpose: str,
                                        mime_type: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.create(bytes=10, filename="d", mime_type=mime_type, purpose=purpose)  # type: ignore[arg-type]
    assert err.value.status_code == 400
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "mime_type" and body["code"] == "invalid_value"
    assert repr(mime_type) in body["message"]
    assert row_counts(engine)["uploads"] == 0


@pytest.mark.parametrize(("purpose", "mime_type"), [("fine-tune", "text/jsonl"), ("fine-tune", "application/jsonl"),
                                                    ("fine-tune", "text/plain; charset=utf-8"),
                                                    ("vision", "image/png"), ("user_data", "application/pdf")])
def test_mime_types_that_fit_are_accepted(client: openai.OpenAI, purpose: str, mime_type: str) -> None:
    u = client.uploads.create(bytes=10, filename="d", mime_type=mime_type, purpose=purpose)  # type: ignore[arg-type]
    assert u.status == "pending" and u.purpose == purpose
