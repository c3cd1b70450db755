"""API keys: creation, hashing, bootstrap from OPENFT_API_KEY or a generated key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.services.keys import create_key, ensure_bootstrap_key, resolve_key, validate_project_id
from core.db import make_engine
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


# --- `openft keys create` -----------------------------------------------------------------------
def _keys_create(monkeypatch: pytest.MonkeyPatch, cwd: Path, *argv: str) -> int:
    from sdk.cli.main import main

    for name in ("OPENFT_DATA_DIR", "OPENFT_DATABASE_URL", "OPENFT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(cwd)
    return main(["keys", "create", *argv])


def test_keys_create_refuses_to_invent_a_default_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _keys_create(monkeypatch, tmp_path, "--project", "team-a") == 2
    out, err = capsys.readouterr()
    assert out == "" and "no openft database at" in err and "--data-dir" in err
    assert not (tmp_path / "openft-data").exists()


def test_keys_create_with_data_dir_writes_where_the_server_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "srv"
    assert _keys_create(monkeypatch, tmp_path, "--project", "team-a", "--data-dir", str(data)) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert "warning: no openft database existed" in err and str(data.resolve()) in err
    engine = make_engine(Settings(data_dir=data))
    with Session(engine) as session:
        caller = resolve_key(session, key)
        assert caller is not None and (caller.project_id, caller.admin) == ("team-a", False)
    # the database exists now: a second key comes without a warning
    assert _keys_create(monkeypatch, tmp_path, "--project", "team-a", "--admin", "--data-dir", str(data)) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err and out.strip() != key
    engine.dispose()


def test_keys_create_bad_project_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _keys_create(monkeypatch, tmp_path, "--project", "bad:id", "--data-dir", str(tmp_path / "d"))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("openft keys create: invalid project id 'bad:id'") and "Traceback" not in err
    assert not (tmp_path / "d").exists()
