"""Periodic clean-up owned by the API: expired uploads, expired files, and the temporaries of
interrupted writes (a server killed mid-upload leaves a local temporary or an incomplete S3
multipart upload that nothing else would ever remove: see ``Store.remove_stale_temporaries``).

Runs in every API process; each step is idempotent (conditional updates, deletes of missing
objects are no-ops), so several replicas may run it at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread

from api.services import files, uploads
from api.state import AppState, periodic

log = logging.getLogger("openft.api.housekeeping")

INTERVAL_SECONDS = 60.0


def sweep(state: AppState) -> tuple[int, int]:
    """One pass: (uploads expired, files removed: expired or deleted ones no active job uses)."""
    return uploads.expire_uploads(state), files.purge_files(state)


async def _sweep_and_log(state: AppState) -> None:
    expired, deleted = await to_thread.run_sync(sweep, state)
    temporaries = await to_thread.run_sync(state.store.remove_stale_temporaries)
    if expired or deleted or temporaries:
        log.info("housekeeping: %d uploads expired, %d files deleted, %d stale temporaries removed",
                 expired, deleted, temporaries)


@contextlib.asynccontextmanager
async def housekeeping_lifespan(state: AppState, interval: float = INTERVAL_SECONDS) -> AsyncIterator[None]:
    """Resume interrupted file checks, then sweep (stale temporaries included) at start-up and
    every ``interval`` seconds until shutdown."""
    for file_id in await to_thread.run_sync(files.pending_file_ids, state):
        files.schedule_processing(state, file_id)
    async with periodic("housekeeping", interval, lambda: _sweep_and_log(state)):
        yield
