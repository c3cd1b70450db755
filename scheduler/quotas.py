"""Projects' fine-tuning quotas at placement: jobs running at once, and GPU-hours per month.

A queued job of a project at its ``max_running_jobs``, or past its ``max_gpu_hours_per_month``
(calendar month, UTC; finished and running jobs' device time), stays queued with an event that
says why, and starts once the project is under its quota again. (The queued-jobs quota is
enforced when a job is created, by the API.)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from core.tables import Job, Project, UsageRecord
from scheduler.usage import CLOSED, OPEN


def month_start(t: float) -> int:
    """Unix seconds of the first instant of ``t``'s calendar month (UTC)."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp())


def gpu_seconds_this_month(session: Session, project_id: str, t: float | None = None) -> float:
    """Device-seconds the project's jobs used this month: recorded stretches plus running ones."""
    t = time.time() if t is None else t
    recorded = session.exec(select(UsageRecord.gpu_seconds).where(
        UsageRecord.project_id == project_id, col(UsageRecord.kind).in_((OPEN, CLOSED)),
        UsageRecord.created_at >= month_start(t))).all()
    running = session.exec(select(Job.started_at).where(
        Job.project_id == project_id, Job.status == "running")).all()
    return float(sum(recorded)) + sum(max(0.0, t - s) for s in running if s is not None)


@dataclass
class Quotas:
    """What placement must respect this tick: per-project caps, projects that may start nothing,
    and the reason each held project's jobs wait."""

    max_running: dict[str, int] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)

    def holds(self, project_id: str, running: int) -> bool:
        """Whether a quota keeps the project (running ``running`` jobs) from starting another."""
        cap = self.max_running.get(project_id)
        return project_id in self.blocked or (cap is not None and running >= cap)


def for_projects(session: Session, project_ids: Iterable[str], running: Mapping[str, int]) -> Quotas:
    """The quotas of the projects that have queued jobs, given how many jobs each runs."""
    out = Quotas()
    ids_ = sorted(set(project_ids))
    if not ids_:
        return out
    for p in session.exec(select(Project).where(col(Project.id).in_(ids_))).all():
        if p.max_running_jobs is not None:
            out.max_running[p.id] = p.max_running_jobs
            out.reasons[p.id] = (f"Waiting: project {p.id} runs {running.get(p.id, 0)} jobs, its quota of "
                                 f"jobs running at once (max_running_jobs={p.max_running_jobs}).")
        if p.max_gpu_hours_per_month is not None:
            used = gpu_seconds_this_month(session, p.id) / 3600
            if used >= p.max_gpu_hours_per_month:
                out.blocked.add(p.id)
                out.reasons[p.id] = (f"Waiting: project {p.id} used {used:.2f} of its {p.max_gpu_hours_per_month:g} "
                                     "GPU-hours this month (max_gpu_hours_per_month); the job starts when the quota "
                                     "is raised or next month begins.")
    return out
