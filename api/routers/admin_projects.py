"""``/v1/organization/projects``: projects, their service accounts and their API keys (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminDep, SessionDep
from api.pagination import AfterQuery, CursorPage, limit_query
from api.schemas.admin import (
    Deleted,
    ProjectApiKeyObject,
    ProjectCreate,
    ProjectObject,
    ProjectUpdate,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountObject,
)
from api.services import admin_keys, projects

router = APIRouter(prefix="/organization/projects", tags=["admin"])
Limit = Annotated[int, limit_query(100)]


@router.post("")
def create_project(body: ProjectCreate, session: SessionDep, caller: AdminDep) -> ProjectObject:
    """A new project. 200; 400 bad body; 403 not an admin key."""
    return projects.create(session, caller, body)


@router.get("")
def list_projects(session: SessionDep, _: AdminDep, after: AfterQuery = None, limit: Limit = 20,
                  include_archived: Annotated[bool, Query()] = False) -> CursorPage[ProjectObject]:
    """Projects, oldest first. 200; 400 bad ``after``/``limit``."""
    return projects.list_projects(session, after=after, limit=limit, include_archived=include_archived)


@router.get("/{project_id}")
def retrieve_project(project_id: str, session: SessionDep, _: AdminDep) -> ProjectObject:
    """One project. 200; 404."""
    return projects.to_object(projects.get(session, project_id))


@router.post("/{project_id}")
def update_project(project_id: str, body: ProjectUpdate, session: SessionDep, caller: AdminDep) -> ProjectObject:
    """Rename a project or change its quotas. 200; 400 archived; 404."""
    return projects.update(session, caller, project_id, body)


@router.post("/{project_id}/archive")
def archive_project(project_id: str, session: SessionDep, caller: AdminDep) -> ProjectObject:
    """Archive a project; its keys answer 401 from now on. 200; 400 holds admin keys; 404."""
    return projects.archive(session, caller, project_id)


@router.post("/{project_id}/service_accounts")
def create_service_account(project_id: str, body: ServiceAccountCreate, session: SessionDep,
                           caller: AdminDep) -> ServiceAccountCreated:
    """A service account and its key (the value is shown only here). 200; 400; 404."""
    return admin_keys.create_service_account(session, caller, project_id, body)


@router.get("/{project_id}/service_accounts")
def list_service_accounts(project_id: str, session: SessionDep, _: AdminDep, after: AfterQuery = None,
                          limit: Limit = 20) -> CursorPage[ServiceAccountObject]:
    return admin_keys.list_service_accounts(session, project_id, after=after, limit=limit)


@router.get("/{project_id}/service_accounts/{service_account_id}")
def retrieve_service_account(project_id: str, service_account_id: str, session: SessionDep,
                             _: AdminDep) -> ServiceAccountObject:
    return admin_keys.retrieve_service_account(session, project_id, service_account_id)


@router.delete("/{project_id}/service_accounts/{service_account_id}")
def delete_service_account(project_id: str, service_account_id: str, session: SessionDep,
                           caller: AdminDep) -> Deleted:
    """Delete a service account and revoke its keys. 200; 404."""
    return admin_keys.delete_service_account(session, caller, project_id, service_account_id)


@router.get("/{project_id}/api_keys")
def list_project_keys(project_id: str, session: SessionDep, _: AdminDep, after: AfterQuery = None,
                      limit: Limit = 20) -> CursorPage[ProjectApiKeyObject]:
    return admin_keys.list_project_keys(session, project_id, after=after, limit=limit)


@router.get("/{project_id}/api_keys/{key_id}")
def retrieve_project_key(project_id: str, key_id: str, session: SessionDep, _: AdminDep) -> ProjectApiKeyObject:
    return admin_keys.retrieve_project_key(session, project_id, key_id)


@router.delete("/{project_id}/api_keys/{key_id}")
def delete_project_key(project_id: str, key_id: str, session: SessionDep, caller: AdminDep) -> Deleted:
    """Revoke a project key; its next request answers 401. 200; 404."""
    return admin_keys.delete_project_key(session, caller, project_id, key_id)
