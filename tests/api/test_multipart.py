"""The streaming multipart reader: exact bytes whatever the chunking, and clear 400s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.errors import InvalidRequest
from api.multipart import Event, FieldPart, FileData, FileEnd, FileStart, iter_multipart

CT = "multipart/form-data; boundary=XyZ"
PAYLOAD = bytes(range(256)) * 3 + b"\r\n--XyZ-not-a-boundary\r\n" + b"\r\n"
BODY = (
    b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="d\xc3\xa9j\xc3\xa0.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n" + PAYLOAD + b"\r\n--XyZ--\r\n"
)


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def _collect(body: bytes, size: int, content_type: str = CT) -> list[Event]:
    return [e async for e in iter_multipart(content_type, _chunks(body, size))]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, len(BODY)])
async def test_any_chunking_gives_the_same_events(size: int) -> None:
    events = await _collect(BODY, size)
    assert events[0] == FieldPart("purpose", "fine-tune")
    assert events[1] == FileStart("file", "déjà.bin", "application/octet-stream")
    assert events[-1] == FileEnd("file")
    data = b"".join(e.data for e in events if isinstance(e, FileData))
    assert data == PAYLOAD


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "multipart/form-data", "text/plain; boundary=x"]
)
async def test_not_multipart(content_type: str | None) -> None:
    with pytest.raises(InvalidRequest):
        await _collect(BODY, 100, content_type)  # type: ignore[arg-type]


async def test_truncated_body() -> None:
    with pytest.raises(InvalidRequest, match="closing boundary"):
        await _collect(BODY[:-20], 50)


async def test_field_size_capped() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n' + b"a" * 70000 + b"\r\n--XyZ--\r\n"
    )
    with pytest.raises(InvalidRequest) as err:
        await _collect(body, 4096)
    assert err.value.param == "purpose"


async def test_part_without_name() -> None:
    body = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n"
    with pytest.raises(InvalidRequest):
        await _collect(body, 10)
