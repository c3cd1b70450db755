"""``GET /metrics``: scraped from a live app and parsed with Prometheus' own parser."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from job_factories import add_worker, create_job
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from api.metrics import StateCollector, install_metrics
from core.db import make_engine
from core.settings import Settings

GiB = 1024**3


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of a Prometheus text exposition."""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], sample: str, **labels: str) -> float:
    return samples[(sample, tuple(sorted(labels.items())))]


def cuda(index: int, total: int, free: int, name: str = "NVIDIA H100") -> dict[str, Any]:
    return {"kind": "cuda", "name": name, "memory_total": total, "memory_free": free, "index": index}


def test_metrics_report_jobs_queue_workers_and_gpu_memory(server: Any, http: Any, engine: Engine) -> None:
    # requirements as core.memory.estimate_for_job writes them
    create_job(engine, "proj-a", status="queued", requirements={"memory": {"cuda": 20 * GiB}})
    create_job(engine, "proj-a", status="queued", requirements={"memory": {"cuda": GiB, "cpu": 2 * GiB}})
    create_job(engine, "proj-a", status="queued", requirements={"memory": None})
    create_job(engine, "proj-a", status="running", requirements={"memory": {"cpu": GiB}})
    create_job(engine, "proj-b", status="running")
    for _ in range(3):
        create_job(engine, "proj-b", status="succeeded")
    add_worker(engine, "gpu-node-1", [cuda(0, 80 * GiB, 30 * GiB), cuda(1, 80 * GiB, 80 * GiB)])
    add_worker(engine, "cpu-node", [{"kind": "cpu", "name": "cpu", "memory_total": 64 * GiB,
                                     "memory_free": 32 * GiB, "index": 0}])
    add_worker(engine, "gone-node", [cuda(0, 40 * GiB, 1 * GiB)], age_s=3600)

    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = scrape(response.text)

    assert value(samples, "openft_state_up") == 1
    assert value(samples, "openft_jobs", status="queued") == 3
    assert value(samples, "openft_jobs", status="running") == 2
    assert value(samples, "openft_jobs", status="succeeded") == 3
    assert value(samples, "openft_jobs", status="failed") == 0  # every status is present
    assert value(samples, "openft_queue_depth", device_class="cuda") == 2
    assert value(samples, "openft_queue_depth", device_class="cpu") == 1  # running jobs are not queued
    assert value(samples, "openft_queue_depth", device_class="any") == 1
    assert value(samples, "openft_workers", state="live") == 2
    assert value(samples, "openft_workers", state="stale") == 1
    labels = {"worker": "gpu-node-1", "device": "0", "name": "NVIDIA H100"}
    assert value(samples, "openft_gpu_memory_used_bytes", **labels) == 50 * GiB
    assert value(samples, "openft_gpu_memory_total_bytes", **labels) == 80 * GiB
    assert value(samples, "openft_gpu_memory_used_bytes", **{**labels, "device": "1"}) == 0
    # a stale worker's GPUs and a CPU worker's memory are not GPU memory in use
    gpu_workers = {dict(k[1])["worker"] for k in samples if k[0] == "openft_gpu_memory_used_bytes"}
    assert gpu_workers == {"gpu-node-1"}


def test_request_latency_is_labelled_by_route_template(server: Any, http: Any) -> None:
    for _ in range(2):
        assert http.get("/v1/files/file-doesnotexist").status_code == 404
    assert http.get("/v1/files/file-other").status_code == 404
    assert http.get("/v1/no/such/route").status_code == 404
    assert http.get("/v1/models/ft:tiny-chat:proj-a::abcd1234/content?format=adapter").status_code == 404

    samples = scrape(http.get("/metrics").text)
    route = {"method": "GET", "route": "/v1/files/{file_id}", "status": "404"}
    assert value(samples, "openft_http_request_duration_seconds_count", **route) == 3
    assert value(samples, "openft_http_request_duration_seconds_sum", **route) > 0
    assert value(samples, "openft_http_request_duration_seconds_bucket", **route, le="+Inf") == 3
    export = {"method": "GET", "route": "/v1/models/{model}/content", "status": "404"}
    assert value(samples, "openft_http_request_duration_seconds_count", **export) == 1
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(samples, "openft_http_request_duration_seconds_count", **unmatched) == 1
    routes = {dict(k[1]).get("route") for k in samples if k[0].startswith("openft_http_request")}
    assert not any("file-" in str(r) or "ft:" in str(r) for r in routes), "raw paths must not become labels"


def test_two_apps_keep_separate_registries(settings: Settings, engine: Engine) -> None:
    apps = []
    for _ in range(2):
        app = FastAPI()

        @app.get("/ping")
        def ping() -> dict[str, bool]:
            return {"ok": True}

        install_metrics(app, engine, settings)
        apps.append(app)
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for _ in range(3):
            first.get("/ping")
        second.get("/ping")
        count = "openft_http_request_duration_seconds_count"
        labels = {"method": "GET", "route": "/ping", "status": "200"}
        assert value(scrape(first.get("/metrics").text), count, **labels) == 3
        assert value(scrape(second.get("/metrics").text), count, **labels) == 1


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_scrape_still_answers_when_the_database_is_down(settings: Settings) -> None:
    down = make_engine(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    app = FastAPI()
    install_metrics(app, down, settings)
    with TestClient(app) as c:
        response = c.get("/metrics")
    assert response.status_code == 200
    samples = scrape(response.text)
    assert value(samples, "openft_state_up") == 0
    assert not any(name == "openft_jobs" for name, _ in samples)
    assert StateCollector(down, 15.0).collect()  # the collector itself never raises
