"""Uploads: a large file sent as parts, assembled into a File on completion.

Parts are stored under ``uploads/{upload_id}/parts/{part_id}``; completion streams them, in the
order the caller lists them, into ``files/{file_id}`` while counting bytes and computing md5,
and only then registers the File. Parts are removed after completion or cancellation. An
upload is ``expired`` once ``expires_at`` has passed while still pending: it refuses parts and
completion, and its parts are removed.

State changes claim the upload row with a conditional UPDATE (``… WHERE status='pending'``), so
a part racing a cancel, or two completions, cannot both win on SQLite or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Final

from anyio import to_thread
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound, TooLarge
from api.multipart import Event, FieldPart, FileData, FileStart
from api.schemas.uploads import Upload, UploadComplete, UploadCreate, UploadPart
from api.services import files
from api.services.filenames import clean_filename
from api.services.sink import StoreSink, abort, record_or_delete
from api.state import AppState
from core import ids
from core.db import session_scope
from core.protocol import file_key
from core.settings import Settings
from core.store import ObjectNotFound, Store
from core.tables import File, now
from core.tables import Upload as UploadRow
from core.tables import UploadPart as PartRow

log = logging.getLogger("openft.api.uploads")


def upload_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}"


def part_key(upload_id: str, part_id: str) -> str:
    return f"uploads/{upload_id}/parts/{part_id}"


def _status(row: UploadRow) -> str:
    if row.status == "pending" and row.expires_at <= now():
        return "expired"
    return row.status


def to_object(row: UploadRow, file: File | None = None) -> Upload:
    """The wire object of an upload row (``file`` when it completed)."""
    return Upload(
        id=row.id, bytes=row.bytes, created_at=row.created_at, expires_at=row.expires_at,
        filename=row.filename, purpose=row.purpose, status=_status(row),
        file=files.to_object(file) if file is not None else None,
    )


def _get(session: Session, project_id: str, upload_id: str) -> UploadRow:
    row = session.exec(
        select(UploadRow).where(UploadRow.id == upload_id, UploadRow.project_id == project_id)
    ).first()
    if row is None:
        raise NotFound.object("Upload", upload_id, param="upload_id")
    return row


def _require_pending(row: UploadRow) -> None:
    status = _status(row)
    if status != "pending":
        raise InvalidRequest(f"Upload {row.id} is {status}; it no longer accepts changes.",
                             param="upload_id", code="invalid_upload_status")


def _no_longer_pending(upload_id: str) -> InvalidRequest:
    return InvalidRequest(f"Upload {upload_id} is no longer pending.", param="upload_id",
                          code="invalid_upload_status")


def _claim(session: Session, upload_id: str, **values: object) -> bool:
    """Lock the pending upload row (optionally changing it); False if it is no longer pending."""
    stmt = (update(UploadRow)
            .where(col(UploadRow.id) == upload_id, col(UploadRow.status) == "pending",
                   col(UploadRow.expires_at) > now())
            .values(**(values or {"status": "pending"})))
    return bool(session.exec(stmt).rowcount)


_JSONL_TYPES: Final = (
    "text/jsonl", "application/jsonl", "application/jsonlines", "application/x-jsonlines",
    "application/x-ndjson", "application/ndjson", "application/json", "text/plain",
)
_IMAGE_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")
MIME_TYPES_BY_PURPOSE: Final[dict[str, tuple[str, ...]]] = {
    "fine-tune": _JSONL_TYPES, "batch": _JSONL_TYPES, "evals": _JSONL_TYPES, "vision": _IMAGE_TYPES,
}
"""The MIME types an upload of each purpose may declare; purposes not listed take any type."""
_MIME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def check_mime_type(purpose: str, mime_type: str) -> str:
    """``mime_type`` when it is a MIME type that fits ``purpose`` (parameters such as
    ``; charset=utf-8`` ignored), else :class:`InvalidRequest` naming ``mime_type``."""
    essence = mime_type.split(";", 1)[0].strip().lower()
    if not _MIME_RE.match(essence):
        raise InvalidRequest(f"Invalid value for 'mime_type': {mime_type!r} is not a MIME type.",
                             param="mime_type", code="invalid_value")
    allowed = MIME_TYPES_BY_PURPOSE.get(purpose)
    if allowed is not None and essence not in allowed:
        raise InvalidRequest(
            f"Invalid value for 'mime_type': {mime_type!r} is not supported for purpose '{purpose}'. "
            "Supported types: " + ", ".join(allowed) + ".",
            param="mime_type", code="invalid_value",
        )
    return mime_type


def create_upload(session: Session, settings: Settings, project_id: str, body: UploadCreate) -> Upload:
    """Open an upload of ``body.bytes`` bytes; 413 above ``settings.max_upload_bytes``, 400 for a
    ``mime_type`` that does not fit the purpose."""
    limit, ttl = settings.max_upload_bytes, settings.upload_ttl_seconds
    if body.bytes > limit:
        raise TooLarge(f"Upload is too large: {body.bytes} bytes declared, the limit is {limit} bytes.",
                       param="bytes")
    filename = clean_filename(body.filename, param="filename")
    check_mime_type(body.purpose, body.mime_type)
    created = now()
    row = UploadRow(
        id=ids.upload_id(), project_id=project_id, filename=filename, purpose=body.purpose,
        mime_type=body.mime_type, bytes=body.bytes, created_at=created, expires_at=created + ttl,
        file_expires_seconds=body.expires_after.seconds if body.expires_after else None,
    )
    session.add(row)
    session.flush()
    return to_object(row)


async def add_part(
    state: AppState, project_id: str, upload_id: str, events: AsyncIterator[Event]
) -> UploadPart:
    """Store the multipart field ``data`` as a new part; 400 unless the upload is pending."""
    row = await to_thread.run_sync(_load_pending, state, project_id, upload_id)
    limit = state.settings.max_part_bytes
    too_large = TooLarge(f"Part is too large: the limit is {limit} bytes.", param="data")
    part_id = ids.part_id()
    key = part_key(upload_id, part_id)
    sink: StoreSink | None = None
    try:
        async for event in events:
            if isinstance(event, FileStart):
                if event.name != "data" or sink is not None:
                    raise InvalidRequest("Send the part's bytes as one multipart file field 'data'.",
                                         param="data", code="invalid_value")
                sink = await StoreSink.open(state.store, key, limit=limit, too_large=too_large)
            elif isinstance(event, FileData) and sink is not None:
                await sink.write(event.data)
            elif isinstance(event, FieldPart) and event.name == "data":
                raise InvalidRequest("The 'data' field must be a file part (with a filename).",
                                     param="data", code="invalid_value")
        if sink is None:
            raise InvalidRequest("Missing required parameter: 'data'.", param="data",
                                 code="missing_required_parameter")
        await sink.commit_unless_empty(InvalidRequest("The part is empty.", param="data", code="empty_part"))
    except BaseException:
        await abort(sink)
        raise
    return await record_or_delete(state.store, key, _insert_part, state, row.id, part_id, sink.bytes, row.bytes)


def _load_pending(state: AppState, project_id: str, upload_id: str) -> UploadRow:
    with session_scope(state.engine) as session:
        row = _get(session, project_id, upload_id)
        _require_pending(row)
        return row


def _insert_part(state: AppState, upload_id: str, part_id: str, nbytes: int, declared: int) -> UploadPart:
    with session_scope(state.engine) as session:
        if not _claim(session, upload_id):
            raise InvalidRequest(f"Upload {upload_id} no longer accepts parts.", param="upload_id",
                                 code="invalid_upload_status")
        stored = sum(session.exec(select(PartRow.bytes).where(PartRow.upload_id == upload_id)).all())
        if stored + nbytes > declared:
            raise InvalidRequest(
                f"Parts would add up to {stored + nbytes} bytes, more than the {declared} bytes "
                "declared when the upload was created.", param="data", code="upload_too_large")
        part = PartRow(id=part_id, upload_id=upload_id, bytes=nbytes)
        session.add(part)
        session.flush()
        return UploadPart(id=part.id, created_at=part.created_at, upload_id=upload_id)


async def complete_upload(state: AppState, project_id: str, upload_id: str, body: UploadComplete) -> Upload:
    """Assemble the listed parts in order into a new File, off the event loop.

    400 when the upload is not pending, a part id is unknown or repeated, the byte total differs
    from the declared size, or ``md5`` does not match.
    """
    result = await to_thread.run_sync(_complete, state, project_id, upload_id, body)
    if result.file is not None and result.file.status == "uploaded":
        files.schedule_processing(state, result.file.id)
    return result


def _complete(state: AppState, project_id: str, upload_id: str, body: UploadComplete) -> Upload:
    with session_scope(state.engine) as session:
        row = _get(session, project_id, upload_id)
        _require_pending(row)
        parts = {p.id: p for p in session.exec(select(PartRow).where(PartRow.upload_id == upload_id)).all()}
    _check_part_list(body.part_ids, parts, row)
    file_id = ids.file_id()
    try:
        try:
            sha256, md5 = _assemble(state.store, upload_id, body.part_ids, file_key(file_id))
        except ObjectNotFound as exc:  # a concurrent complete (or cancel) finished first and removed the parts
            raise _no_longer_pending(upload_id) from exc
        if body.md5 is not None and body.md5.strip().lower() != md5:
            raise InvalidRequest(f"The md5 of the assembled upload is {md5}, not {body.md5}.",
                                 param="md5", code="md5_mismatch")
        with session_scope(state.engine) as session:
            if not _claim(session, upload_id, status="completed", file_id=file_id):
                raise _no_longer_pending(upload_id)
            created = now()
            expires = created + row.file_expires_seconds if row.file_expires_seconds else None
            file = files.register_file(session, file_id=file_id, project_id=project_id, purpose=row.purpose,
                                       filename=row.filename, nbytes=row.bytes, sha256=sha256,
                                       expires_at=expires)
            file.created_at = created
            done = _get(session, project_id, upload_id)
    except BaseException:
        state.store.delete(file_key(file_id))
        raise
    state.store.delete_prefix(upload_prefix(upload_id))
    return to_object(done, file)


def _check_part_list(part_ids: list[str], parts: dict[str, PartRow], row: UploadRow) -> None:
    if len(set(part_ids)) != len(part_ids):
        raise InvalidRequest("part_ids lists a part more than once.", param="part_ids", code="invalid_value")
    unknown = [p for p in part_ids if p not in parts]
    if unknown:
        raise InvalidRequest(f"No such part of upload {row.id}: {unknown[0]}.", param="part_ids",
                             code="invalid_value")
    total = sum(parts[p].bytes for p in part_ids)
    if total != row.bytes:
        raise InvalidRequest(
            f"The parts add up to {total} bytes, but the upload was created with bytes={row.bytes}.",
            param="part_ids", code="bytes_mismatch")


def _assemble(store: Store, upload_id: str, part_ids: list[str], key: str) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with store.writer(key) as writer:
        for part_id in part_ids:
            for chunk in store.iter_bytes(part_key(upload_id, part_id)):
                sha256.update(chunk)
                md5.update(chunk)
                writer.write(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def cancel_upload(session: Session, store: Store, project_id: str, upload_id: str) -> Upload:
    """Cancel a pending upload and remove its parts; 400 unless it is pending."""
    row = _get(session, project_id, upload_id)
    _require_pending(row)
    if not _claim(session, upload_id, status="cancelled"):
        raise _no_longer_pending(upload_id)
    session.commit()
    session.refresh(row)
    store.delete_prefix(upload_prefix(upload_id))
    return to_object(row)


def expire_uploads(state: AppState) -> int:
    """Mark pending uploads past ``expires_at`` as expired and remove their parts."""
    with session_scope(state.engine) as session:
        stale = list(session.exec(
            select(UploadRow.id).where(UploadRow.status == "pending", UploadRow.expires_at <= now())
        ).all())
        if stale:
            stmt = (update(UploadRow)
                    .where(col(UploadRow.id).in_(stale), col(UploadRow.status) == "pending")
                    .values(status="expired"))
            session.exec(stmt)
    for upload_id in stale:
        state.store.delete_prefix(upload_prefix(upload_id))
    return len(stale)
