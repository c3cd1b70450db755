"""Streaming request bytes into the artifact store from async code, off the event loop.

A :class:`StoreSink` wraps one atomic store writer: it buffers up to :data:`FLUSH_BYTES`, hands
full buffers to a worker thread (the store's writes block: disk, boto3), hashes what it writes,
and enforces a byte limit as the bytes arrive, so an oversize body is refused without being
stored. One buffer is written while the next fills (hashing and I/O release the GIL), so at
most two buffers are held and the event loop keeps parsing meanwhile. ``abort`` leaves nothing
behind; it is shielded from cancellation so a client that disconnects mid-upload cannot leave a
temporary object.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from anyio import to_thread

from api.errors import TooLarge
from core.store import Store, Writer

T = TypeVar("T")

FLUSH_BYTES = 4 * 1024 * 1024


class StoreSink:
    """An in-progress store object fed from async code; see the module docstring."""

    def __init__(self, writer: Writer, limit: int, too_large: TooLarge, md5: bool = False) -> None:
        self._writer = writer
        self._limit = limit
        self._too_large = too_large
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._md5: Any = hashlib.md5(usedforsecurity=False) if md5 else None
        self._done = False
        self._inflight: asyncio.Future[None] | None = None
        self.bytes = 0

    @classmethod
    async def open(
        cls, store: Store, key: str, *, limit: int, too_large: TooLarge, md5: bool = False
    ) -> StoreSink:
        """Start writing ``key``; at most ``limit`` bytes, else ``too_large`` is raised."""
        writer = await to_thread.run_sync(store.open_writer, key)
        return cls(writer, limit, too_large, md5=md5)

    async def write(self, data: bytes) -> None:
        """Append ``data``; raises the sink's :class:`TooLarge` once the limit is passed."""
        self.bytes += len(data)
        if self.bytes > self._limit:
            raise self._too_large
        self._buffer += data
        if len(self._buffer) >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        """Start writing the buffer in a thread once the previous write finished."""
        await self._wait_inflight()
        if not self._buffer:
            return
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._inflight = asyncio.get_running_loop().run_in_executor(None, self._write_chunk, chunk)

    async def _wait_inflight(self) -> None:
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            await inflight

    def _write_chunk(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)
        self._writer.write(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def md5(self) -> str | None:
        return None if self._md5 is None else self._md5.hexdigest()

    async def commit(self) -> None:
        """Flush and publish the object under its key."""
        await self._flush()
        await self._wait_inflight()
        await to_thread.run_sync(self._writer.commit)
        self._done = True

    async def commit_unless_empty(self, empty: Exception) -> None:
        """:meth:`commit`, or raise ``empty`` (the caller's 400) when nothing was written."""
        if self.bytes == 0:
            raise empty
        await self.commit()

    async def abort(self) -> None:
        """Discard everything written (no-op after commit or a previous abort)."""
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await self._wait_inflight()
            await to_thread.run_sync(self._writer.abort)


async def abort(sink: StoreSink | None) -> None:
    """Abort ``sink`` when one was opened (the error path of a request that may not have got to it)."""
    if sink is not None:
        await sink.abort()


async def record_or_delete(store: Store, key: str, insert: Callable[..., T], *args: Any) -> T:
    """Runs the blocking ``insert(*args)`` that records a stored object; if it fails, deletes ``key``."""
    try:
        return await to_thread.run_sync(insert, *args)
    except BaseException:
        await to_thread.run_sync(store.delete, key)
        raise
