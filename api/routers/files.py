"""``/v1/files``: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from api.body import OVERHEAD, declared_length
from api.deps import ProjectDep, SessionDep, StateDep, StoreDep
from api.errors import InvalidRequest, TooLarge
from api.multipart import iter_multipart
from api.pagination import AfterQuery, CursorPage, OrderQuery, limit_query
from api.schemas.files import FileDeleted, FileObject
from api.services import file_validation, files

router = APIRouter(tags=["files"])


@router.post("/files")
async def create_file(request: Request, state: StateDep, project: ProjectDep) -> FileObject:
    """Upload a file (multipart fields ``purpose``, ``file``, optional ``expires_after[…]``).

    200 with the file; 400 bad or missing field, empty file, unsafe filename, body not
    multipart; 401 bad key; 413 over ``max_file_bytes``.
    """
    limit = state.settings.max_file_bytes
    length = declared_length(request)
    if length is not None and length > limit + OVERHEAD:
        raise TooLarge(f"File is too large: the limit for /v1/files is {limit} bytes; "
                       "use the Uploads API for larger files.", param="file")
    try:
        events = iter_multipart(request.headers.get("content-type"), request.stream())
        return await files.create_file(state, project, events)
    except ClientDisconnect as exc:
        raise InvalidRequest("The client disconnected before the upload finished.") from exc


@router.get("/files")
def list_files(
    session: SessionDep,
    project: ProjectDep,
    after: AfterQuery = None,
    limit: Annotated[int, limit_query(10000)] = 10000,
    order: OrderQuery = "desc",
    purpose: Annotated[str | None, Query()] = None,
) -> CursorPage[FileObject]:
    """The caller's files, newest first by default. 200; 400 bad ``limit``/``after``/``order``."""
    return files.list_files(session, project, after=after, limit=limit, order=order, purpose=purpose)


@router.get("/files/{file_id}")
def retrieve_file(file_id: str, session: SessionDep, project: ProjectDep) -> FileObject:
    """One file. 200; 404 when missing or another project's."""
    return files.to_object(files.get_file(session, project, file_id))


@router.delete("/files/{file_id}")
def delete_file(file_id: str, session: SessionDep, store: StoreDep, project: ProjectDep) -> FileDeleted:
    """Delete a file and its bytes. 200 with ``{"id","object":"file","deleted":true}``; 404."""
    return files.delete_file(session, store, project, file_id)


@router.get("/files/{file_id}/validation")
def validate_file(
    file_id: str, session: SessionDep, state: StateDep, project: ProjectDep,
    model: Annotated[str, Query(description="the base model whose tokenizer and max length apply")],
    method: Annotated[str, Query(description="supervised, dpo or reinforcement")] = "supervised",
) -> dict[str, Any]:
    """openft: run a job's full file validation now (line numbers, token counts, truncation).

    200 with ``{"valid", "error": {"code","message","param","line"}|null, "stats"}``; 400 unknown
    ``model``/``method``; 404 no such file.
    """
    return file_validation.validate_file(session, state.settings, state.store, project, file_id, model, method)


@router.get("/files/{file_id}/content")
def file_content(
    file_id: str, session: SessionDep, store: StoreDep, project: ProjectDep
) -> StreamingResponse:
    """The file's exact bytes, streamed. 200; 404."""
    row, chunks = files.open_content(session, store, project, file_id)
    return StreamingResponse(
        chunks, media_type="application/octet-stream",
        headers={"content-length": str(row.bytes),
                 "content-disposition": f"attachment; filename*=UTF-8''{quote(row.filename, safe='')}"},
    )
