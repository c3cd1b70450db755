"""Per-project Prometheus series: jobs by status, fine-tuning device-seconds, tokens served."""

from __future__ import annotations

import httpx2
from job_factories import create_job
from live_server import LiveServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.tables import UsageRecord


def _samples(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx2.get(server.url + "/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_project_series(server: LiveServer, engine: Engine) -> None:
    for status in ("running", "queued", "queued"):
        create_job(engine, "proj-a", status=status)
    create_job(engine, "proj-b", status="succeeded")
    with Session(engine) as s:
        s.add(UsageRecord(kind="completions", project_id="proj-a", model="tiny-chat", input_tokens=11,
                          output_tokens=4, requests=1))
        s.add(UsageRecord(kind="completions", project_id="proj-a", model="tiny-chat", input_tokens=9,
                          output_tokens=6, requests=1))
        s.add(UsageRecord(kind="fine_tuning", project_id="proj-b", model="tiny-chat", job_id="ftjob-1",
                          gpu_seconds=120.5))
        s.add(UsageRecord(kind="fine_tuning.open", project_id="proj-b", model="tiny-chat", job_id="ftjob-2",
                          gpu_seconds=30.0))
        s.commit()
    got = _samples(server)
    assert got[("openft_project_jobs", (("project", "proj-a"), ("status", "queued")))] == 2
    assert got[("openft_project_jobs", (("project", "proj-a"), ("status", "running")))] == 1
    assert got[("openft_project_jobs", (("project", "proj-b"), ("status", "succeeded")))] == 1
    assert got[("openft_project_tokens_served_total", (("kind", "input"), ("project", "proj-a")))] == 20
    assert got[("openft_project_tokens_served_total", (("kind", "output"), ("project", "proj-a")))] == 10
    assert got[("openft_project_gpu_seconds_total", (("project", "proj-b"),))] == 150.5
