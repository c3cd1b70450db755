"""Error shape, auth, request ids, retries (checklist 36-42), and 30+ bad inputs.

Every bad input must get the right status and an OpenAI error body, never a 5xx (the ``server``
fixture fails the test on any), and must leave nothing behind in the store or the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from factories import chat_jsonl, row_counts, store_leftovers
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from live_server import LiveServer, make_client
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from api.services.housekeeping import sweep
from core.settings import Settings
from core.store import Store
from core.tables import Upload

MAX_FILE = 64 * 1024
MAX_PART = 16 * 1024
MAX_UPLOAD = 48 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small limits, so oversize cases are cheap."""
    return settings.model_copy(
        update={"max_file_bytes": MAX_FILE, "max_part_bytes": MAX_PART, "max_upload_bytes": MAX_UPLOAD}
    )


# --- hand-made multipart bodies ---------------------------------------------------------------
BOUNDARY = "testboundary123"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def field_part(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"


def file_part(name: str, filename: bytes | None, data: bytes) -> bytes:
    disp = b'form-data; name="' + name.encode() + b'"'
    if filename is not None:
        disp += b'; filename="' + filename + b'"'
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b"Content-Disposition: "
        + disp
        + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + data
        + b"\r\n"
    )


def multipart(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


GOOD = b'{"messages": []}\n'


def upload_body(
    purpose: str | None = "fine-tune",
    filename: bytes | None = b"t.jsonl",
    data: bytes = GOOD,
    extra: tuple[bytes, ...] = (),
) -> bytes:
    parts = [field_part("purpose", purpose)] if purpose is not None else []
    return multipart(*parts, *extra, file_part("file", filename, data))


# --- the table of bad inputs ------------------------------------------------------------------
@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    param: str | None = None
    code: str | None = None
    content: bytes | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    auth: str | None = "good"  # good | none | a literal header value


def multipart_post(
    path: str,
    id: str,
    status: int,
    param: str | None = None,
    *,
    code: str | None = None,
    content: bytes,
    auth: str = "good",
) -> Case:
    """A ``POST`` case with a multipart body."""
    headers = {"content-type": MULTIPART}
    return Case(id, "POST", path, status, param, code=code, content=content, headers=headers, auth=auth)


def file_post(
    id: str, status: int, param: str | None = None, *, code: str | None = None, content: bytes, auth: str = "good"
) -> Case:
    """A ``POST /v1/files`` case with a multipart body."""
    return multipart_post("/v1/files", id, status, param, code=code, content=content, auth=auth)


def expires_post(id: str, param: str, *, anchor: str, seconds: str) -> Case:
    """A 400 ``POST /v1/files`` case for a bad ``expires_after[anchor]`` / ``expires_after[seconds]``."""
    fields = (field_part("expires_after[anchor]", anchor), field_part("expires_after[seconds]", seconds))
    return file_post(id, 400, param, content=upload_body(extra=fields))


CASES = [
    # /v1/files create
    file_post("missing-purpose", 400, "purpose", content=upload_body(purpose=None)),
    file_post("unknown-purpose", 400, "purpose", content=upload_body("training")),
    file_post("output-purpose", 400, "purpose", content=upload_body("fine-tune-results")),
    file_post(
        "purpose-after-file",
        400,
        "purpose",
        content=multipart(file_part("file", b"t.jsonl", GOOD), field_part("purpose", "nope")),
    ),
    file_post("missing-file", 400, "file", content=multipart(field_part("purpose", "fine-tune"))),
    file_post("empty-file", 400, "file", code="empty_file", content=upload_body(data=b"")),
    file_post(
        "file-as-text-field",
        400,
        "file",
        content=multipart(field_part("purpose", "fine-tune"), field_part("file", "abc")),
    ),
    file_post("two-files", 400, "file", content=upload_body(extra=(file_part("file", b"a.jsonl", GOOD),))),
    file_post(
        "file-wrong-field",
        400,
        "document",
        content=multipart(field_part("purpose", "fine-tune"), file_part("document", b"a.jsonl", GOOD)),
    ),
    Case("json-body", "POST", "/v1/files", 400, json={"purpose": "fine-tune", "file": "x"}),
    Case("no-content-type", "POST", "/v1/files", 400, content=b"purpose=fine-tune"),
    Case(
        "urlencoded-body",
        "POST",
        "/v1/files",
        400,
        content=b"purpose=fine-tune",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "no-boundary",
        "POST",
        "/v1/files",
        400,
        content=upload_body(),
        headers={"content-type": "multipart/form-data"},
    ),
    file_post(
        "truncated-multipart",
        400,
        content=multipart(field_part("purpose", "fine-tune"), file_part("file", b"t.jsonl", GOOD * 100), close=False)[
            :-10
        ],
    ),
    file_post("garbage-multipart", 400, content=b"\x00\x01garbage" * 10),
    file_post("path-filename", 400, "file", code="invalid_filename", content=upload_body(filename=b"../../etc/passwd")),
    file_post(
        "windows-path-filename",
        400,
        "file",
        code="invalid_filename",
        content=upload_body(filename=b"..\\\\..\\\\boot.ini"),
    ),
    file_post(
        "control-char-filename", 400, "file", code="invalid_filename", content=upload_body(filename=b"a\x01b.jsonl")
    ),
    file_post(
        "escaped-newline-filename", 400, "file", code="invalid_filename", content=upload_body(filename=b"a%0Ab.jsonl")
    ),
    file_post("dotdot-filename", 400, "file", code="invalid_filename", content=upload_body(filename=b"..")),
    file_post("oversize-file", 413, "file", content=upload_body(data=b"x" * (MAX_FILE + 1))),
    file_post("oversize-declared", 413, "file", content=upload_body(data=b"x" * (MAX_FILE + 2 * 1024 * 1024))),
    expires_post("expires-too-short", "expires_after[seconds]", anchor="created_at", seconds="60"),
    expires_post("expires-too-long", "expires_after[seconds]", anchor="created_at", seconds="2592001"),
    expires_post("expires-not-int", "expires_after[seconds]", anchor="created_at", seconds="soon"),
    expires_post("expires-bad-anchor", "expires_after[anchor]", anchor="last_active_at", seconds="3600"),
    # /v1/files list / retrieve / delete / content
    Case("limit-zero", "GET", "/v1/files", 400, "limit", params={"limit": 0}),
    Case("limit-too-big", "GET", "/v1/files", 400, "limit", params={"limit": 10001}),
    Case("limit-not-int", "GET", "/v1/files", 400, "limit", params={"limit": "ten"}),
    Case("order-bad", "GET", "/v1/files", 400, "order", params={"order": "sideways"}),
    Case("after-unknown", "GET", "/v1/files", 400, "after", params={"after": "file-unknown"}),
    Case("retrieve-unknown", "GET", "/v1/files/file-unknown", 404, "file_id"),
    Case("content-unknown", "GET", "/v1/files/file-unknown/content", 404, "file_id"),
    Case("delete-unknown", "DELETE", "/v1/files/file-unknown", 404, "file_id"),
    # auth
    Case("no-key", "GET", "/v1/files", 401, auth="none"),
    Case("wrong-key", "GET", "/v1/files", 401, code="invalid_api_key", auth="Bearer sk-openft-wrong"),
    Case("basic-auth", "GET", "/v1/files", 401, auth="Basic dXNlcjpwYXNz"),
    Case("empty-bearer", "GET", "/v1/files", 401, auth="Bearer"),
    file_post("no-key-upload", 401, content=upload_body(), auth="none"),
    # /v1/uploads
    Case(
        "upload-zero-bytes",
        "POST",
        "/v1/uploads",
        400,
        "bytes",
        json={"bytes": 0, "filename": "a", "mime_type": "text/plain", "purpose": "fine-tune"},
    ),
    Case(
        "upload-too-large",
        "POST",
        "/v1/uploads",
        413,
        "bytes",
        json={"bytes": MAX_UPLOAD + 1, "filename": "a", "mime_type": "text/plain", "purpose": "fine-tune"},
    ),
    Case(
        "upload-bad-purpose",
        "POST",
        "/v1/uploads",
        400,
        "purpose",
        json={"bytes": 5, "filename": "a", "mime_type": "text/plain", "purpose": "weights"},
    ),
    Case(
        "upload-missing-filename",
        "POST",
        "/v1/uploads",
        400,
        "filename",
        json={"bytes": 5, "mime_type": "text/plain", "purpose": "fine-tune"},
    ),
    Case(
        "upload-path-filename",
        "POST",
        "/v1/uploads",
        400,
        "filename",
        code="invalid_filename",
        json={"bytes": 5, "filename": "../x", "mime_type": "text/plain", "purpose": "fine-tune"},
    ),
    Case(
        "upload-bad-expiry",
        "POST",
        "/v1/uploads",
        400,
        "expires_after[seconds]",
        json={
            "bytes": 5,
            "filename": "a",
            "mime_type": "text/plain",
            "purpose": "fine-tune",
            "expires_after": {"anchor": "created_at", "seconds": 5},
        },
    ),
    Case(
        "upload-invalid-json",
        "POST",
        "/v1/uploads",
        400,
        content=b'{"bytes": 5,',
        headers={"content-type": "application/json"},
    ),
    Case(
        "upload-empty-body",
        "POST",
        "/v1/uploads",
        400,
        content=b"",
        headers={"content-type": "application/json"},
    ),
    multipart_post(
        "/v1/uploads/upload_nope/parts",
        "part-unknown-upload",
        404,
        "upload_id",
        content=multipart(file_part("data", b"upload", b"abc")),
    ),
    Case(
        "part-not-multipart",
        "POST",
        "/v1/uploads/{upload}/parts",
        400,
        content=b"abc",
        headers={"content-type": "application/octet-stream"},
    ),
    multipart_post(
        "/v1/uploads/{upload}/parts", "part-missing-data", 400, "data", content=multipart(field_part("other", "x"))
    ),
    multipart_post(
        "/v1/uploads/{upload}/parts", "part-empty", 400, "data", content=multipart(file_part("data", b"upload", b""))
    ),
    multipart_post(
        "/v1/uploads/{upload}/parts",
        "part-too-large",
        413,
        "data",
        content=multipart(file_part("data", b"upload", b"y" * (MAX_PART + 1))),
    ),
    multipart_post(
        "/v1/uploads/{upload}/parts",
        "part-over-declared",
        400,
        "data",
        content=multipart(file_part("data", b"upload", b"y" * 200)),
    ),
    Case(
        "complete-unknown-part",
        "POST",
        "/v1/uploads/{upload}/complete",
        400,
        "part_ids",
        json={"part_ids": ["part_nope"]},
    ),
    Case(
        "complete-duplicate-part",
        "POST",
        "/v1/uploads/{upload}/complete",
        400,
        "part_ids",
        json={"part_ids": ["{part}", "{part}"]},
    ),
    Case(
        "complete-foreign-part",
        "POST",
        "/v1/uploads/{upload}/complete",
        400,
        "part_ids",
        json={"part_ids": ["{other_part}"]},
    ),
    Case("complete-no-parts", "POST", "/v1/uploads/{upload}/complete", 400, "part_ids", json={"part_ids": []}),
    Case(
        "complete-wrong-total",
        "POST",
        "/v1/uploads/{upload}/complete",
        400,
        "part_ids",
        json={"part_ids": ["{part}"]},
    ),
    Case(
        "complete-part-ids-not-list",
        "POST",
        "/v1/uploads/{upload}/complete",
        400,
        "part_ids",
        json={"part_ids": "part_x"},
    ),
    Case(
        "complete-unknown-upload",
        "POST",
        "/v1/uploads/upload_nope/complete",
        404,
        "upload_id",
        json={"part_ids": ["part_x"]},
    ),
    Case("cancel-unknown-upload", "POST", "/v1/uploads/upload_nope/cancel", 404, "upload_id"),
    # routing
    Case("unknown-route", "GET", "/v1/nothing-here", 404),
    Case("wrong-method", "PUT", "/v1/files", 405),
]


@dataclass
class Fixtures:
    upload: str
    part: str
    other_part: str


@pytest.fixture
def pending(client: openai.OpenAI) -> Fixtures:
    """A pending upload of 100 bytes with one 10-byte part, and a part of another upload."""
    u = client.uploads.create(bytes=100, filename="p.bin", mime_type="application/octet-stream", purpose="user_data")
    part = client.uploads.parts.create(u.id, data=b"0123456789")
    other = client.uploads.create(bytes=10, filename="o.bin", mime_type="application/octet-stream", purpose="user_data")
    other_part = client.uploads.parts.create(other.id, data=b"0123456789")
    return Fixtures(upload=u.id, part=part.id, other_part=other_part.id)


def _fill(value: Any, fx: Fixtures) -> Any:
    if isinstance(value, str):
        return value.format(upload=fx.upload, part=fx.part, other_part=fx.other_part)
    if isinstance(value, list):
        return [_fill(v, fx) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fx) for k, v in value.items()}
    return value


def assert_error_body(resp: Any, status: int, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """``resp`` is an OpenAI-shaped error with ``status`` (and ``param``/``code`` when given)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers.get("x-request-id")
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    assert err["code"] is None or isinstance(err["code"], str)
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    return err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, http: Any, pending: Fixtures, store: Store, engine: Engine, api_key: str) -> None:
    before_store, before_rows = store_leftovers(store), row_counts(engine)
    headers = dict(case.headers)
    if case.auth == "none":
        http.headers.pop("Authorization")
    elif case.auth is not None and case.auth != "good":
        headers["Authorization"] = case.auth
    resp = http.request(
        case.method,
        _fill(case.path, pending),
        content=case.content,
        json=_fill(case.json, pending),
        params=case.params,
        headers=headers,
    )
    assert_error_body(resp, case.status, case.param, case.code)
    assert store_leftovers(store) == before_store
    assert row_counts(engine) == before_rows


def test_chunked_oversize_without_length(http: Any, store: Store, engine: Engine) -> None:
    """A body with no Content-Length is counted as it streams and cut off at the limit."""
    body = upload_body(data=b"z" * (MAX_FILE * 3))

    def gen() -> Iterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    resp = http.post("/v1/files", content=gen(), headers={"content-type": MULTIPART})
    assert_error_body(resp, 413, "file", "file_too_large")
    assert store_leftovers(store) == []
    assert row_counts(engine)["files"] == 0


def test_expired_upload_refuses_parts(client: openai.OpenAI, app: FastAPI, engine: Engine, store: Store) -> None:
    u = client.uploads.create(bytes=6, filename="e.bin", mime_type="application/octet-stream", purpose="user_data")
    p = client.uploads.parts.create(u.id, data=b"abc")
    with Session(engine) as session:
        session.exec(update(Upload).where(col(Upload.id) == u.id).values(expires_at=0))
        session.commit()
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.parts.create(u.id, data=b"def")
    assert "expired" in err.value.message
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(u.id, part_ids=[p.id])
    with pytest.raises(openai.BadRequestError):
        client.uploads.cancel(u.id)
    # the housekeeping sweep marks it expired and removes its parts
    assert sweep(app.state.openft) == (1, 0)
    assert store_leftovers(store) == []
    with Session(engine) as session:
        assert session.get(Upload, u.id).status == "expired"  # type: ignore[union-attr]


# --- checklist 36-42 ----------------------------------------------------------------------------
def test_error_shape_through_client(client: openai.OpenAI) -> None:  # item 36
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=b"x\n", purpose="fine-tune-results")  # type: ignore[arg-type]
    e = err.value
    assert e.status_code == 400 and e.type == "invalid_request_error" and e.param == "purpose"
    assert isinstance(e.body, dict) and set(e.body) == {"message", "type", "param", "code"}
    assert str(e) == f"Error code: 400 - {e.body['message']}"


@pytest.mark.parametrize("key", [None, "sk-openft-not-a-key"])
def test_bad_key_is_401_without_retries(server: LiveServer, key: str | None) -> None:  # item 37
    c = openai.OpenAI(base_url=server.base_url, api_key="placeholder", _strict_response_validation=True)
    headers = {"Authorization": f"Bearer {key}"} if key else {"Authorization": ""}
    before = len(server.log.entries)
    with pytest.raises(openai.AuthenticationError) as err:
        c.files.list(extra_headers=headers)
    assert err.value.status_code == 401
    seen = server.log.entries[before:]
    assert [(s, r) for _m, _p, s, r in seen] == [(401, "0")]


def test_creates_never_answer_retryable_statuses(client: openai.OpenAI, server: LiveServer) -> None:  # item 38
    """Creates (good and bad) answer 2xx/4xx other than 408/409/429, so the client never re-sends one."""
    f = client.files.create(file=chat_jsonl(2), purpose="fine-tune")
    for bad in (
        {"purpose": "nope"},
        {"purpose": "fine-tune", "expires_after": {"anchor": "created_at", "seconds": 1}},
    ):
        with pytest.raises(openai.BadRequestError):
            client.files.create(file=b"x", **bad)
    u = client.uploads.create(bytes=3, filename="r.txt", mime_type="text/plain", purpose="user_data")
    p = client.uploads.parts.create(u.id, data=b"abc")
    client.uploads.complete(u.id, part_ids=[p.id])
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(u.id, part_ids=[p.id])
    statuses = {e[2] for e in server.log.entries if e[0] == "POST"}
    assert statuses.isdisjoint({408, 409, 429}) and max(statuses) < 500
    assert all(e[3] in (None, "0") for e in server.log.entries), "the client retried something"
    assert client.files.retrieve(f.id).id == f.id


@pytest.mark.allow_5xx
def test_unexpected_error_on_write_is_not_retried(app: FastAPI, server: LiveServer, api_key: str) -> None:
    """A crash in a POST answers 500 with ``x-should-retry: false``: exactly one attempt; a crash
    in a GET may be retried (nothing was created)."""

    def boom() -> None:
        raise RuntimeError("simulated crash after commit")

    app.add_api_route("/v1/test-crash", boom, methods=["POST", "GET"])
    c = make_client(server, api_key)
    before = len(server.log.entries)
    with pytest.raises(openai.InternalServerError) as err:
        c.post("/test-crash", cast_to=object)
    assert err.value.response.headers["x-should-retry"] == "false"
    assert err.value.request_id
    assert isinstance(err.value.body, dict)
    assert set(err.value.body) == {"message", "type", "param", "code"}
    assert "simulated" not in err.value.message  # internals are not leaked
    assert [e[3] for e in server.log.entries[before:]] == ["0"]
    before = len(server.log.entries)
    with pytest.raises(openai.InternalServerError):
        c.with_options(max_retries=1).get("/test-crash", cast_to=object)
    assert [e[3] for e in server.log.entries[before:]] == ["0", "1"]


def test_retry_after_is_honoured(app: FastAPI, server: LiveServer, api_key: str) -> None:  # item 39
    """The client follows Retry-After on 429 (<= 120 s) and gives up at once when it is longer."""
    def busy(retry_after: str) -> Callable[[], JSONResponse]:
        return lambda: JSONResponse(
            {"error": {"message": "busy", "type": "rate_limit_error", "param": None, "code": None}},
            status_code=429, headers={"retry-after": retry_after})

    app.add_api_route("/v1/test-busy", busy("0.05"), methods=["GET"])
    app.add_api_route("/v1/test-busy-long", busy("500"), methods=["GET"])
    c = make_client(server, api_key)
    for path, attempts in (("/test-busy", ["0", "1", "2"]), ("/test-busy-long", ["0"])):
        before = len(server.log.entries)
        with pytest.raises(openai.RateLimitError):
            c.get(path, cast_to=object)
        assert [e[3] for e in server.log.entries[before:]] == attempts


def test_request_id_on_errors(client: openai.OpenAI, http: Any) -> None:  # item 40
    with pytest.raises(openai.NotFoundError) as err:
        client.files.retrieve("file-missing")
    assert err.value.request_id and err.value.request_id.startswith("req_")
    for resp in (
        http.get("/healthz"),
        http.get("/v1/nope"),
        http.put("/v1/files"),
        http.get("/v1/files", headers={"x-request-id": "abc-1"}),
    ):
        assert resp.headers.get("x-request-id")
    assert http.get("/v1/files", headers={"x-request-id": "abc-1"}).headers["x-request-id"] == "abc-1"
    assert http.get("/v1/files", headers={"x-request-id": "bad id <script>"}).headers["x-request-id"].startswith("req_")


def test_bodyless_post(client: openai.OpenAI, http: Any) -> None:  # item 41
    u = client.uploads.create(bytes=3, filename="b.txt", mime_type="text/plain", purpose="user_data")
    resp = http.post(f"/v1/uploads/{u.id}/cancel", headers={"content-type": "application/json", "content-length": "0"})
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"


def test_extra_headers_accepted(server: LiveServer, api_key: str) -> None:  # item 42
    c = openai.OpenAI(
        base_url=server.base_url,
        api_key=api_key,
        organization="org-x",
        project="proj_x",
        _strict_response_validation=True,
    )
    page = c.files.list()
    assert page.data == [] and page.has_more is False


def test_health(http: Any) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok" and ready.json()["store"] == "ok"


def test_error_body_is_json_for_every_status(http: Any) -> None:
    for resp in (
        http.get("/v1/files/x"),
        http.post("/v1/files"),
        http.get("/v1/files?limit=-1"),
        http.delete("/v1/uploads"),
    ):
        err = assert_error_body(resp, resp.status_code)
        assert json.dumps(err)


def test_client_disconnect_mid_upload_leaves_nothing(
    server: LiveServer, api_key: str, store: Store, engine: Engine
) -> None:
    """A client that goes away halfway through a file part leaves no object, temporary or row."""
    import socket
    import time

    body = upload_body(data=b"q" * (MAX_FILE - 100))
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api_key}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while store_leftovers(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store_leftovers(store) == []
    assert row_counts(engine)["files"] == 0
