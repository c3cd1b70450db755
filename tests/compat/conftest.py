"""Fixtures for the compatibility suite (the official ``openai`` client against a live server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import openai
import pytest
from embedded import embedded_server, fast_settings
from live_server import LiveServer, make_client
from sqlalchemy.engine import Engine

from api.services.keys import create_key
from core.settings import Settings
from core.store import Store
from sdk.cli.main import main as cli_main


@pytest.fixture
def org_admin_key(engine: Engine) -> str:
    """An admin API key of project ``default`` (as ``OPENFT_API_KEY`` makes it)."""
    return create_key(engine, "default", admin=True)


@pytest.fixture
def admin(server: LiveServer, org_admin_key: str) -> Iterator[openai.OpenAI]:
    """The official client (strict) with ``admin_api_key=`` set to an organization admin key."""
    with openai.OpenAI(base_url=server.base_url, api_key="unused", admin_api_key=org_admin_key,
                       _strict_response_validation=True) as c:
        yield c


@pytest.fixture
async def async_admin(server: LiveServer, org_admin_key: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """``openai.AsyncOpenAI`` (strict) with an organization admin key."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", admin_api_key=org_admin_key,
                                  _strict_response_validation=True) as c:
        yield c


@pytest.fixture
def embedded(settings: Settings, engine: Engine, store: Store, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The embedded mode over the test's database and store; the ``no_worker`` marker keeps jobs
    from training. Fails the test if the server answered any 5xx."""
    worker = request.node.get_closest_marker("no_worker") is None
    with embedded_server(fast_settings(settings), engine, store, worker=worker) as live:
        yield live
    assert not [e for e in live.log.entries if e[2] >= 500]


@pytest.fixture
def jobs_client(embedded: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """The strict official client of project ``proj-a`` against :func:`embedded`."""
    with make_client(embedded, api_key) as c:
        yield c


@pytest.fixture
def cli(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """``cli(key, *argv)``: run ``openft`` against ``server`` with ``key``; (exit status, stdout)."""
    def run(key: str, *argv: str) -> tuple[int, str]:
        code = cli_main(["--base-url", server.base_url, "--api-key", key, *argv])
        return code, capsys.readouterr().out
    return run
