"""``/v1/organization/projects``: projects, their service accounts and their API keys (admin key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

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


def _project_members(kind: str, obj: type[BaseModel], list_members: Callable[..., Any],
                     retrieve_member: Callable[..., Any], delete_member: Callable[..., Any], delete_doc: str) -> None:
    """``GET /{project_id}/{kind}``, ``GET`` and ``DELETE /{project_id}/{kind}/{member_id}``: a project's
    service accounts or API keys, which an admin lists (oldest first), reads and deletes alike."""

    @router.get(f"/{{project_id}}/{kind}", response_model=CursorPage[obj], name=f"list_{kind}")  # type: ignore[valid-type]
    def list_(project_id: str, session: SessionDep, _: AdminDep, after: AfterQuery = None,
              limit: Limit = 20) -> Any:
        return list_members(session, project_id, after=after, limit=limit)

    @router.get(f"/{{project_id}}/{kind}/{{member_id}}", response_model=obj, name=f"retrieve_{kind}")
    def retrieve(project_id: str, member_id: str, session: SessionDep, _: AdminDep) -> Any:
        return retrieve_member(session, project_id, member_id)

    @router.delete(f"/{{project_id}}/{kind}/{{member_id}}", response_model=Deleted, name=f"delete_{kind}",
                   description=delete_doc)
    def delete(project_id: str, member_id: str, session: SessionDep, caller: AdminDep) -> Any:
        return delete_member(session, caller, project_id, member_id)


_project_members("service_accounts", ServiceAccountObject, admin_keys.list_service_accounts,
                 admin_keys.retrieve_service_account, admin_keys.delete_service_account,
                 "Delete a service account and revoke its keys. 200; 404.")
_project_members("api_keys", ProjectApiKeyObject, admin_keys.list_project_keys, admin_keys.retrieve_project_key,
                 admin_keys.delete_project_key, "Revoke a project key; its next request answers 401. 200; 404.")
