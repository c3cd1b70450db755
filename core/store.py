"""The artifact store: one interface over a local directory and S3, streaming and atomic.

Keys are ``/``-separated paths (``files/{id}``, ``jobs/{id}/checkpoints/step-N/…``,
``models/{id}/…``); both backends use the same keys. A writer is a context manager: bytes
become visible under the key only when the block exits cleanly (local: rename of a temporary
file; S3: completing a multipart upload), so a reader never sees a partial object. Directory
trees are written file by file and sealed with a ``_MANIFEST.json`` written last; readers of a
tree (``download_dir``) require the manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1024 * 1024
S3_PART = 8 * 1024 * 1024
MANIFEST = "_MANIFEST.json"
STALE_TEMPORARY_SECONDS = 3600
"""A temporary object untouched this long belongs to an interrupted write (a killed process)."""


class StoreError(Exception):
    """The store could not be reached or refused an operation."""


class ObjectNotFound(StoreError):
    """No object under the key."""


def public_message(exc: StoreError) -> str:
    """What a user may read about a store failure: never a store key, path or bucket (those go
    to the operator's log)."""
    if isinstance(exc, ObjectNotFound):
        return "Artifact store error: an object the job needs is missing from the artifact store."
    return "Artifact store error: the artifact store could not be reached or refused an operation."


class Writer(ABC):
    """An in-progress object; see :meth:`Store.writer`."""

    bytes_written: int = 0

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class Store(ABC):
    """Interface of the artifact store."""

    @abstractmethod
    def open_writer(self, key: str) -> Writer:
        """Start writing ``key``; prefer :meth:`writer`, which commits or aborts for you."""

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Writer]:
        """Write ``key`` atomically: committed on clean exit, discarded on an exception."""
        w = self.open_writer(key)
        try:
            yield w
        except BaseException:
            w.abort()
            raise
        w.commit()

    @abstractmethod
    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Stream the object's bytes; raises :class:`ObjectNotFound`."""

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; a missing one is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`StoreError` unless the store is reachable."""

    @abstractmethod
    def remove_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> int:
        """Remove what interrupted writes left behind (a process killed mid-write never aborts):
        temporaries, or incomplete S3 multipart uploads, not written to for ``older_than``
        seconds. Returns how many were removed. A write in progress keeps its temporary fresh."""

    # --- conveniences built on the primitives ------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        with self.writer(key) as w:
            w.write(data)

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_bytes(key))

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json.dumps(obj, indent=1, sort_keys=True).encode())

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_stream(self, key: str, stream: BinaryIO, chunk_size: int = CHUNK) -> int:
        with self.writer(key) as w:
            while chunk := stream.read(chunk_size):
                w.write(chunk)
        return w.bytes_written

    def delete_prefix(self, prefix: str) -> None:
        prefix = prefix.rstrip("/") + "/"
        # the manifest goes first so that a half-deleted tree is never taken as complete
        for key in sorted(self.list(prefix), key=lambda k: not k.endswith(MANIFEST)):
            self.delete(key)

    def upload_dir(self, local: Path, prefix: str) -> None:
        """Copy a local directory tree under ``prefix``, sealing it with a manifest."""
        prefix = prefix.rstrip("/")
        self.delete(f"{prefix}/{MANIFEST}")
        files = sorted(p for p in Path(local).rglob("*") if p.is_file())
        for path in files:
            with path.open("rb") as fh:
                self.write_stream(f"{prefix}/{path.relative_to(local).as_posix()}", fh)
        manifest = {p.relative_to(local).as_posix(): p.stat().st_size for p in files}
        self.write_json(f"{prefix}/{MANIFEST}", manifest)

    def has_dir(self, prefix: str) -> bool:
        return self.exists(f"{prefix.rstrip('/')}/{MANIFEST}")

    def download_dir(self, prefix: str, local: Path) -> Path:
        """Copy a sealed tree to ``local`` (replacing it atomically); raises ObjectNotFound."""
        prefix = prefix.rstrip("/")
        manifest: dict[str, int] = self.read_json(f"{prefix}/{MANIFEST}")
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=f".{local.name}."))
        try:
            for rel in manifest:
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("wb") as fh:
                    for chunk in self.iter_bytes(f"{prefix}/{rel}"):
                        fh.write(chunk)
            if local.exists():
                shutil.rmtree(local)
            os.replace(tmp, local)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return local


# --- local directory ----------------------------------------------------------------------
class _LocalWriter(Writer):
    def __init__(self, final: Path, tmp_dir: Path) -> None:
        self.final = final
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_dir / uuid.uuid4().hex
        self.fh = self.tmp.open("wb")
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.bytes_written += len(data)

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class LocalStore(Store):
    """Artifacts as files under a root directory; temporaries under ``root/.tmp``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = self.root / ".tmp"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StoreError(f"key escapes the store: {key!r}")
        return path

    def open_writer(self, key: str) -> Writer:
        return _LocalWriter(self._path(key), self.tmp_dir)

    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        return _iter_file(fh, chunk_size)

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # prune empty parents up to the root
        for parent in path.parents:
            if parent == self.root or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and self.tmp_dir not in p.parents
        )

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"store directory not writable: {self.root}")

    def remove_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> int:
        if not self.tmp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):  # committed or aborted meanwhile
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


def _iter_file(fh: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(chunk_size):
            yield chunk


# --- S3 -------------------------------------------------------------------------------------
class _S3Writer(Writer):
    """Buffers up to one part; small objects are one PUT, large ones a multipart upload."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.bytes_written += len(data)
        while len(self.buffer) >= S3_PART:
            self._flush_part(bytes(self.buffer[:S3_PART]))
            del self.buffer[:S3_PART]

    def _flush_part(self, body: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        resp = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"ETag": resp["ETag"], "PartNumber": number})

    def commit(self) -> None:
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            return
        if self.buffer:
            self._flush_part(bytes(self.buffer))
            self.buffer.clear()
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class S3Store(Store):
    """Artifacts in an S3 bucket under a prefix (boto3; any S3-compatible endpoint)."""

    def __init__(self, url: str, endpoint_url: str | None = None, region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
        )

    def _key(self, key: str) -> str:
        if ".." in key.split("/"):
            raise StoreError(f"key escapes the store: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _strip(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def open_writer(self, key: str) -> Writer:
        return _S3Writer(self.client, self.bucket, self._key(key))

    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from exc
            raise StoreError(str(exc)) from exc
        return _iter_s3(body, chunk_size)

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(self._strip(obj["Key"]) for obj in page.get("Contents", []))
        return sorted(keys)

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise StoreError(f"S3 bucket {self.bucket!r} not reachable: {exc}") from exc

    def remove_stale_temporaries(self, older_than: float = STALE_TEMPORARY_SECONDS) -> int:
        cutoff = time.time() - older_than
        prefix = f"{self.prefix}/" if self.prefix else ""
        removed = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff and self._last_written(upload) < cutoff:
                    with contextlib.suppress(Exception):  # completed or aborted meanwhile
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                        removed += 1
        return removed

    def _last_written(self, upload: dict[str, Any]) -> float:
        """When a part of a multipart upload was last written (its start when it has none)."""
        parts = self.client.list_parts(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        times = [part["LastModified"].timestamp() for part in parts.get("Parts", [])]
        return max(times, default=upload["Initiated"].timestamp())

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (development and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:
            self.client.create_bucket(Bucket=self.bucket)


def _iter_s3(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def open_store(url: str, endpoint_url: str | None = None, region: str = "us-east-1") -> Store:
    """The store for a ``s3://bucket/prefix`` URL or a local directory path."""
    if url.startswith("s3://"):
        return S3Store(url, endpoint_url=endpoint_url, region=region)
    return LocalStore(url)


def store_from_settings(settings: Any) -> Store:
    """The store configured by :class:`core.settings.Settings`."""
    return open_store(settings.resolved_store_url, settings.s3_endpoint_url, settings.s3_region)
