"""Dependencies as ``Annotated`` aliases, so route signatures read like prose.

``SessionDep`` is one database session per request, committed when the handler returns (before
the response is sent, so a failed commit is an error response, never a lost write) and rolled
back on an exception. Streaming handlers that run for a long time should not take it: they call
services that open short sessions themselves (see :func:`core.db.session_scope`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.errors import NotFound, PermissionDenied, Unauthorized
from api.services.keys import Caller, resolve_key
from api.state import AppState
from core.db import session_scope
from core.settings import Settings
from core.store import Store
from core.tables import Project


def get_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.openft
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_store(state: StateDep) -> Store:
    return state.store


def get_session(state: StateDep) -> Iterator[Session]:
    """A session committed after the handler returns, rolled back if it raises."""
    with session_scope(state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _mask(key: str) -> str:
    return key[:6] + "*" * 6 + key[-4:] if len(key) > 12 else "*" * len(key)


def get_caller(request: Request, state: StateDep) -> Caller:
    """The caller identified by ``Authorization: Bearer <key>``; 401 when missing or unknown.

    An admin key acts in the project named by an ``OpenAI-Project`` header (what OpenAI's clients
    send for ``project=``; the console's project switcher uses it), 404 when there is no such
    active project. A project key always acts in its own project: a header naming another one is
    accepted and changes nothing (scripts moving in from OpenAI keep their ``OPENAI_PROJECT_ID``).
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized(
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )
    wanted = request.headers.get("openai-project", "").strip()
    with session_scope(state.engine) as session:
        caller = resolve_key(session, key)
        if caller is None:
            raise Unauthorized(f"Incorrect API key provided: {_mask(key)}.")
        if not wanted or wanted == caller.project_id or not caller.admin:
            return caller
        project = session.get(Project, wanted)
        if project is None or project.archived_at is not None:
            raise NotFound(f"No such project: {wanted}", param="OpenAI-Project", code="not_found")
    return replace(caller, project_id=wanted)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_project(caller: CallerDep) -> str:
    """The id of the caller's project; every object a handler touches is scoped to it."""
    return caller.project_id


ProjectDep = Annotated[str, Depends(get_project)]


def require_admin(caller: CallerDep) -> Caller:
    """The caller, when it presented an admin key; 403 in OpenAI's shape otherwise."""
    if not caller.admin:
        raise PermissionDenied(
            "This route requires an admin API key; project API keys cannot use /v1/organization routes.",
            code="insufficient_permissions",
        )
    return caller


AdminDep = Annotated[Caller, Depends(require_admin)]
