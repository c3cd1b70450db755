"""API keys: creation, hashing, bootstrap from OPENFT_API_KEY or a generated key file."""

from __future__ import annotations

import stat

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.services.keys import create_key, ensure_bootstrap_key, resolve_key, validate_project_id
from core.ids import hash_key
from core.settings import Settings
from core.tables import ApiKey, Project

sqlite_only = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


@sqlite_only
def test_create_key_stores_only_the_hash(engine: Engine) -> None:
    key = create_key(engine, "team-1", admin=True)
    assert key.startswith("sk-openft-") and len(key) > 40
    with Session(engine) as session:
        rows = session.exec(select(ApiKey)).all()
        assert [(r.key_hash, r.project_id, r.admin) for r in rows] == [(hash_key(key), "team-1", True)]
        assert session.get(Project, "team-1") is not None
        assert resolve_key(session, key) is not None and resolve_key(session, key + "x") is None
    second = create_key(engine, "team-1")
    with Session(engine) as session:
        caller = resolve_key(session, second)
        assert caller is not None and (caller.project_id, caller.admin) == ("team-1", False)


@pytest.mark.parametrize("bad", ["", "a:b", "x" * 65, "a b", "../x"])
def test_project_ids_are_restricted(bad: str) -> None:
    with pytest.raises(ValueError):
        validate_project_id(bad)


@sqlite_only
def test_bootstrap_generates_once(settings: Settings, engine: Engine) -> None:
    key = ensure_bootstrap_key(settings, engine)
    assert key is not None
    key_file = settings.data_dir / "api_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with Session(engine) as session:
        caller = resolve_key(session, key)
        assert caller is not None and caller.project_id == "default" and caller.admin
    assert ensure_bootstrap_key(settings, engine) is None  # second start: nothing new, nothing printed
    assert key_file.read_text().strip() == key


@sqlite_only
def test_bootstrap_from_environment(settings: Settings, engine: Engine) -> None:
    configured = settings.model_copy(update={"api_key": SecretStr("sk-my-own-key")})
    assert ensure_bootstrap_key(configured, engine) is None
    assert ensure_bootstrap_key(configured, engine) is None  # idempotent
    with Session(engine) as session:
        caller = resolve_key(session, "sk-my-own-key")
        assert caller is not None and caller.project_id == "default" and caller.admin
        assert len(session.exec(select(ApiKey)).all()) == 1
    assert not (settings.data_dir / "api_key").exists()
