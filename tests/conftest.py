"""Fixtures for the whole test suite: backends, settings, the API app, a live server, clients.

Backends: ``backend`` is parametrized over two combinations, so a test that takes ``settings``
(or anything built on it) runs on both:

- ``sqlite-local``: SQLite file under the test's data dir + the local-directory store;
- ``postgres-s3``: a PostgreSQL database created for this test session (unique name, dropped at
  the end) + the S3 store against a ``moto_server`` on a free loopback port (or the endpoint in
  ``OPENFT_TEST_S3_ENDPOINT``), each test under its own key prefix.

Pin one with ``@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)``.
``postgres-s3`` is skipped when PostgreSQL (``OPENFT_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) or moto is not available.

The live ``server`` records every response status; a test fails if any was a 5xx unless it is
marked ``@pytest.mark.allow_5xx``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from factories import chat_jsonl
from fastapi import FastAPI
from live_server import LiveServer, free_port, make_client, run_server_in_thread, stop_process, wait_for_port
from openft_env import clear_openft_env
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import gpu_worker.worker  # noqa: F401  (imports wandb now, on the main thread: see gpu_worker.wandb_log)
from api.app import create_app
from api.services.keys import create_key
from core.db import make_engine, upgrade
from core.settings import Settings
from core.store import S3Store, Store, store_from_settings

BACKENDS = ["sqlite-local", "postgres-s3"]
POSTGRES_URL = os.environ.get("OPENFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
S3_BUCKET = "openft-test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_5xx: the test provokes server errors on purpose")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build the pretrained ``tiny-chat`` once, before any test (and any xdist worker) needs it.

    It goes to the machine-wide build cache (``OPENFT_BASE_BUILD_CACHE``, default
    ``~/.cache/openft``) that every test's model cache links from; a present build is reused at
    once. A failed build stops the run here, with its error, rather than failing tests one by one.
    """
    from core.tiny_chat.build_cache import ensure_built

    try:
        ensure_built(Settings().base_build_cache)
    except Exception as exc:  # noqa: BLE001 (any failure must stop the run, loudly)
        pytest.exit(f"building the pretrained tiny-chat failed: {type(exc).__name__}: {exc}", returncode=3)


@pytest.fixture
def train_path(tmp_path: Path) -> Path:
    """A small valid fine-tune JSONL file on disk (10 chat examples), as a user hands it over."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(10))
    return path


# --- external services (session) -------------------------------------------------------------
@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy AWS credentials for boto3 against moto (also inherited by server subprocesses)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            if not os.environ.get(name):
                mp.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    """URL of an S3 endpoint: ``OPENFT_TEST_S3_ENDPOINT`` or a moto_server started for the session."""
    given = os.environ.get("OPENFT_TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    venv_exe = Path(sys.executable).parent / "moto_server"  # the one installed with this Python
    exe = str(venv_exe) if venv_exe.exists() else shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, timeout=10)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    import psycopg

    name = f"openft_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(Settings(database_url=url))
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "openft.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    upgrade(engine)
    engine.dispose()
    return path


# --- per test ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backend:
    """Where a test's database and artifacts live."""

    name: str
    database_url: str | None = None
    store_url: str | None = None
    s3_endpoint_url: str | None = None


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """``sqlite-local`` or ``postgres-s3`` (see the module docstring)."""
    if request.param == "sqlite-local":
        return Backend("sqlite-local")
    database = request.getfixturevalue("postgres_database")
    endpoint = request.getfixturevalue("moto_endpoint")
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    return Backend("postgres-s3", database_url=database, store_url=f"s3://{S3_BUCKET}/{prefix}",
                   s3_endpoint_url=endpoint)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test: a fresh data dir; no ``OPENFT_*`` variable of the caller leaks in."""
    clear_openft_env(monkeypatch)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=backend.database_url,
        store_url=backend.store_url,
        s3_endpoint_url=backend.s3_endpoint_url,
    )


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def engine(settings: Settings, backend: Backend, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated, empty database for the test."""
    if backend.database_url is None:
        target = settings.data_dir / "openft.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, target)
        eng = make_engine(settings)
    else:
        eng = make_engine(settings)
        _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(settings: Settings) -> Store:
    """The test's artifact store (an empty local dir, or a fresh prefix in the S3 bucket)."""
    s = store_from_settings(settings)
    if isinstance(s, S3Store):
        s.ensure_bucket()
    return s


@pytest.fixture
def app(settings: Settings, engine: Engine, store: Store) -> FastAPI:
    """The API app over the test's database and store (not started; see ``server``)."""
    return create_app(settings, engine=engine, store=store)


@pytest.fixture
def server(app: FastAPI, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The app served over real HTTP on a free loopback port; fails the test on any 5xx."""
    with run_server_in_thread(app) as live:
        yield live
    if request.node.get_closest_marker("allow_5xx") is None:
        errors = [e for e in live.log.entries if e[2] >= 500]
        assert not errors, f"the server answered 5xx: {errors}"


@pytest.fixture
def api_key(engine: Engine) -> str:
    """An API key of project ``proj-a``."""
    return create_key(engine, "proj-a")


@pytest.fixture
def other_key(engine: Engine) -> str:
    """An API key of a second project, ``proj-b`` (tenancy tests)."""
    return create_key(engine, "proj-b")


@pytest.fixture
def admin_key(engine: Engine) -> str:
    """An admin API key of project ``proj-a``."""
    return create_key(engine, "proj-a", admin=True)


@pytest.fixture
def client(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """``openai.OpenAI`` (strict) with project ``proj-a``'s key."""
    with make_client(server, api_key) as c:
        yield c


@pytest.fixture
def other_client(server: LiveServer, other_key: str) -> Iterator[openai.OpenAI]:
    """``openai.OpenAI`` (strict) with project ``proj-b``'s key."""
    with make_client(server, other_key) as c:
        yield c


@pytest.fixture
async def async_client(server: LiveServer, api_key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """``openai.AsyncOpenAI`` (strict) with project ``proj-a``'s key."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=api_key,
                                  _strict_response_validation=True) as c:
        yield c


@pytest.fixture
def http(server: LiveServer, api_key: str) -> Iterator[Any]:
    """A raw ``httpx2.Client`` on ``server.url`` with ``proj-a``'s key, for hand-made requests."""
    import httpx2

    with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"},
                       timeout=60) as c:
        yield c
