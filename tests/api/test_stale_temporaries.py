"""Interrupted writes leave nothing for ever: a server killed mid-upload never aborts its
temporary (``artifacts/.tmp/<hex>`` locally, an incomplete multipart upload on S3); start-up
and the housekeeping sweep remove those older than an hour, and leave writes in progress alone."""

from __future__ import annotations

import os
import time

import pytest
from fastapi import FastAPI
from live_server import run_server_in_thread

from core.store import S3_PART, LocalStore, S3Store, Store


def _temporaries(store: Store) -> list[str]:
    if isinstance(store, LocalStore):
        return sorted(p.name for p in store.tmp_dir.iterdir()) if store.tmp_dir.is_dir() else []
    assert isinstance(store, S3Store)
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix).get("Uploads", [])
    return sorted(u["UploadId"] for u in uploads)


def _interrupted_write(store: Store, key: str) -> None:
    """What a process killed mid-write leaves: a writer never committed nor aborted."""
    writer = store.open_writer(key)
    writer.write(b"x" * (S3_PART + 1))  # past one part, so S3 has started a multipart upload


def test_only_stale_temporaries_are_removed(store: Store) -> None:
    _interrupted_write(store, "files/file-killed")
    assert len(_temporaries(store)) == 1
    assert store.remove_stale_temporaries() == 0  # a write of a moment ago may still be going on
    assert len(_temporaries(store)) == 1
    time.sleep(1.1)
    assert store.remove_stale_temporaries(older_than=1) == 1
    assert _temporaries(store) == [] and store.list("") == []


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_start_up_removes_what_a_killed_upload_left(store: Store, app: FastAPI) -> None:
    assert isinstance(store, LocalStore)
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    stale, fresh = store.tmp_dir / "0a1b2c", store.tmp_dir / "3d4e5f"
    for path in (stale, fresh):
        path.write_bytes(b"half an upload")
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    with run_server_in_thread(app):  # a restart after the kill
        deadline = time.monotonic() + 30
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stale.exists() and fresh.exists()
