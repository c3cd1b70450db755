"""Fixtures for the SDK and CLI: both drive a live server over HTTP, configured by environment.

The SDK's behaviour does not depend on the database behind the server, so this folder pins the
``sqlite-local`` backend (``backend`` below overrides the suite's parametrized one); the API's
own tests cover both backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# `sdk._client`, not `sdk`: under pytest the tests/sdk folder shadows the package's __init__
# (see test_client.py::test_public_names, which imports it in a clean interpreter)
from sdk._client import Client
from sdk.cli.main import main


@dataclass(frozen=True)
class SqliteLocal:
    """The suite's ``sqlite-local`` backend: SQLite under the data dir, local artifact store."""

    name: str = "sqlite-local"
    database_url: str | None = None
    store_url: str | None = None
    s3_endpoint_url: str | None = None


@pytest.fixture
def backend() -> SqliteLocal:
    return SqliteLocal()


@pytest.fixture
def openft_env(server: Any, api_key: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``OPENFT_BASE_URL`` (without ``/v1``: the SDK adds it) and ``OPENFT_API_KEY`` for the
    SDK and CLI; ``OPENFT_DATA_DIR`` so offline validation keeps its tokenizer cache in the
    test's data dir, shared with the server."""
    monkeypatch.setenv("OPENFT_BASE_URL", server.url)
    monkeypatch.setenv("OPENFT_API_KEY", api_key)
    monkeypatch.setenv("OPENFT_DATA_DIR", str(settings.data_dir))


@pytest.fixture
def sdk(openft_env: None) -> Iterator[Client]:
    """``sdk.Client`` from the environment, validating responses strictly."""
    with Client(_strict_response_validation=True) as client:
        yield client


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as one JSON document (fails the test when it is not)."""
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def cli(openft_env: None, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``openft ARGS…`` in-process; returns exit status, stdout and stderr."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def jobs_api(server: Any, http: Any) -> None:
    """Skip until the app serves ``/v1/fine_tuning/jobs`` (the jobs API lands separately)."""
    response = http.get("/v1/fine_tuning/jobs")
    if response.status_code == 404 and "Invalid URL" in response.text:
        pytest.skip("the app has no /v1/fine_tuning/jobs yet")
