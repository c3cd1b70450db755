"""Files: create (streamed into the store), list, retrieve, delete, content, processing.

Store keys are ids (``files/{file_id}``); the caller's filename is only ever metadata. A file
becomes visible (row committed) only after its bytes are committed to the store, and an error
anywhere before that leaves neither. Fine-tune files start ``uploaded`` and a background check
(UTF-8, one JSON object per line) moves them to ``processed`` or ``error``; other purposes are
``processed`` at once. Expired files (``expires_at`` passed) read as missing.

A job pins the files it trains on: deleting (or the expiry of) a file that a job not yet ended
uses hides it from its owner at once (``deleted_at``; every route answers 404 as for a missing
file) but keeps the row and the bytes until that job ends, so the run is not wasted;
:func:`purge_files` (housekeeping) then removes them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

from anyio import to_thread
from sqlalchemy import and_, exists, or_, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.errors import InvalidRequest, NotFound, TooLarge
from api.multipart import Event, FieldPart, FileData, FileEnd, FileStart
from api.pagination import CursorPage, Order, paginate
from api.schemas.files import (
    EXPIRES_MAX_SECONDS,
    EXPIRES_MIN_SECONDS,
    UPLOAD_PURPOSES,
    FileDeleted,
    FileObject,
)
from api.services.filenames import clean_filename
from api.services.jsonl_check import check_jsonl
from api.services.sink import StoreSink, abort, record_or_delete
from api.state import AppState
from core import ids
from core.db import session_scope
from core.protocol import file_key
from core.store import ObjectNotFound, Store
from core.tables import File, Job, now
from scheduler.transitions import TERMINAL

log = logging.getLogger("openft.api.files")

FINE_TUNE = "fine-tune"


def to_object(row: File) -> FileObject:
    """The wire object of a file row."""
    return FileObject(
        id=row.id, bytes=row.bytes, created_at=row.created_at, expires_at=row.expires_at,
        filename=row.filename, purpose=row.purpose,
        status=row.status,
        status_details=row.status_details,
    )


def _visible(project_id: str) -> SelectOfScalar[File]:
    return select(File).where(
        File.project_id == project_id,
        col(File.deleted_at).is_(None),
        or_(col(File.expires_at).is_(None), col(File.expires_at) > now()),
    )


def find_file(session: Session, project_id: str, file_id: str) -> File | None:
    """The caller's file ``file_id``, or None if missing, deleted, expired or another project's."""
    return session.exec(_visible(project_id).where(File.id == file_id)).first()


def get_file(session: Session, project_id: str, file_id: str, param: str = "file_id") -> File:
    """The caller's file ``file_id``; :class:`NotFound` if missing, expired or another project's."""
    row = find_file(session, project_id, file_id)
    if row is None:
        raise NotFound.object("File", file_id, param=param)
    return row


def list_files(
    session: Session, project_id: str, *, after: str | None, limit: int, order: Order, purpose: str | None,
) -> CursorPage[FileObject]:
    """A page of the caller's files, newest first unless ``order="asc"``."""
    stmt = _visible(project_id)
    if purpose is not None:
        stmt = stmt.where(File.purpose == purpose)
    rows, has_more = paginate(session, stmt, File, sort=(File.created_at, File.seq),
                              after=after, limit=limit, order=order)
    return CursorPage[FileObject](data=[to_object(r) for r in rows], has_more=has_more)


def delete_file(session: Session, store: Store, project_id: str, file_id: str) -> FileDeleted:
    """Hide the file from its owner now; remove row and bytes now unless a job still uses them
    (then :func:`purge_files` does once the job ends)."""
    row = get_file(session, project_id, file_id)
    row.deleted_at = now()
    session.commit()
    _purge(session, store, [file_id])
    return FileDeleted(id=file_id, deleted=True)


def _pinned(file_ids: list[str]) -> SelectOfScalar[str]:
    """The ids among ``file_ids`` that a job not yet ended trains or validates on."""
    active = col(Job.status).not_in(TERMINAL)
    return select(File.id).where(
        col(File.id).in_(file_ids),
        exists().where(active, or_(col(Job.training_file) == col(File.id), col(Job.validation_file) == col(File.id))),
    )


def _purge(session: Session, store: Store, file_ids: list[str]) -> list[str]:
    """Delete the rows of ``file_ids`` no active job uses, then their bytes (a crash in between
    leaves an orphan object, never a row without bytes); returns the ids removed."""
    if not file_ids:
        return []
    pinned = set(session.exec(_pinned(file_ids)).all())
    gone = [f for f in file_ids if f not in pinned]
    for file_id in gone:
        row = session.get(File, file_id)
        if row is not None:
            session.delete(row)
    session.commit()
    for file_id in gone:
        store.delete(file_key(file_id))
    return gone


def open_content(
    session: Session, store: Store, project_id: str, file_id: str
) -> tuple[File, Iterator[bytes]]:
    """The file row and an iterator over its exact bytes."""
    row = get_file(session, project_id, file_id)
    try:
        return row, store.iter_bytes(file_key(row.id))
    except ObjectNotFound as exc:  # row without bytes: treat as gone rather than a 500
        log.error("file %s has a row but no bytes in the store", file_id)
        raise NotFound.object("File", file_id, param="file_id") from exc


def register_file(
    session: Session, *, file_id: str, project_id: str, purpose: str, filename: str, nbytes: int,
    sha256: str | None, expires_at: int | None = None,
) -> File:
    """Insert the row of a file whose bytes are already committed under ``files/{file_id}``."""
    row = File(
        id=file_id, project_id=project_id, purpose=purpose, filename=filename, bytes=nbytes,
        expires_at=expires_at, sha256=sha256,
        status="uploaded" if purpose == FINE_TUNE else "processed",
    )
    session.add(row)
    session.flush()
    return row


# --- create from a multipart stream ---------------------------------------------------------
def _check_purpose(value: str | None) -> str:
    if value is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose",
                             code="missing_required_parameter")
    if value not in UPLOAD_PURPOSES:
        raise InvalidRequest(
            f"Invalid value for 'purpose': '{value}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES) + ".",
            param="purpose", code="invalid_value",
        )
    return value


def _expires_at(fields: dict[str, str], created_at: int) -> int | None:
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest("Invalid value for 'expires_after[anchor]': it must be 'created_at'.",
                             param="expires_after[anchor]", code="invalid_value")
    try:
        value = int(seconds or "")
    except ValueError:
        value = -1
    if not EXPIRES_MIN_SECONDS <= value <= EXPIRES_MAX_SECONDS:
        raise InvalidRequest(
            f"Invalid value for 'expires_after[seconds]': {seconds!r}. It must be an integer between "
            f"{EXPIRES_MIN_SECONDS} and {EXPIRES_MAX_SECONDS}.",
            param="expires_after[seconds]", code="invalid_value",
        )
    return created_at + value


async def create_file(state: AppState, project_id: str, events: AsyncIterator[Event]) -> FileObject:
    """Consume a ``/v1/files`` multipart body: fields ``purpose``, ``file``, ``expires_after[…]``.

    The file part is streamed into the store as it arrives and published only after the whole
    body was read and every field checked; on any error nothing remains.
    """
    limit = state.settings.max_file_bytes
    too_large = TooLarge(f"File is too large: the limit for /v1/files is {limit} bytes; "
                         "use the Uploads API for larger files.", param="file")
    fields: dict[str, str] = {}
    file_id = ids.file_id()
    sink: StoreSink | None = None
    filename = "upload"
    try:
        async for event in events:
            if isinstance(event, FieldPart):
                fields.setdefault(event.name, event.value)
                if event.name == "purpose":
                    _check_purpose(event.value)  # fail before the file is read, when we can
            elif isinstance(event, FileStart):
                if event.name != "file":
                    raise InvalidRequest(f"Unexpected file field '{event.name}'; send the file as 'file'.",
                                         param=event.name, code="invalid_value")
                if sink is not None:
                    raise InvalidRequest("Send exactly one 'file' part.", param="file", code="invalid_value")
                filename = clean_filename(event.filename)
                sink = await StoreSink.open(state.store, file_key(file_id), limit=limit, too_large=too_large)
            elif isinstance(event, FileData) and sink is not None:
                await sink.write(event.data)
            elif isinstance(event, FileEnd):
                pass
        if sink is None:
            if "file" in fields:
                raise InvalidRequest("The 'file' field must be a file part (with a filename).",
                                     param="file", code="invalid_value")
            raise InvalidRequest("Missing required parameter: 'file'.", param="file",
                                 code="missing_required_parameter")
        purpose = _check_purpose(fields.get("purpose"))
        created_at = now()
        expires_at = _expires_at(fields, created_at)
        await sink.commit_unless_empty(InvalidRequest("The file is empty.", param="file", code="empty_file"))
    except BaseException:
        await abort(sink)
        raise
    row = await record_or_delete(state.store, file_key(file_id), _insert, state, file_id, project_id, purpose,
                                 filename, sink.bytes, sink.sha256, created_at, expires_at)
    if row.status == "uploaded":
        schedule_processing(state, row.id)
    return to_object(row)


def _insert(state: AppState, file_id: str, project_id: str, purpose: str, filename: str, nbytes: int,
            sha256: str, created_at: int, expires_at: int | None) -> File:
    with session_scope(state.engine) as session:
        row = register_file(session, file_id=file_id, project_id=project_id, purpose=purpose,
                            filename=filename, nbytes=nbytes, sha256=sha256, expires_at=expires_at)
        row.created_at = created_at
    return row


# --- processing -------------------------------------------------------------------------------
def schedule_processing(state: AppState, file_id: str) -> None:
    """Check a fine-tune file's bytes in the background (see :func:`process_file`)."""
    state.tasks.spawn(to_thread.run_sync(process_file, state, file_id), name=f"process {file_id}")


def process_file(state: AppState, file_id: str) -> str | None:
    """Run the light JSONL check and record ``processed`` or ``error``; returns the new status.

    Only a file still ``uploaded`` changes, so running this twice (a restart, two API replicas)
    is harmless.
    """
    try:
        problem = check_jsonl(state.store.iter_bytes(file_key(file_id)))
    except Exception as exc:  # the object vanished (file deleted meanwhile) or the store is down
        log.warning("could not check %s: %s", file_id, exc)
        return None
    status = "processed" if problem is None else "error"
    with session_scope(state.engine) as session:
        session.exec(
            update(File).where(col(File.id) == file_id, col(File.status) == "uploaded")
            .values(status=status, status_details=problem)
        )
    return status


def pending_file_ids(state: AppState) -> list[str]:
    """Fine-tune files whose check has not run (e.g. the process stopped mid-check)."""
    with session_scope(state.engine) as session:
        return list(session.exec(select(File.id).where(File.status == "uploaded")).all())


def purge_files(state: AppState) -> int:
    """Remove the files deleted by their owner or expired that no active job uses any more
    (rows first, then bytes); returns how many went."""
    with session_scope(state.engine) as session:
        hidden = list(session.exec(
            select(File.id).where(or_(
                col(File.deleted_at).is_not(None),
                and_(col(File.expires_at).is_not(None), col(File.expires_at) <= now()),
            ))
        ).all())
        return len(_purge(session, state.store, hidden))
