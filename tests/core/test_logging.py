"""JSON logs carry the request id and the job id, from context or from ``extra=``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.logging import configure_logging, job_id_var, log_context, request_id_var
from core.settings import Settings


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Root logging into a buffer as JSON; the handler is removed afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(Settings(log_json=True), stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_context_ids_and_extras_land_in_json(log_stream: io.StringIO) -> None:
    log = logging.getLogger("openft.test")
    log.info("outside")
    with log_context(request_id="req_1"), log_context(job_id="ftjob-1"):
        log.warning("inside %s", "both", extra={"step": 3})
    with log_context(job_id="ftjob-ctx"):
        log.info("explicit wins", extra={"job_id": "ftjob-explicit"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")

    outside, inside, explicit, failed = lines(log_stream)
    assert outside["msg"] == "outside" and "request_id" not in outside and "job_id" not in outside
    assert inside == {**inside, "msg": "inside both", "level": "warning", "logger": "openft.test",
                      "request_id": "req_1", "job_id": "ftjob-1", "step": 3}
    assert explicit["job_id"] == "ftjob-explicit"
    assert "RuntimeError: boom" in failed["exc"]
    assert request_id_var.get() is None and job_id_var.get() is None  # contexts were reset


async def test_concurrent_tasks_keep_their_own_ids(log_stream: io.StringIO) -> None:
    log = logging.getLogger("openft.test")

    async def handle(n: int) -> None:
        with log_context(request_id=f"req_{n}"):
            await asyncio.sleep(0.01 * (3 - n))
            log.info("done %d", n)

    await asyncio.gather(*(handle(n) for n in range(3)))
    got = {entry["msg"]: entry["request_id"] for entry in lines(log_stream)}
    assert got == {"done 0": "req_0", "done 1": "req_1", "done 2": "req_2"}


def test_text_mode_and_reconfiguring_replaces_only_our_handler() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging(Settings(log_json=True), stream=first)
        handler = configure_logging(Settings(log_json=False), stream=second)
        with log_context(job_id="ftjob-9"):
            logging.getLogger("openft.test").info("plain")
        assert first.getvalue() == ""
        assert "INFO" in second.getvalue() and "plain [job_id=ftjob-9]" in second.getvalue()
        assert foreign in root.handlers
    finally:
        root.removeHandler(foreign)
        root.removeHandler(handler)


def test_api_request_logs_carry_the_request_id(app: Any, log_stream: io.StringIO) -> None:
    """A log line written inside a handler (here: a sync one, run in a thread) has the id the
    response's ``x-request-id`` shows."""

    @app.get("/_test/log")
    def logs_something() -> dict[str, bool]:
        logging.getLogger("openft.test").info("handled")
        return {"ok": True}

    with TestClient(app) as client:
        response = client.get("/_test/log", headers={"x-request-id": "req-from-caller"})
        generated = client.get("/_test/log")
    assert response.headers["x-request-id"] == "req-from-caller"
    handled = [e for e in lines(log_stream) if e["msg"] == "handled"]
    assert [e["request_id"] for e in handled] == ["req-from-caller", generated.headers["x-request-id"]]
