"""The server commands of ``openft``: serve, api, scheduler, worker, keys, db.

The ``openft`` console script is the client CLI (:mod:`sdk.cli.main`); it hands these commands
to :func:`main` here, so the SDK holds no server code. Heavy imports
(the app, the scheduler, the worker) happen inside the handlers: ``openft db upgrade`` does not
load FastAPI, and ``openft worker`` does not load the database layer.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine

    from core.settings import Settings

EXIT_USAGE = 2
INSTALL_HINT = "pip install 'openft[gpu]'"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the server commands (``prog`` is ``openft``, as users type them)."""
    parser = argparse.ArgumentParser(prog="openft", description="openft server commands")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    return parser


def main(argv: Sequence[str]) -> int:
    """Run one server command (``argv`` starts with its name); return the exit status."""
    from core.model_loading import apply_cpu_thread_env

    apply_cpu_thread_env()  # before torch is imported (serving, the worker and its children)
    args = build_parser().parse_args(list(argv))
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:  # a server dependency that this install lacks
        print(f"openft {args.command}: {exc}; this command needs the full server install: {INSTALL_HINT}",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _host_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")


def _settings(args: argparse.Namespace) -> Settings:
    from core.logging import configure_logging
    from core.settings import Settings

    overrides = {k: v for k in ("host", "port", "data_dir") if (v := getattr(args, k, None)) is not None}
    settings = Settings(**overrides)
    configure_logging(settings)
    return settings


def _serve_app(app: FastAPI, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)
    return 0


def _engine_with_current_schema(settings: Settings, command: str) -> Engine | None:
    """The database engine, or None (after saying why) when the schema needs ``openft db upgrade``."""
    from core.db import SchemaOutOfDate, make_engine, require_current_schema

    engine = make_engine(settings)
    try:
        require_current_schema(engine)
    except SchemaOutOfDate as exc:
        print(f"openft {command}: {exc}", file=sys.stderr)
        return None
    return engine


def cmd_serve(args: argparse.Namespace) -> int:
    """API, scheduler and one local worker in one process; migrates on start."""
    import importlib.util

    from api.embedded import embedded_app
    from api.services.keys import KEY_FILE, ensure_bootstrap_key
    from core.db import make_engine, upgrade
    from core.store import store_from_settings

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    upgrade(engine)
    key = ensure_bootstrap_key(settings, engine)
    key_file = settings.data_dir / KEY_FILE
    if key:
        print(f"openft: created an admin API key (kept in {key_file}):\n\n    {key}\n", flush=True)
    elif settings.api_key is not None:
        print("openft: the admin API key is the one in OPENFT_API_KEY", flush=True)
    elif key_file.exists():
        print(f"openft: the admin API key is in {key_file}", flush=True)
    else:
        print(f"openft: API keys exist; make one with `openft keys create --data-dir {settings.data_dir} "
              "--project default --admin`", flush=True)
    if importlib.util.find_spec("torch") is None:
        print(f"openft: warning: the training stack is not installed, so jobs will fail: {INSTALL_HINT}",
              file=sys.stderr, flush=True)
    app = embedded_app(settings, engine, store_from_settings(settings), migrate=True)
    print(f"openft: serving on http://{settings.host}:{settings.port}/v1", flush=True)
    return _serve_app(app, settings)


def cmd_api(args: argparse.Namespace) -> int:
    """The API alone; the schema must be current (``openft db upgrade``)."""
    from api.app import create_app
    from api.services.keys import ensure_bootstrap_key

    settings = _settings(args)
    engine = _engine_with_current_schema(settings, "api")
    if engine is None:
        return EXIT_USAGE
    if settings.api_key is not None:
        ensure_bootstrap_key(settings, engine)
    return _serve_app(create_app(settings, engine=engine), settings)


def _run_until_signal(role: Callable[[asyncio.Event], Awaitable[Any]]) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await role(stop)

    asyncio.run(runner())
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """The scheduler role over PostgreSQL and Redis."""
    from core.bus.redis import RedisBus
    from core.store import store_from_settings
    from scheduler.service import Scheduler

    settings = _settings(args)
    engine = _engine_with_current_schema(settings, "scheduler")
    if engine is None:
        return EXIT_USAGE

    async def role(stop: asyncio.Event) -> None:
        bus = RedisBus(settings.redis_url, pickup_timeout_s=settings.dispatch_timeout_seconds)
        try:
            await Scheduler(settings, engine, store_from_settings(settings), bus).run(stop)
        finally:
            await bus.close()

    return _run_until_signal(role)


def cmd_worker(args: argparse.Namespace) -> int:
    """A worker: Redis for tasks and reports, the store for data and artifacts (no database)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        print(f"openft worker: the training stack (torch, transformers, peft, trl) is not installed: "
              f"{INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    from gpu_worker.worker import main as worker_main

    worker_main(_settings(args), worker_id=args.name)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Print a new key; warnings and errors go to stderr (see ``api.services.keys.issue_key``)."""
    from api.services.keys import KeyCommandError, issue_key

    try:
        issued = issue_key(_settings(args), args.project, admin=args.admin)
    except KeyCommandError as exc:
        print(f"openft keys create: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in issued.warnings:
        print(f"openft keys create: warning: {warning}", file=sys.stderr)
    print(issued.key)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database to the newest schema (the Helm migration Job runs this)."""
    from core.db import make_engine, upgrade

    upgrade(make_engine(_settings(args)))
    print("openft: database schema is current")
    return 0
