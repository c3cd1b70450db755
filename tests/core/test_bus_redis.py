"""What only the Redis bus has to survive: Redis restarts and scheduler restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from polling import until
from redis.asyncio import Redis
from redis_server import RedisServer, running_redis_server
from test_bus import Recorder, stop

from core.bus import keys
from core.bus.base import BusUnavailable
from core.bus.redis import RedisBus
from core.protocol import Report

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private server per test: these tests stop and restart it."""
    with running_redis_server() as s:
        yield s


async def read_until(bus: RedisBus, n: int, timeout: float = 15.0) -> list[Report]:
    got: list[Report] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        try:
            got += await bus.read_reports(0.3)
        except BusUnavailable:
            await asyncio.sleep(0.1)
    return got


async def test_redis_restart_loses_no_held_report_and_the_worker_resumes(server: RedisServer) -> None:
    sched, work = RedisBus(server.url), RedisBus(server.url)
    handler = Recorder()
    handler.release.clear()
    serving = asyncio.create_task(work.serve_tasks("w1", handler, max_jobs=2))
    try:
        await sched.dispatch("w1", "ftjob-before", 1, 600)
        await until(lambda: handler.running == 1)
        await work.publish(Report(kind="started", job_id="ftjob-before", total_steps=5))
        assert [r.kind for r in await read_until(sched, 1)] == ["started"]

        server.stop()
        for step in range(1, 6):  # the training goes on while Redis is away
            await work.publish(Report(kind="metrics", job_id="ftjob-before", step=step))
        with pytest.raises(BusUnavailable):
            await sched.read_reports(0.2)
        with pytest.raises(BusUnavailable):
            await sched.workers()
        with pytest.raises(BusUnavailable):
            await sched.dispatch("w1", "ftjob-x", 1, 60)
        with pytest.raises(BusUnavailable):
            await work.get_control("ftjob-before")
        await asyncio.sleep(1.5)  # the arq worker polls a dead Redis meanwhile
        assert not serving.done()

        server.start()  # same port, empty: nothing survived but what the worker held
        got = await read_until(sched, 5)
        assert [(r.kind, r.step) for r in got] == [("metrics", s) for s in range(1, 6)]

        # the arq worker consumes again, and the task that ran across the restart ends cleanly
        await sched.dispatch("w1", "ftjob-after", 1, 600)
        await until(lambda: [t.job_id for t in handler.tasks] == ["ftjob-before", "ftjob-after"])
        handler.release.set()
        await until(lambda: handler.running == 0)
        await sched.dispatch("w1", "ftjob-third", 1, 600)
        await until(lambda: len(handler.tasks) == 3)
        assert not serving.done()
    finally:
        await stop(serving)
        await sched.close()
        await work.close()


async def test_publish_while_redis_is_down_is_flushed_in_order(server: RedisServer) -> None:
    work = RedisBus(server.url)
    server.stop()
    for step in range(1, 31):
        await work.publish(Report(kind="metrics", job_id="ftjob-down", step=step))
    assert not await work.flush(timeout=0.5)  # still held
    server.start()
    assert await work.flush(timeout=15)
    sched = RedisBus(server.url)
    got = await read_until(sched, 30)
    assert [r.step for r in got] == list(range(1, 31))
    await sched.close()
    await work.close()


async def test_a_restarted_scheduler_gets_the_unacknowledged_batch_again(server: RedisServer) -> None:
    work = RedisBus(server.url)
    for step in (1, 2, 3):
        await work.publish(Report(kind="metrics", job_id="ftjob-s", step=step))
    assert await work.flush(timeout=5)

    first = RedisBus(server.url)
    assert [r.step for r in await first.read_reports(1)] == [1, 2, 3]
    await first.close()  # "crashes" before its next read, which would have acknowledged them

    second = RedisBus(server.url)
    assert [r.step for r in await second.read_reports(1)] == [1, 2, 3]
    await work.publish(Report(kind="metrics", job_id="ftjob-s", step=4))
    assert [r.step for r in await read_until(second, 1)] == [4]
    await second.read_reports(0.1)  # acknowledges step 4
    await second.close()

    third = RedisBus(server.url)
    assert await third.read_reports(0.3) == []
    await third.close()
    await work.close()


async def test_a_report_sent_twice_is_delivered_once(server: RedisServer) -> None:
    r = Redis.from_url(server.url)
    payload = Report(kind="succeeded", job_id="ftjob-d").model_dump_json()
    for _ in range(2):  # what a retried XADD whose reply was lost leaves behind
        await r.xadd(keys.REPORTS_STREAM, {"uid": "same", "report": payload})
    await r.xadd(keys.REPORTS_STREAM, {"uid": "other", "report": payload})
    await r.aclose()
    sched = RedisBus(server.url)
    got = await read_until(sched, 2, timeout=2)
    assert [x.kind for x in got] == ["succeeded", "succeeded"]
    await sched.close()


async def test_dispatch_payload_is_ids_only_and_budget_not_arqs_default(server: RedisServer) -> None:
    sched = RedisBus(server.url)
    await sched.dispatch("w9", "ftjob-p", 3, 7200)
    r = Redis.from_url(server.url)
    assert await r.zrange(keys.task_queue("w9"), 0, -1) == [b"ftjob-p:3"]
    raw = await r.get("arq:job:ftjob-p:3")
    assert raw is not None and b"ftjob-p" in raw and b"7200" in raw
    assert raw.startswith(b"{")  # JSON, not pickle
    assert 0 < await r.pttl("arq:job:ftjob-p:3") <= 60_000  # dropped if nobody picks it up
    await r.aclose()
    await sched.close()
