"""Process logging: JSON lines (or plain text) that carry the request id and the job id.

The ids travel in context variables, so every log record emitted while a request or a job is
being handled carries them without passing them around::

    with log_context(request_id="req_…"):      # the API's request-id middleware
        ...
    with log_context(job_id="ftjob-…"):        # the scheduler / worker around one job
        log.info("dispatched")                  # -> {"msg": "dispatched", "job_id": "ftjob-…", …}

Context variables follow asyncio tasks (each task gets a copy at creation), so concurrent
requests never see each other's ids. A record may also pass ``extra={"job_id": …}`` explicitly;
an explicit value wins over the context.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("openft_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("openft_job_id", default=None)

_CONTEXT_FIELDS = ("request_id", "job_id")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_MARK = "_openft_handler"


@contextlib.contextmanager
def log_context(*, request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Bind ``request_id`` and/or ``job_id`` to every record logged inside the block."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context ids onto each record (``record.request_id``, ``record.job_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("job_id", job_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, job_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in _CONTEXT_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the ids appended when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{n}={getattr(record, n)}" for n in _CONTEXT_FIELDS if getattr(record, n, None))
        if not ids:
            return line
        first, sep, rest = line.partition("\n")
        return f"{first} [{ids}]{sep}{rest}"


def configure_logging(
    settings: Settings, *, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger to ``stream`` (stderr) as JSON lines, or text when ``log_json`` is off.

    Idempotent: calling it again replaces the handler it installed before (and no other
    handler). Uvicorn's loggers are routed through the same handler so access and error
    lines carry the request id too. Returns the installed handler.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    return handler
