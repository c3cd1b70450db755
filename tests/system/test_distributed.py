"""The distributed mode as an operator runs it: separate processes over Redis, PostgreSQL and S3.

``openft api``, ``openft scheduler`` and two ``openft worker`` processes; six jobs from two
projects. One worker is killed with SIGKILL while it trains and Redis is restarted during the
run: every job must still succeed, the interrupted job resumes from its checkpoint on the other
worker, and its final training loss matches its uninterrupted twin (same data, same seed). The
API then runs the train-to-serve check of every job, once each. A reinforcement job survives
the same kill.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import psycopg
import pytest
from live_server import free_port, wait_for_port
from polling import DONE, wait_status
from redis_server import RedisServer
from reinforcement_jobs import EXACT, assert_resumed_to_the_end, create_job, wait_past_first_checkpoint

from core.store import S3Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OPENFT = str(Path(sys.executable).parent / "openft")
POSTGRES_URL = os.environ.get("OPENFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Cluster:
    env: dict[str, str]
    root: Path
    api_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        env = {**self.env, "OPENFT_DATA_DIR": str(self.root / name)}
        proc = subprocess.Popen([OPENFT, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def run(self, *args: str) -> str:
        env = {**self.env, "OPENFT_DATA_DIR": str(self.root / "cli")}
        return subprocess.run([OPENFT, *args], env=env, check=True, capture_output=True, text=True).stdout

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.root.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def cluster(tmp_path: Path, moto_endpoint: str) -> Iterator[tuple[Cluster, RedisServer, str]]:
    redis = RedisServer()
    redis.start()
    db = f"openft_dist_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    database_url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + db
    bucket_url = f"s3://openft-dist/{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")}
    env.update({
        "OPENFT_DATABASE_URL": database_url, "OPENFT_REDIS_URL": redis.url, "OPENFT_STORE_URL": bucket_url,
        "OPENFT_S3_ENDPOINT_URL": moto_endpoint, "OPENFT_WORKER_LEASE_SECONDS": "6",
        "OPENFT_HEARTBEAT_SECONDS": "0.5", "OPENFT_SCHEDULER_TICK_SECONDS": "0.2",
        "OPENFT_DISPATCH_TIMEOUT_SECONDS": "15", "OPENFT_LOG_JSON": "false",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    })
    S3Store(bucket_url, endpoint_url=moto_endpoint).ensure_bucket()
    c = Cluster(env=env, root=tmp_path)
    c.run("db", "upgrade")
    port = free_port()
    c.start("api", "api", "--port", str(port))
    c.start("scheduler", "scheduler")
    c.start("worker-1", "worker", "--name", "worker-1")
    c.start("worker-2", "worker", "--name", "worker-2")
    wait_for_port(port, 60)
    c.api_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield c, redis, database_url
    finally:
        c.stop()
        redis.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _rows(n: int, seed: int) -> bytes:
    """``n`` examples of a small deterministic task: name the colour of a fruit."""
    rng = random.Random(seed)
    fruit = {"banana": "yellow", "cherry": "red", "lime": "green", "plum": "purple", "orange": "orange"}
    rows = []
    for _ in range(n):
        name = rng.choice(sorted(fruit))
        rows.append({"messages": [{"role": "user", "content": f"What colour is a {name}?"},
                                  {"role": "assistant", "content": fruit[name]}]})
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _losses(client: openai.OpenAI, job_id: str) -> list[tuple[int, float]]:
    events = reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=1000)))
    return [(e.data["step"], e.data["train_loss"]) for e in events if e.type == "metrics" and e.data]


def _worker_of(database_url: str, job_id: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT worker_id, status FROM jobs WHERE id = %s", (job_id,)).fetchone()
    return row[0] if row and row[1] == "running" else None


def test_six_jobs_survive_a_killed_worker_and_a_redis_restart(cluster: tuple[Cluster, RedisServer, str]) -> None:
    c, redis, database_url = cluster
    keys = {p: c.run("keys", "create", "--project", p).strip() for p in ("team-a", "team-b")}
    clients = {p: openai.OpenAI(base_url=c.api_url, api_key=k, max_retries=5) for p, k in keys.items()}
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 2}}}
    ext = {"openft": {"checkpoint_every_steps": 5}}
    jobs: list[tuple[str, str]] = []
    twins: list[str] = []
    for project, client in clients.items():
        same = client.files.create(file=("same.jsonl", _rows(20, 7), "application/jsonl"), purpose="fine-tune").id
        for i in range(3):
            fid = same if (project == "team-a" and i < 2) else client.files.create(
                file=(f"t{i}.jsonl", _rows(20, 100 + i), "application/jsonl"), purpose="fine-tune").id
            job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid, seed=11, method=method,
                                                 extra_body=ext)
            jobs.append((project, job.id))
            if project == "team-a" and i < 2:
                twins.append(job.id)

    # kill -9 the worker training one of the twins once it is past a recovery checkpoint
    a = clients["team-a"]
    victim_job = victim_worker = None
    deadline = time.monotonic() + 400
    while victim_job is None:
        assert time.monotonic() < deadline, c.logs()
        for job_id in twins:
            steps = [s for s, _ in _losses(a, job_id)]
            worker = _worker_of(database_url, job_id)
            if worker and steps and max(steps) >= 12 and max(steps) < 36:
                victim_job, victim_worker = job_id, worker
                break
        time.sleep(0.2)
    c.procs[victim_worker].send_signal(signal.SIGKILL)
    c.procs[victim_worker].wait(10)

    # and restart Redis while the survivors carry on
    time.sleep(1)
    redis.stop()
    time.sleep(2)
    redis.start()

    deadline = time.monotonic() + 600
    pending = set(jobs)
    while pending:
        assert time.monotonic() < deadline, f"unfinished: {pending}\n{c.logs()}"
        for project, job_id in list(pending):
            job = clients[project].fine_tuning.jobs.retrieve(job_id)
            if job.status in ("succeeded", "failed", "cancelled"):
                assert job.status == "succeeded", (job_id, job.error, c.logs())
                pending.discard((project, job_id))
        time.sleep(1)

    events = [e.message for e in a.fine_tuning.jobs.list_events(victim_job, limit=1000)]
    assert any(m.startswith(f"Worker {victim_worker} stopped responding") for m in events), events
    assert any(m.startswith("Resuming from checkpoint at step") for m in events), events
    other = next(j for j in twins if j != victim_job)
    final = {j: _losses(a, j)[-1] for j in twins}
    assert final[victim_job][0] == final[other][0] == 40
    assert abs(final[victim_job][1] - final[other][1]) <= 0.02 * abs(final[other][1]), final
    # isolation holds across the processes too
    b = clients["team-b"]
    assert {j.id for j in b.fine_tuning.jobs.list()} == {j for p, j in jobs if p == "team-b"}

    # the API ran the train-to-serve check of every job (claimed once each, over PostgreSQL)
    deadline = time.monotonic() + 300
    for project, job_id in jobs:
        while not (checks := [e for e in clients[project].fine_tuning.jobs.list_events(job_id, limit=1000)
                              if e.message.startswith("Train-to-serve check")]):
            assert time.monotonic() < deadline, f"no train-to-serve check on {job_id}\n{c.logs()}"
            time.sleep(1)
        assert len(checks) == 1 and checks[0].level == "info", (job_id, checks[0].message)


def test_a_reinforcement_job_survives_a_killed_worker(cluster: tuple[Cluster, RedisServer, str]) -> None:
    """kill -9 of the worker training a reinforcement job: the other worker resumes it from its checkpoint."""
    c, _, database_url = cluster
    client = openai.OpenAI(base_url=c.api_url, api_key=c.run("keys", "create", "--project", "team-rl").strip(),
                           max_retries=5)
    hp = {"n_epochs": 4, "batch_size": 2, "compute_multiplier": 0.25, "reasoning_effort": "low"}  # 6 steps an epoch
    job_id = create_job(client, EXACT, hp)
    wait_past_first_checkpoint(client, job_id)
    victim = _worker_of(database_url, job_id)
    assert victim is not None, c.logs()
    c.procs[victim].send_signal(signal.SIGKILL)
    c.procs[victim].wait(10)
    assert wait_status(client, job_id, DONE, timeout=600) == "succeeded", c.logs()
    assert_resumed_to_the_end(client, job_id, total_steps=24)
