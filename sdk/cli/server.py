"""Server roles of the ``openft`` command: serve, api, scheduler, worker, keys, db.

These import the server packages (api, scheduler, gpu_worker) lazily, so the client commands
of the CLI work with only the SDK installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

log = logging.getLogger("openft")


def register(sub: Any) -> None:
    """Add the server subcommands to an argparse subparsers object."""
    p = sub.add_parser("serve", help="embedded single-node mode: API + scheduler + local worker")
    _host_port(p)
    p.add_argument("--data-dir", type=Path, help="SQLite, artifacts and model cache (default ./openft-data)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("api", help="the API role of the distributed mode")
    _host_port(p)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("scheduler", help="the scheduler role (Postgres + Redis)")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("worker", help="a GPU worker (Redis + S3; no database)")
    p.add_argument("--name", help="worker id (default: hostname-pid)")
    p.set_defaults(func=cmd_worker)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_cmd", required=True)
    p = keys.add_parser("create", help="print a new API key for a project")
    p.add_argument("--project", required=True)
    p.add_argument("--admin", action="store_true")
    p.add_argument("--data-dir", type=Path, help="the data directory of the server (default ./openft-data)")
    p.set_defaults(func=cmd_keys_create)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    p = db.add_parser("upgrade", help="migrate the database to the newest schema")
    p.set_defaults(func=cmd_db_upgrade)


def _host_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")


def _settings(args: argparse.Namespace) -> Any:
    from core.settings import Settings

    overrides = {k: v for k in ("host", "port", "data_dir") if (v := getattr(args, k, None)) is not None}
    settings = Settings(**overrides)
    from core.logging import configure_logging

    configure_logging(settings)
    return settings


def _serve_app(app: Any, settings: Any) -> int:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """API, scheduler and one local worker in one process; migrates on start."""
    from api.app import create_app
    from api.services.keys import ensure_bootstrap_key
    from core.bus.memory import InProcessBus
    from core.db import make_engine, upgrade
    from core.store import store_from_settings

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    upgrade(engine)
    key = ensure_bootstrap_key(settings, engine)
    if key:
        print(f"openft: created an admin API key (kept in {settings.data_dir / 'api_key'}):\n\n    {key}\n",
              flush=True)
    store = store_from_settings(settings)
    bus = InProcessBus()

    @contextlib.asynccontextmanager
    async def embedded(_app: Any) -> AsyncIterator[None]:
        async with background_roles(settings, engine, store, bus):
            yield

    app = create_app(settings, engine=engine, store=store, lifespan_hooks=[embedded], migrate=True,
                     extra_state={"bus": bus})
    print(f"openft: serving on http://{settings.host}:{settings.port}/v1", flush=True)
    return _serve_app(app, settings)


@contextlib.asynccontextmanager
async def background_roles(settings: Any, engine: Any, store: Any, bus: Any,
                           *, worker: bool = True) -> AsyncIterator[None]:
    """Run the scheduler (and a local worker) as tasks for the duration of the block."""
    from gpu_worker.worker import run_worker
    from scheduler.service import Scheduler

    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(Scheduler(settings, engine, store, bus).run(stop), name="scheduler")
    ]
    if worker:
        tasks.append(asyncio.create_task(run_worker(settings, bus, store, stop_event=stop), name="worker"))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def cmd_api(args: argparse.Namespace) -> int:
    """The API alone; the schema must be current (``openft db upgrade``)."""
    from api.app import create_app
    from api.services.keys import ensure_bootstrap_key
    from core.db import SchemaOutOfDate, make_engine, require_current_schema

    settings = _settings(args)
    engine = make_engine(settings)
    try:
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        print(f"openft api: {exc}", file=sys.stderr)
        return 2
    if settings.api_key is not None:
        ensure_bootstrap_key(settings, engine)
    return _serve_app(create_app(settings, engine=engine), settings)


def _run_until_signal(main: Any) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """The scheduler role over PostgreSQL and Redis."""
    from core.bus.redis import RedisBus
    from core.db import SchemaOutOfDate, make_engine, require_current_schema
    from core.store import store_from_settings
    from scheduler.service import Scheduler

    settings = _settings(args)
    engine = make_engine(settings)
    try:
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        print(f"openft scheduler: {exc}", file=sys.stderr)
        return 2

    async def main(stop: asyncio.Event) -> None:
        bus = RedisBus(settings.redis_url, pickup_timeout_s=settings.dispatch_timeout_seconds)
        try:
            await Scheduler(settings, engine, store_from_settings(settings), bus).run(stop)
        finally:
            await bus.close()

    return _run_until_signal(main)


def cmd_worker(args: argparse.Namespace) -> int:
    """A worker: Redis for tasks and reports, the store for data and artifacts (no database)."""
    from gpu_worker.worker import main

    main(_settings(args), worker_id=args.name)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Print a new key; warnings and errors go to stderr (see ``api.services.keys.issue_key``)."""
    from api.services.keys import KeyCommandError, issue_key

    try:
        issued = issue_key(_settings(args), args.project, admin=args.admin)
    except KeyCommandError as exc:
        print(f"openft keys create: {exc}", file=sys.stderr)
        return 2
    for warning in issued.warnings:
        print(f"openft keys create: warning: {warning}", file=sys.stderr)
    print(issued.key)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from core.db import make_engine, upgrade

    settings = _settings(args)
    upgrade(make_engine(settings))
    print("openft: database schema is current")
    return 0
