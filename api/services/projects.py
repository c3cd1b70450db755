"""Projects through the admin API: create, list, retrieve, update (name, quotas), archive.

Projects created here get ids ``proj_…``; projects made by ``openft keys create --project P``
keep the id given there. Archiving is final: every key of the project answers 401 from the next
request on (keys are resolved against the database on every request). A project that holds an
admin key cannot be archived, so the organization never locks itself out.
"""

from __future__ import annotations

from sqlmodel import Session, select

from api.errors import InvalidRequest, NotFound
from api.pagination import CursorPage, paginate
from api.schemas.admin import ProjectCreate, ProjectObject, ProjectUpdate, Quotas
from api.services import audit
from api.services.keys import Caller
from core import ids
from core.tables import ApiKey, Project, now

QUOTA_FIELDS = ("max_running_jobs", "max_queued_jobs", "max_gpu_hours_per_month")


def to_object(row: Project) -> ProjectObject:
    """The wire object of a project row."""
    return ProjectObject(
        id=row.id, name=row.name if row.name is not None else row.id, created_at=row.created_at,
        archived_at=row.archived_at, status="archived" if row.archived_at is not None else "active",
        quotas=Quotas(**{f: getattr(row, f) for f in QUOTA_FIELDS}),
    )


def get(session: Session, project_id: str, *, active: bool = False) -> Project:
    """The project row; 404 naming ``project_id`` when missing (400 when ``active`` and archived)."""
    row = session.get(Project, project_id)
    if row is None:
        raise NotFound(f"No such project: {project_id}", param="project_id", code="not_found")
    if active and row.archived_at is not None:
        raise InvalidRequest(f"Project {project_id} is archived and cannot be changed.",
                             param="project_id", code="project_archived")
    return row


def _set_quotas(row: Project, quotas: Quotas) -> dict[str, object]:
    changed = {f: getattr(quotas, f) for f in quotas.model_fields_set}
    for field, value in changed.items():
        setattr(row, field, value)
    return changed


def create(session: Session, caller: Caller, body: ProjectCreate) -> ProjectObject:
    """A new active project named ``body.name``."""
    row = Project(id=ids.new_id("proj_"), name=body.name)
    if body.quotas is not None:
        _set_quotas(row, body.quotas)
    session.add(row)
    session.flush()
    audit.record(session, caller.key_id, "project.created", row.id,
                 {"id": row.id, "data": {"name": row.name, "title": row.name}})
    return to_object(row)


def list_projects(session: Session, *, after: str | None, limit: int,
                  include_archived: bool) -> CursorPage[ProjectObject]:
    """Projects, oldest first; archived ones only with ``include_archived``."""
    stmt = select(Project)
    if not include_archived:
        stmt = stmt.where(Project.archived_at.is_(None))  # type: ignore[union-attr]
    rows, more = paginate(session, stmt, Project, sort=(Project.created_at, Project.id),
                          after=after, limit=limit, order="asc")
    return CursorPage[ProjectObject](data=[to_object(r) for r in rows], has_more=more)


def update(session: Session, caller: Caller, project_id: str, body: ProjectUpdate) -> ProjectObject:
    """Rename a project and/or change its quotas (openft's ``quotas``)."""
    row = get(session, project_id, active=True)
    changes: dict[str, object] = {}
    if body.name is not None:
        row.name = changes["title"] = body.name
    if body.quotas is not None:
        changes.update(_set_quotas(row, body.quotas))
    session.add(row)
    session.flush()
    audit.record(session, caller.key_id, "project.updated", row.id,
                 {"id": row.id, "changes_requested": changes})
    return to_object(row)


def archive(session: Session, caller: Caller, project_id: str) -> ProjectObject:
    """Archive a project: its keys stop working at once. Idempotent."""
    row = get(session, project_id)
    if row.archived_at is None:
        holds_admin = session.exec(
            select(ApiKey.id).where(ApiKey.project_id == project_id, ApiKey.admin == True)  # noqa: E712
        ).first()
        if holds_admin is not None:
            raise InvalidRequest(
                f"Project {project_id} holds admin API keys; it cannot be archived (admin keys act for "
                "the whole organization).", param="project_id", code="invalid_value")
        row.archived_at = now()
        session.add(row)
        session.flush()
        audit.record(session, caller.key_id, "project.archived", row.id, {"id": row.id})
    return to_object(row)
