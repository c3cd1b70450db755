"""A project at its concurrent-jobs quota: with a real local worker, its second job waits queued
with an event that says why, and starts (and succeeds) when the first one ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from live_server import LiveServer, make_client
from polling import DONE, wait_status
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store import Store

pytestmark = pytest.mark.slow
TINY = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}}}


@pytest.fixture
def server(settings: Settings, engine: Engine, store: Store) -> Iterator[LiveServer]:
    with embedded_server(fast_settings(settings), engine, store) as live:
        yield live


def test_second_job_waits_for_the_first(admin: openai.OpenAI, server: LiveServer, api_key: str) -> None:
    admin.admin.organization.projects.update("proj-a", extra_body={"quotas": {"max_running_jobs": 1}})
    with make_client(server, api_key) as c:
        fid = c.files.create(file=("t.jsonl", chat_jsonl(12)), purpose="fine-tune").id
        first = c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, method=TINY)
        wait_status(c, first.id, {"running"} | DONE)
        second = c.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, method=TINY)
        deadline = time.monotonic() + 120
        while c.fine_tuning.jobs.retrieve(first.id).status == "running" and time.monotonic() < deadline:
            messages = [e.message for e in c.fine_tuning.jobs.list_events(second.id, limit=50)]
            if any("max_running_jobs=1" in m for m in messages):
                break
            time.sleep(0.2)
        assert c.fine_tuning.jobs.retrieve(second.id).status == "queued"
        assert any("max_running_jobs=1" in e.message for e in c.fine_tuning.jobs.list_events(second.id, limit=50))
        assert wait_status(c, first.id, DONE) == "succeeded"
        assert wait_status(c, second.id, DONE) == "succeeded"
