"""``/v1/uploads``: create, add part (multipart field ``data``), complete, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect

from api.body import OVERHEAD, declared_length
from api.deps import ProjectDep, SessionDep, SettingsDep, StateDep, StoreDep
from api.errors import InvalidRequest, TooLarge
from api.multipart import iter_multipart
from api.schemas.uploads import Upload, UploadComplete, UploadCreate, UploadPart
from api.services import uploads

router = APIRouter(tags=["uploads"])


@router.post("/uploads")
def create_upload(
    body: UploadCreate, session: SessionDep, settings: SettingsDep, project: ProjectDep
) -> Upload:
    """Open an upload that expires an hour after creation. 200; 400 bad field; 413 over the limit."""
    return uploads.create_upload(session, settings, project, body)


@router.post("/uploads/{upload_id}/parts")
async def add_part(upload_id: str, request: Request, state: StateDep, project: ProjectDep) -> UploadPart:
    """Add a part (multipart field ``data``).

    200; 400 not pending or bad body; 404; 413 over the part limit.
    """
    limit = state.settings.max_part_bytes
    length = declared_length(request)
    if length is not None and length > limit + OVERHEAD:
        raise TooLarge(f"Part is too large: the limit is {limit} bytes.", param="data")
    try:
        events = iter_multipart(request.headers.get("content-type"), request.stream())
        return await uploads.add_part(state, project, upload_id, events)
    except ClientDisconnect as exc:
        raise InvalidRequest("The client disconnected before the part was sent.") from exc


@router.post("/uploads/{upload_id}/complete")
async def complete_upload(
    upload_id: str, body: UploadComplete, state: StateDep, project: ProjectDep
) -> Upload:
    """Assemble the parts in the given order into a File. 200 with ``file`` set; 400 wrong
    parts, byte count or md5, or not pending; 404."""
    return await uploads.complete_upload(state, project, upload_id, body)


@router.post("/uploads/{upload_id}/cancel")
def cancel_upload(upload_id: str, session: SessionDep, store: StoreDep, project: ProjectDep) -> Upload:
    """Cancel a pending upload and drop its parts. 200; 400 not pending; 404."""
    return uploads.cancel_upload(session, store, project, upload_id)
