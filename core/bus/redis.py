"""The Redis bus of the distributed roles: arq for tasks, a stream for reports, keys with TTLs.

- tasks: each worker consumes its own arq queue (:func:`core.bus.keys.task_queue`); the payload
  is ``(job_id, attempt, timeout_s)`` as JSON, the arq job id ``{job_id}:{attempt}`` makes
  dispatch idempotent, ``max_tries=1`` (the scheduler owns retries) and the time budget is
  enforced by the worker, with arq's own timeout only as a backstop far above it.
- reports: ``XADD`` to one stream (trimmed to ``reports_maxlen``), read by the scheduler through
  a consumer group so that a scheduler restart resumes where it stopped; each entry carries a
  unique id so that a report sent twice (a reply lost in a reconnect) is delivered once.
- heartbeats: ``openft:worker:{id}`` holds WorkerInfo JSON with a TTL; control:
  ``openft:control:{job_id}`` holds ``cancel``/``pause`` with a TTL, and
  ``openft:attempt:{job_id}`` the newest attempt dispatched (older ones are told to cancel).

Redis restarts: every call reconnects; :meth:`RedisBus.publish` buffers and retries in the
background; the arq worker waits for Redis and keeps polling once it is back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import uuid
from typing import Any

from arq import Worker as ArqWorker
from arq import func as arq_func
from arq.connections import ArqRedis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.bus import keys
from core.bus.base import Bus, BusUnavailable, Control, Task, TaskHandler
from core.protocol import Report, WorkerInfo

log = logging.getLogger(__name__)

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
"""Errors that mean Redis cannot be reached (as opposed to a command Redis refused)."""

BACKSTOP_TIMEOUT_S = 30 * 24 * 3600
"""arq's own task timeout; the worker enforces each task's real budget well before this."""


def _dumps(obj: Any) -> bytes:
    # arq stores job results too; default=str turns an exception into its message
    return json.dumps(obj, default=str).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data)


class RedisBus(Bus):
    """The bus over Redis at ``redis_url`` (``redis://host:port/db``).

    ``pickup_timeout_s``: a task not picked up within it is dropped; ``keep_result_s``: how long
    a finished task still makes :meth:`dispatch` a no-op; ``poll_delay_s``: how often a worker
    looks at its queue; ``reports_maxlen``: the stream keeps about this many reports.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        pickup_timeout_s: float = 60.0,
        keep_result_s: float = 60.0,
        poll_delay_s: float = 0.2,
        reports_maxlen: int = 100_000,
        buffer_max: int = 100_000,
    ) -> None:
        self.redis_url = redis_url
        self.pickup_timeout_s = pickup_timeout_s
        self.keep_result_s = keep_result_s
        self.poll_delay_s = poll_delay_s
        self.reports_maxlen = reports_maxlen
        # bounded retries: a scheduler call fails fast (BusUnavailable) while Redis is down
        self._redis = self._client(retries=2)
        self._outbox: collections.deque[tuple[str, str]] = collections.deque(maxlen=buffer_max)
        self._outbox_event = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._sent = 0
        self._group_ready = False
        self._unacked: list[str] = []
        self._replay_pending = True
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"<RedisBus {self.redis_url} sent={self._sent} buffered={len(self._outbox)}>"

    def _client(self, retries: int) -> ArqRedis:
        """An ArqRedis that reconnects; ``retries=-1`` waits for Redis forever."""
        errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
        if retries < 0:
            errors.append(OSError)  # also retry the connect itself (connection refused)
        client: ArqRedis = ArqRedis.from_url(
            self.redis_url,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
            retry_on_error=errors,
            socket_connect_timeout=2,
            socket_timeout=15,
            health_check_interval=10,
        )
        client.job_serializer = _dumps
        client.job_deserializer = _loads
        return client

    # --- scheduler side ---------------------------------------------------------------
    async def dispatch(self, worker_id: str, job_id: str, attempt: int, timeout_s: float) -> None:
        queue = keys.task_queue(worker_id)
        last: Exception | None = None
        for _ in range(3):
            try:
                await self._redis.enqueue_job(
                    keys.TRAIN_FUNCTION,
                    job_id,
                    attempt,
                    float(timeout_s),
                    _job_id=keys.task_id(job_id, attempt),
                    _queue_name=queue,
                    _expires=self.pickup_timeout_s,
                )
                async with self._redis.pipeline(transaction=False) as pipe:
                    # a dead worker's queue vanishes on its own; live entries never outlast pickup
                    pipe.expire(queue, int(max(3600, 2 * self.pickup_timeout_s)))
                    # the newest attempt supersedes older ones (see get_control)
                    ttl_ms = int((timeout_s + self.pickup_timeout_s + 3600) * 1000)
                    pipe.set(keys.attempt(job_id), attempt, px=ttl_ms)
                    await pipe.execute()
                return
            except (*_DOWN, WatchError) as e:  # WatchError: the connection broke mid-transaction
                last = e
                await asyncio.sleep(0.1)
        raise BusUnavailable(f"cannot dispatch {job_id}: {last}") from last

    async def read_reports(self, timeout: float) -> list[Report]:
        try:
            return await asyncio.wait_for(self._read_reports(timeout), timeout + 20)
        except _DOWN as e:
            self._group_ready = False
            raise BusUnavailable(f"cannot read reports: {e}") from e

    async def _read_reports(self, timeout: float) -> list[Report]:
        r = self._redis
        if not self._group_ready:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
                await r.xgroup_create(keys.REPORTS_STREAM, keys.REPORTS_GROUP, id="0", mkstream=True)
            self._group_ready = True
        if self._unacked:
            await r.xack(keys.REPORTS_STREAM, keys.REPORTS_GROUP, *self._unacked)
            self._unacked = []
        # after a (re)start, first take what was delivered to us earlier but never acknowledged
        start = "0" if self._replay_pending else ">"
        block = None if self._replay_pending else max(1, int(min(timeout, 10) * 1000))
        try:
            reply = await r.xreadgroup(
                keys.REPORTS_GROUP, keys.REPORTS_GROUP, {keys.REPORTS_STREAM: start}, count=1000, block=block
            )
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            self._group_ready = False  # Redis lost the stream (restart without persistence)
            self._replay_pending = True
            return []
        entries = reply[0][1] if reply else []
        if self._replay_pending and not entries:
            self._replay_pending = False
            return await self._read_reports(timeout)
        reports = []
        for entry_id, fields in entries:
            self._unacked.append(entry_id)
            uid = fields.get(b"uid", b"").decode()
            if uid in self._seen:
                continue
            self._seen[uid] = None
            if len(self._seen) > 50_000:
                self._seen.popitem(last=False)
            try:
                reports.append(Report.model_validate_json(fields[b"report"]))
            except (KeyError, ValueError):
                log.warning("dropping a malformed report entry %s", entry_id)
        return reports

    async def workers(self) -> list[WorkerInfo]:
        try:
            names = [k async for k in self._redis.scan_iter(match=keys.WORKER_PREFIX + "*", count=1000)]
            values = await self._redis.mget(names) if names else []
        except _DOWN as e:
            raise BusUnavailable(f"cannot list workers: {e}") from e
        infos = []
        for raw in values:
            if raw is not None:
                with contextlib.suppress(ValueError):
                    infos.append(WorkerInfo.model_validate_json(raw))
        return infos

    async def set_control(self, job_id: str, action: Control | None, ttl: float = 60.0) -> None:
        try:
            if action is None:
                await self._redis.delete(keys.control(job_id))
            else:
                await self._redis.set(keys.control(job_id), action, px=int(ttl * 1000))
        except _DOWN as e:
            raise BusUnavailable(f"cannot set control for {job_id}: {e}") from e

    # --- worker side ------------------------------------------------------------------
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        try:
            await self._redis.set(keys.worker(info.id), info.model_dump_json(), px=int(ttl * 1000))
        except _DOWN as e:
            raise BusUnavailable(f"cannot heartbeat: {e}") from e

    async def unregister(self, worker_id: str) -> None:
        try:
            await self._redis.delete(keys.worker(worker_id))
        except _DOWN as e:
            raise BusUnavailable(f"cannot unregister {worker_id}: {e}") from e

    async def get_control(self, job_id: str, attempt: int | None = None) -> Control | None:
        try:
            value, latest = await self._redis.mget([keys.control(job_id), keys.attempt(job_id)])
        except _DOWN as e:
            raise BusUnavailable(f"cannot read control for {job_id}: {e}") from e
        if attempt is not None and latest is not None and int(latest) > attempt:
            return "cancel"
        action = value.decode() if value else None
        return action if action in ("cancel", "pause") else None

    async def publish(self, report: Report) -> None:
        if len(self._outbox) == self._outbox.maxlen:
            log.error("report buffer full; dropping the oldest report")
        self._outbox.append((uuid.uuid4().hex, report.model_dump_json(exclude_defaults=True)))
        self._outbox_event.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="openft-bus-flush")

    async def _flush_loop(self) -> None:
        delay = 0.05
        while True:
            if not self._outbox:
                self._outbox_event.clear()
                await self._outbox_event.wait()
                continue
            batch = list(self._outbox)[:200]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for uid, payload in batch:
                        pipe.xadd(
                            keys.REPORTS_STREAM,
                            {"uid": uid, "report": payload},
                            maxlen=self.reports_maxlen,
                            approximate=True,
                        )
                    await pipe.execute()
            except _DOWN as e:
                if delay == 0.05:  # once per outage
                    log.warning("Redis unreachable; buffering reports until it is back: %s", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except RedisError:
                log.exception("Redis refused reports; retrying")
                await asyncio.sleep(1.0)
                continue
            if delay > 0.05:
                log.warning("Redis is back; sending %d buffered reports", len(self._outbox))
            delay = 0.05
            for _ in batch:
                if self._outbox:
                    self._outbox.popleft()
            self._sent += len(batch)

    async def flush(self, timeout: float | None = None) -> bool:
        async def drained() -> None:
            while self._outbox:
                await asyncio.sleep(0.02)

        try:
            await asyncio.wait_for(drained(), timeout)
        except TimeoutError:
            return False
        return True

    async def serve_tasks(self, worker_id: str, handler: TaskHandler, max_jobs: int = 1) -> None:
        async def train(ctx: dict[str, Any], job_id: str, attempt: int, timeout_s: float) -> None:
            await handler(Task(job_id, int(attempt), float(timeout_s)))

        pool = self._client(retries=-1)  # the worker waits for Redis rather than failing
        worker = ArqWorker(
            functions=[
                arq_func(train, name=keys.TRAIN_FUNCTION, max_tries=1, timeout=BACKSTOP_TIMEOUT_S)
            ],
            queue_name=keys.task_queue(worker_id),
            redis_pool=pool,
            max_jobs=max_jobs,
            handle_signals=False,
            retry_jobs=False,
            poll_delay=self.poll_delay_s,
            keep_result=self.keep_result_s,
            health_check_interval=60,
            job_serializer=_dumps,
            job_deserializer=_loads,
            log_results=False,
        )
        try:
            while True:
                try:
                    await worker.main()
                except (RedisError, OSError) as e:
                    # e.g. a WatchError when the connection broke inside a transaction: arq's
                    # state (running tasks, slots) is intact, so polling simply starts again;
                    # but never when this task is being stopped (a cancellation a library
                    # turned into a TimeoutError, an OSError, must still stop the queue)
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise
                    log.warning("task queue of %s interrupted (%s); resuming", worker_id, e)
                    await asyncio.sleep(0.5)
        finally:
            try:
                await asyncio.wait_for(worker.close(), 30)
            except (Exception, asyncio.CancelledError):
                log.warning("arq worker of %s did not close cleanly", worker_id, exc_info=True)
                with contextlib.suppress(Exception):
                    await pool.aclose(close_connection_pool=True)

    async def close(self) -> None:
        if self._outbox:
            await self.flush(timeout=5)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(BaseException):
                await self._flusher
        await self._redis.aclose(close_connection_pool=True)
