"""Projects and API keys: creation, bootstrap, and resolving a presented key to its project.

Keys are long random tokens stored as sha256 hex (:func:`core.ids.hash_key`); the plain key is
shown once, at creation. Project ids appear inside ``ft:`` model ids, so they are restricted to
``[A-Za-z0-9_-]`` (no ``:``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from core import ids
from core.db import SchemaOutOfDate, make_engine, require_current_schema, session_scope, upgrade
from core.settings import Settings
from core.tables import ApiKey, Project, now

DEFAULT_PROJECT = "default"
KEY_FILE = "api_key"
_PROJECT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the project a key belongs to, and whether the key is an admin key."""

    project_id: str
    admin: bool = False
    key_id: str | None = None


def validate_project_id(project_id: str) -> str:
    """Return ``project_id`` or raise ValueError: 1–64 characters of ``[A-Za-z0-9_-]``."""
    if not _PROJECT_RE.match(project_id):
        raise ValueError(f"invalid project id {project_id!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return project_id


def ensure_project(session: Session, project_id: str) -> Project:
    """The project row, created when missing."""
    project = session.get(Project, validate_project_id(project_id))
    if project is None:
        project = Project(id=project_id)
        session.add(project)
        session.flush()
    return project


def redact(key: str) -> str:
    """The shown form of a key: its prefix and last four characters."""
    return key[:10] + "****" + key[-4:] if len(key) > 16 else "****"


def add_key(
    session: Session,
    key: str,
    project_id: str,
    admin: bool = False,
    *,
    name: str | None = None,
    service_account_id: str | None = None,
    expires_at: int | None = None,
) -> ApiKey:
    """Register a given plain ``key`` for ``project_id`` (idempotent for the same key)."""
    ensure_project(session, project_id)
    digest = ids.hash_key(key)
    row = session.get(ApiKey, digest)
    if row is None:
        row = ApiKey(
            key_hash=digest, id=ids.new_id("key_"), project_id=project_id, admin=admin, name=name,
            redacted_value=redact(key), service_account_id=service_account_id, expires_at=expires_at,
        )
        session.add(row)
        session.flush()
    return row


def create_key(engine: Engine, project_id: str, admin: bool = False) -> str:
    """Create a new key for ``project_id`` (creating the project if needed); returns the plain key."""
    key = ids.api_key()
    with session_scope(engine) as session:
        add_key(session, key, project_id, admin=admin)
    return key


class KeyCommandError(Exception):
    """``openft keys create`` cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class IssuedKey:
    """A new plain key, and the warnings to show with it (e.g. a database created just now)."""

    key: str
    warnings: tuple[str, ...] = ()


def issue_key(settings: Settings, project_id: str, *, admin: bool = False) -> IssuedKey:
    """``openft keys create``: a new key in the database ``settings`` point at.

    The key is only useful if a server reads the same database, so a SQLite database that does
    not exist yet is created only when the data directory was chosen (``--data-dir`` or
    ``OPENFT_DATA_DIR``), with a warning; otherwise :class:`KeyCommandError` says where it
    looked. PostgreSQL must already have the current schema (``openft db upgrade``).
    """
    try:
        validate_project_id(project_id)
    except ValueError as exc:
        raise KeyCommandError(str(exc)) from None
    warnings: list[str] = []
    if settings.database_url is None:
        db_file = (Path(settings.data_dir) / "openft.db").resolve()
        if not db_file.exists():
            if "data_dir" not in settings.model_fields_set:
                raise KeyCommandError(
                    f"no openft database at {db_file}; pass --data-dir (the directory `openft serve` "
                    "uses) or set OPENFT_DATA_DIR or OPENFT_DATABASE_URL"
                )
            warnings.append(
                f"no openft database existed at {db_file}; created a new one. Only a server started with "
                f"--data-dir {db_file.parent} accepts this key"
            )
            db_file.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    try:
        if engine.dialect.name == "sqlite":
            upgrade(engine)
        else:
            require_current_schema(engine)
        return IssuedKey(create_key(engine, project_id, admin=admin), tuple(warnings))
    except SchemaOutOfDate as exc:
        raise KeyCommandError(str(exc)) from None
    except OperationalError as exc:
        raise KeyCommandError(f"cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()


def resolve_key(session: Session, key: str) -> Caller | None:
    """The caller a plain key identifies, or None for an unknown or revoked key, or a key of an
    archived project. Read from the database on every request, so a revocation or an archival
    holds at once on every API process."""
    row = session.get(ApiKey, ids.hash_key(key))
    if row is None:
        return None
    if row.expires_at is not None and row.expires_at <= now():
        return None
    project = session.get(Project, row.project_id)
    if project is None or project.archived_at is not None:
        return None
    return Caller(project_id=row.project_id, admin=row.admin, key_id=row.id)


def ensure_bootstrap_key(settings: Settings, engine: Engine) -> str | None:
    """Make sure somebody can call the API; return a key to print once, or None.

    - ``OPENFT_API_KEY`` set: it becomes an admin key of project ``default`` (the user knows
      it, so nothing is returned).
    - otherwise, when no key exists at all: create an admin key of ``default``, keep it in
      ``data_dir/api_key`` (mode 0600) and return it so ``openft serve`` prints it once.
    - otherwise (keys exist, e.g. from an earlier start): None.
    """
    if settings.api_key is not None:
        with session_scope(engine) as session:
            add_key(session, settings.api_key.get_secret_value(), DEFAULT_PROJECT, admin=True)
        return None
    with session_scope(engine) as session:
        if session.exec(select(ApiKey).limit(1)).first() is not None:
            return None
    key = create_key(engine, DEFAULT_PROJECT, admin=True)
    _write_key_file(Path(settings.data_dir) / KEY_FILE, key)
    return key


def _write_key_file(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    os.chmod(path, 0o600)
