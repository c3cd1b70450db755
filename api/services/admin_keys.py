"""Keys through the admin API: service accounts (and the key each gets), project API keys,
and admin API keys.

A key is stored as its sha256 (see :mod:`api.services.keys`); its plain value is returned once,
by the create that makes it. Deleting a key deletes its row, so the next request with it answers
401 on every API process (keys are looked up in the database on every request). The last admin
key cannot be deleted: the organization would lock itself out.
"""

from __future__ import annotations

from sqlmodel import Session, func, select

from api.errors import InvalidRequest, NotFound
from api.pagination import CursorPage, Order, paginate
from api.schemas.admin import (
    AdminKeyCreate,
    AdminKeyCreated,
    AdminKeyObject,
    Deleted,
    KeyOwner,
    KeyOwnerServiceAccount,
    ProjectApiKeyObject,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountKey,
    ServiceAccountObject,
)
from api.services import audit, projects
from api.services.keys import DEFAULT_PROJECT, Caller, add_key
from core import ids
from core.tables import ApiKey, ServiceAccount, now

# --- service accounts -------------------------------------------------------------------------


def _sa_object(row: ServiceAccount) -> ServiceAccountObject:
    return ServiceAccountObject(id=row.id, name=row.name, role=row.role, created_at=row.created_at)  # type: ignore[arg-type]


def _get_sa(session: Session, project_id: str, sa_id: str) -> ServiceAccount:
    row = session.get(ServiceAccount, sa_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"No such service account: {sa_id}", param="service_account_id", code="not_found")
    return row


def create_service_account(session: Session, caller: Caller, project_id: str,
                           body: ServiceAccountCreate) -> ServiceAccountCreated:
    """A service account of an active project, with a new key unless ``create_service_account_only``."""
    projects.get(session, project_id, active=True)
    role = "none" if body.create_service_account_only else "member"
    row = ServiceAccount(id=ids.new_id("svc_acct_"), project_id=project_id, name=body.name, role=role)
    session.add(row)
    session.flush()
    audit.record(session, caller.key_id, "service_account.created", project_id,
                 {"id": row.id, "data": {"role": role}})
    key = None
    if not body.create_service_account_only:
        value = ids.api_key()
        key_row = add_key(session, value, project_id, name="Secret Key", service_account_id=row.id)
        audit.record(session, caller.key_id, "api_key.created", project_id,
                     {"id": key_row.id, "data": {"scopes": []}})
        key = ServiceAccountKey(id=str(key_row.id), name=str(key_row.name), value=value,
                                created_at=key_row.created_at)
    return ServiceAccountCreated(id=row.id, name=row.name, role=role, created_at=row.created_at,  # type: ignore[arg-type]
                                 api_key=key)


def list_service_accounts(session: Session, project_id: str, *, after: str | None,
                          limit: int) -> CursorPage[ServiceAccountObject]:
    projects.get(session, project_id)
    stmt = select(ServiceAccount).where(ServiceAccount.project_id == project_id)
    rows, more = paginate(session, stmt, ServiceAccount, sort=(ServiceAccount.created_at, ServiceAccount.id),
                          after=after, limit=limit, order="asc")
    return CursorPage[ServiceAccountObject](data=[_sa_object(r) for r in rows], has_more=more)


def retrieve_service_account(session: Session, project_id: str, sa_id: str) -> ServiceAccountObject:
    projects.get(session, project_id)
    return _sa_object(_get_sa(session, project_id, sa_id))


def delete_service_account(session: Session, caller: Caller, project_id: str, sa_id: str) -> Deleted:
    """Delete a service account and revoke its keys."""
    projects.get(session, project_id)
    row = _get_sa(session, project_id, sa_id)
    for key in session.exec(select(ApiKey).where(ApiKey.service_account_id == sa_id)).all():
        session.delete(key)
        audit.record(session, caller.key_id, "api_key.deleted", project_id, {"id": key.id})
    session.delete(row)
    audit.record(session, caller.key_id, "service_account.deleted", project_id, {"id": sa_id})
    return Deleted(id=sa_id, object="organization.project.service_account.deleted", deleted=True)


# --- project API keys ---------------------------------------------------------------------------


def _project_key_object(session: Session, row: ApiKey) -> ProjectApiKeyObject:
    owner = KeyOwner()
    if row.service_account_id is not None:
        sa = session.get(ServiceAccount, row.service_account_id)
        if sa is not None:
            owner = KeyOwner(type="service_account", service_account=KeyOwnerServiceAccount(
                id=sa.id, name=sa.name, role=sa.role, created_at=sa.created_at))
    return ProjectApiKeyObject(
        id=str(row.id), name=row.name or "Secret Key", redacted_value=row.redacted_value or "****",
        created_at=row.created_at, last_used_at=row.last_used_at, expires_at=row.expires_at,
        owner=owner, owner_project_access="active",
    )


def _project_keys(project_id: str):  # type: ignore[no-untyped-def]
    return select(ApiKey).where(ApiKey.project_id == project_id, ApiKey.admin == False)  # noqa: E712


def list_project_keys(session: Session, project_id: str, *, after: str | None,
                      limit: int) -> CursorPage[ProjectApiKeyObject]:
    """The project's (non-admin) keys, oldest first."""
    projects.get(session, project_id)
    rows, more = paginate(session, _project_keys(project_id), ApiKey, sort=(ApiKey.created_at, ApiKey.id),
                          after=after, limit=limit, order="asc")
    return CursorPage[ProjectApiKeyObject](data=[_project_key_object(session, r) for r in rows], has_more=more)


def _get_project_key(session: Session, project_id: str, key_id: str) -> ApiKey:
    projects.get(session, project_id)
    row = session.exec(_project_keys(project_id).where(ApiKey.id == key_id)).first()
    if row is None:
        raise NotFound(f"No such API key: {key_id}", param="key_id", code="not_found")
    return row


def retrieve_project_key(session: Session, project_id: str, key_id: str) -> ProjectApiKeyObject:
    return _project_key_object(session, _get_project_key(session, project_id, key_id))


def delete_project_key(session: Session, caller: Caller, project_id: str, key_id: str) -> Deleted:
    """Revoke a project key: the next request with it answers 401."""
    session.delete(_get_project_key(session, project_id, key_id))
    audit.record(session, caller.key_id, "api_key.deleted", project_id, {"id": key_id})
    return Deleted(id=key_id, object="organization.project.api_key.deleted", deleted=True)


# --- admin API keys -------------------------------------------------------------------------------


def _admin_object(row: ApiKey) -> AdminKeyObject:
    return AdminKeyObject(
        id=str(row.id), name=row.name, redacted_value=row.redacted_value or "****", created_at=row.created_at,
        last_used_at=row.last_used_at, expires_at=row.expires_at,
        owner={"type": "service_account", "object": "organization.admin_api_key.owner", "role": "owner"},
    )


def create_admin_key(session: Session, caller: Caller, body: AdminKeyCreate) -> AdminKeyCreated:
    """A new admin key (of project ``default``, as OpenAI associates admin actions); value once."""
    value = ids.api_key()
    expires = now() + body.expires_in_seconds if body.expires_in_seconds is not None else None
    row = add_key(session, value, DEFAULT_PROJECT, admin=True, name=body.name, expires_at=expires)
    audit.record(session, caller.key_id, "api_key.created", None, {"id": row.id, "data": {"scopes": ["admin"]}})
    return AdminKeyCreated(**_admin_object(row).model_dump(), value=value)


def list_admin_keys(session: Session, *, after: str | None, limit: int,
                    order: Order) -> CursorPage[AdminKeyObject]:
    stmt = select(ApiKey).where(ApiKey.admin == True)  # noqa: E712
    rows, more = paginate(session, stmt, ApiKey, sort=(ApiKey.created_at, ApiKey.id),
                          after=after, limit=limit, order=order)
    return CursorPage[AdminKeyObject](data=[_admin_object(r) for r in rows], has_more=more)


def _get_admin_key(session: Session, key_id: str) -> ApiKey:
    row = session.exec(select(ApiKey).where(ApiKey.admin == True, ApiKey.id == key_id)).first()  # noqa: E712
    if row is None:
        raise NotFound(f"No such admin API key: {key_id}", param="key_id", code="not_found")
    return row


def retrieve_admin_key(session: Session, key_id: str) -> AdminKeyObject:
    return _admin_object(_get_admin_key(session, key_id))


def delete_admin_key(session: Session, caller: Caller, key_id: str) -> Deleted:
    """Delete an admin key; 400 for the last one."""
    row = _get_admin_key(session, key_id)
    count = session.exec(select(func.count()).select_from(ApiKey).where(ApiKey.admin == True)).one()  # noqa: E712
    if count <= 1:
        raise InvalidRequest("This is the last admin API key; create another one before deleting it.",
                             param="key_id", code="invalid_value")
    session.delete(row)
    audit.record(session, caller.key_id, "api_key.deleted", None, {"id": key_id})
    return Deleted(id=key_id, object="organization.admin_api_key.deleted", deleted=True)
