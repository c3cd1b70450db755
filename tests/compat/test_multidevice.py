"""A job on two CPU devices end to end: the API takes ``openft.devices``, gang placement gives the
job both devices of a worker that offers two (``worker_cpu_devices``), the worker trains it with
two processes, and after a pause the job resumes on a worker with a single device and finishes.
"""

from __future__ import annotations

import openai
import psutil
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from polling import job_messages as messages
from polling import wait_for, wait_status
from sqlalchemy.engine import Engine
from test_jobs import reload_job, upload

from core.settings import Settings
from core.store import Store
from scheduler.transitions import TERMINAL

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)]

# 48 steps: a pause landed at step 13 of 18 here (a tick, a heartbeat and the ranks agreeing), and a
# job that ends first succeeds instead of pausing
METHOD = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 8, "batch_size": 2}}}


def _training_processes() -> list[psutil.Process]:
    """This test's training processes (torchrun's ranks, or the child alone), not torchrun itself."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:  # exited meanwhile
            continue
        if "gpu_worker.train_attempt" in cmd and "torch.distributed.run" not in cmd:
            out.append(p)
    return out


def test_a_two_device_job_trains_on_two_processes_then_resumes_on_one_device(
        settings: Settings, engine: Engine, store: Store, api_key: str) -> None:
    with embedded_server(fast_settings(settings, worker_cpu_devices=2), engine, store) as live:
        with openai.OpenAI(base_url=live.base_url, api_key=api_key) as client:
            job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=upload(client, chat_jsonl(12)),
                                                 method=METHOD, extra_body={"openft": {"devices": 2}})
            wait_for(lambda: any(m.startswith("Training tiny-chat") for m in messages(client, job.id)),
                     "training to start", timeout=300)
            row = reload_job(engine, job.id)
            assert row.placement is not None and sorted(row.placement["devices"]) == [0, 1]
            assert row.placement["parallelism"] == "data_parallel"
            assert "Training tiny-chat (supervised) on 2 × cpu with data-parallel" in messages(client, job.id)
            assert len(_training_processes()) == 2  # one process per device (torchrun's ranks)
            wait_for(lambda: any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=5)),
                     "a training step", timeout=300)
            assert client.fine_tuning.jobs.pause(job.id).status == "paused"
            wait_for(lambda: any(m.startswith("Fine-tuning job paused at step") for m in messages(client, job.id)),
                     "the pause checkpoint", timeout=300)
            wait_for(lambda: reload_job(engine, job.id).worker_id is None, "the worker to let go")
        wait_for(lambda: not _training_processes(), "every rank to exit", timeout=30)
        assert [e for e in live.log.entries if e[2] >= 500] == []

    with embedded_server(fast_settings(settings, worker_cpu_devices=1), engine, store) as live:
        with openai.OpenAI(base_url=live.base_url, api_key=api_key) as client:
            assert client.fine_tuning.jobs.resume(job.id).status == "queued"
            status = wait_status(client, job.id, TERMINAL, timeout=600)
            log = messages(client, job.id)
            assert status == "succeeded", (client.fine_tuning.jobs.retrieve(job.id).error, log[-8:])
            assert log.count("Training tiny-chat (supervised) on cpu") == 1  # the resumed attempt, on one device
            assert reload_job(engine, job.id).placement == {
                "devices": [0], "kind": "cpu", "parallelism": "single", "memory": row.placement["memory"]}
            model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
            assert model in {m.id for m in client.models.list()}
        assert [e for e in live.log.entries if e[2] >= 500] == []
