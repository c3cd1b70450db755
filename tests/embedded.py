"""A live API with the embedded scheduler (and optionally a local worker), as ``openft serve`` runs.

Import from tests: ``from embedded import embedded_server``. The server shares the test's
database and store; jobs go through real validation, placement and training children.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from live_server import LiveServer, run_server_in_thread
from sqlalchemy.engine import Engine

from api.embedded import embedded_app
from core.settings import Settings
from core.store import Store


@contextlib.contextmanager
def embedded_server(settings: Settings, engine: Engine, store: Store, *, worker: bool = True) -> Iterator[LiveServer]:
    """Serve the API with the scheduler (and a local worker unless ``worker=False``)."""
    with run_server_in_thread(embedded_app(settings, engine, store, worker=worker)) as live:
        yield live


def fast_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with a quick scheduler tick, for tests."""
    return settings.model_copy(update={"scheduler_tick_seconds": 0.1, "heartbeat_seconds": 0.5, **overrides})
