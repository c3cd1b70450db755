"""Prometheus metrics at ``GET /metrics``: service state from the database and request latency.

State metrics are read from the database at scrape time (it is the source of truth, and every
API replica then reports the same numbers)::

    openft_jobs{status}                          jobs per status (every status, zeros included)
    openft_queue_depth{device_class}             queued jobs that can run on ``cuda``/``cpu``
                                                 devices (a job fitting both counts in both;
                                                 ``any``: no memory estimate, fits anything)
    openft_workers{state}                        registered workers, ``live`` or ``stale``
    openft_gpu_memory_used_bytes{worker,device,name}   per GPU of a live worker (total - free)
    openft_gpu_memory_total_bytes{worker,device,name}
    openft_state_up                              1 if the database answered this scrape, else 0
    openft_project_jobs{project,status}          jobs per project and status (statuses it has)
    openft_project_gpu_seconds_total{project}    device-seconds of the project's fine-tuning
                                                 (every stretch a job ran, as recorded so far)
    openft_project_tokens_served_total{project,kind}   chat/completions tokens, ``kind``
                                                 ``input`` or ``output``

Request metrics are measured by an ASGI middleware::

    openft_http_request_duration_seconds{method,route,status}   histogram; ``route`` is the
        route template (``/v1/files/{file_id}``), never the raw path, so ids do not explode the
        label set; requests that match no route are labelled ``<unmatched>``.

Each app gets its own :class:`CollectorRegistry` (``app.state.metrics_registry``), so several
apps in one process (tests) never collide. ``/metrics`` needs no API key: it shows counts and
worker names only, never a project's objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from core.tables import Job, UsageRecord, Worker

log = logging.getLogger("openft.api.metrics")

JOB_STATUSES = ("validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")
UNMATCHED_ROUTE = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def job_device_classes(requirements: dict[str, Any] | None) -> list[str]:
    """The device kinds a queued job can run on, from the scheduler's ``requirements``.

    ``requirements["memory"]`` maps each kind the job fits (``cuda``, ``cpu``) to its memory
    estimate (core.memory.estimate_for_job); without estimates the job fits any device.
    """
    memory = (requirements or {}).get("memory")
    return sorted(memory) if memory else ["any"]


class StateCollector(Collector):
    """Reads jobs and workers from the database on every scrape."""

    def __init__(self, engine: Engine, worker_lease_seconds: float) -> None:
        self.engine = engine
        self.worker_lease_seconds = worker_lease_seconds

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("openft_state_up", "1 if the database answered this scrape")
        try:
            families = list(self._families())
        except Exception:  # the scrape must still answer while the database is down
            log.warning("metrics: database unavailable", exc_info=True)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [*families, up]

    def _families(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            status_col = col(Job.status)
            counts = conn.execute(select(status_col, func.count()).group_by(status_col)).all()
            queued = conn.execute(select(col(Job.requirements)).where(status_col == "queued")).scalars().all()
            workers = conn.execute(
                select(col(Worker.id), col(Worker.devices), col(Worker.last_heartbeat))
            ).all()
            per_project = list(_project_families(conn))
        yield from per_project
        by_status: dict[str, int] = {str(s): int(n) for s, n in counts}

        jobs = GaugeMetricFamily("openft_jobs", "Fine-tuning jobs per status", labels=["status"])
        for status in sorted(set(JOB_STATUSES) | set(by_status)):
            jobs.add_metric([status], float(by_status.get(status, 0)))
        yield jobs

        depth: dict[str, int] = {"cuda": 0, "cpu": 0, "any": 0}
        for requirements in queued:
            for cls in job_device_classes(requirements):
                depth[cls] = depth.get(cls, 0) + 1
        queue = GaugeMetricFamily(
            "openft_queue_depth", "Queued jobs per device class", labels=["device_class"]
        )
        for cls, count in sorted(depth.items()):
            queue.add_metric([cls], float(count))
        yield queue

        cutoff = time.time() - self.worker_lease_seconds
        states = {"live": 0, "stale": 0}
        used = GaugeMetricFamily(
            "openft_gpu_memory_used_bytes", "GPU memory in use on live workers",
            labels=["worker", "device", "name"],
        )
        total = GaugeMetricFamily(
            "openft_gpu_memory_total_bytes", "GPU memory of live workers", labels=["worker", "device", "name"]
        )
        for worker_id, devices, last_heartbeat in workers:
            live = (last_heartbeat or 0.0) >= cutoff
            states["live" if live else "stale"] += 1
            if not live:
                continue
            for device in devices or []:
                if device.get("kind") != "cuda":
                    continue
                labels = [worker_id, str(device.get("index", 0)), str(device.get("name", ""))]
                mem_total = float(device.get("memory_total", 0))
                used.add_metric(labels, max(0.0, mem_total - float(device.get("memory_free", 0))))
                total.add_metric(labels, mem_total)
        workers_family = GaugeMetricFamily("openft_workers", "Registered workers", labels=["state"])
        for state, count in states.items():
            workers_family.add_metric([state], float(count))
        yield workers_family
        yield used
        yield total


def route_template(scope: Scope) -> str:
    """``/v1/files/{file_id}`` for a request to ``/v1/files/file-abc``; ``<unmatched>`` without a route.

    The router records the route it chose in ``scope["route"]``, but a route included under a
    prefix knows only its own part (``/files/{file_id}``). Filling that part with the matched
    ``path_params`` gives the tail of the request path; what comes before it is the (fixed)
    prefix, so the full template is prefix + the route's template.
    """
    route = scope.get("route")
    fmt = getattr(route, "path_format", None) or getattr(route, "path", None)
    if route is None or not fmt:
        return UNMATCHED_ROUTE
    path = str(scope.get("path", ""))
    params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
    try:
        concrete = fmt.format(**params)
    except (KeyError, IndexError, ValueError):
        return str(fmt)
    if concrete and path.endswith(concrete):
        return path[: len(path) - len(concrete)] + fmt
    return str(fmt)


class RequestMetricsMiddleware:
    """Pure ASGI middleware timing each HTTP request until its last body chunk is sent."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            template = route_template(scope)
            self.histogram.labels(scope["method"], template, str(status)).observe(time.perf_counter() - start)


def install_metrics(app: FastAPI, engine: Engine, settings: Settings) -> CollectorRegistry:
    """Add ``GET /metrics`` and the request-latency middleware to ``app``; returns its registry.

    Call once from ``create_app`` before the app starts serving. ``engine`` is the app's
    database engine (read at scrape time, off the event loop).
    """
    registry = CollectorRegistry()
    registry.register(StateCollector(engine, settings.worker_lease_seconds))
    histogram = Histogram(
        "openft_http_request_duration_seconds",
        "HTTP request latency by route template",
        labelnames=["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    app.add_middleware(RequestMetricsMiddleware, histogram=histogram)
    app.state.metrics_registry = registry

    async def metrics(_request: Request) -> Response:
        """Prometheus text exposition of this app's registry (200)."""
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return registry


def _project_families(conn: Any) -> Iterator[Metric]:
    """The per-project series: jobs by status, fine-tuning device-seconds, tokens served."""
    jobs = GaugeMetricFamily("openft_project_jobs", "Fine-tuning jobs per project and status",
                             labels=["project", "status"])
    pid, status = col(Job.project_id), col(Job.status)
    for project, st, n in conn.execute(select(pid, status, func.count()).group_by(pid, status)).all():
        jobs.add_metric([str(project), str(st)], float(n))
    yield jobs
    upid, kind = col(UsageRecord.project_id), col(UsageRecord.kind)
    rows = conn.execute(select(upid, kind, func.sum(col(UsageRecord.gpu_seconds)),
                               func.sum(col(UsageRecord.input_tokens)), func.sum(col(UsageRecord.output_tokens)))
                        .group_by(upid, kind)).all()
    gpu = CounterMetricFamily("openft_project_gpu_seconds", "Device-seconds of fine-tuning per project",
                              labels=["project"])
    tokens = CounterMetricFamily("openft_project_tokens_served", "Chat/completions tokens served per project",
                                 labels=["project", "kind"])
    seconds: dict[str, float] = {}
    for project, k, gpu_s, tin, tout in rows:
        if str(k).startswith("fine_tuning"):
            seconds[str(project)] = seconds.get(str(project), 0.0) + float(gpu_s or 0)
        elif k == "completions":
            tokens.add_metric([str(project), "input"], float(tin or 0))
            tokens.add_metric([str(project), "output"], float(tout or 0))
    for project, value in sorted(seconds.items()):
        gpu.add_metric([project], value)
    yield gpu
    yield tokens
