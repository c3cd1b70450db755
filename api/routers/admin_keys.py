"""``/v1/organization/admin_api_keys``: keys that may call the admin API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.deps import AdminDep, SessionDep
from api.pagination import AfterQuery, CursorPage, OrderQuery, limit_query
from api.schemas.admin import AdminKeyCreate, AdminKeyCreated, AdminKeyObject, Deleted
from api.services import admin_keys

router = APIRouter(prefix="/organization/admin_api_keys", tags=["admin"])


@router.post("")
def create_admin_key(body: AdminKeyCreate, session: SessionDep, caller: AdminDep) -> AdminKeyCreated:
    """A new admin key; ``value`` is shown only here. 200; 400; 403."""
    return admin_keys.create_admin_key(session, caller, body)


@router.get("")
def list_admin_keys(session: SessionDep, _: AdminDep, after: AfterQuery = None,
                    limit: Annotated[int, limit_query(100)] = 20,
                    order: OrderQuery = "asc") -> CursorPage[AdminKeyObject]:
    return admin_keys.list_admin_keys(session, after=after, limit=limit, order=order)


@router.get("/{key_id}")
def retrieve_admin_key(key_id: str, session: SessionDep, _: AdminDep) -> AdminKeyObject:
    return admin_keys.retrieve_admin_key(session, key_id)


@router.delete("/{key_id}")
def delete_admin_key(key_id: str, session: SessionDep, caller: AdminDep) -> Deleted:
    """Delete an admin key. 200; 400 the last one; 404."""
    return admin_keys.delete_admin_key(session, caller, key_id)
