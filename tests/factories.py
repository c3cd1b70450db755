"""Factories and probes shared by tests: training data, stored files, leftovers in store and DB."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.services.files import register_file
from core import ids
from core.protocol import file_key
from core.store import LocalStore, S3Store, Store
from core.tables import File, Upload, UploadPart


def chat_example(i: int = 0, *, weight: int | None = None) -> dict[str, Any]:
    """One supervised example: a user question and the assistant's answer."""
    assistant: dict[str, Any] = {"role": "assistant", "content": f"answer {i}"}
    if weight is not None:
        assistant["weight"] = weight
    return {"messages": [{"role": "user", "content": f"question {i}"}, assistant]}


def preference_example(i: int = 0) -> dict[str, Any]:
    """One DPO example."""
    return {
        "input": {"messages": [{"role": "user", "content": f"question {i}"}]},
        "preferred_output": [{"role": "assistant", "content": f"good {i}"}],
        "non_preferred_output": [{"role": "assistant", "content": f"bad {i}"}],
    }


def jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes, one object per line, trailing newline."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def chat_jsonl(n: int = 10) -> bytes:
    """``n`` supervised examples as JSONL."""
    return jsonl(chat_example(i) for i in range(n))


def create_stored_file(
    engine: Engine, store: Store, project_id: str, data: bytes, *, purpose: str = "fine-tune",
    filename: str = "train.jsonl", status: str = "processed",
) -> File:
    """A file row plus its bytes, without going through HTTP (for scheduler/worker tests)."""
    import hashlib

    file_id = ids.file_id()
    store.write_bytes(file_key(file_id), data)
    with Session(engine, expire_on_commit=False) as session:
        row = register_file(session, file_id=file_id, project_id=project_id, purpose=purpose,
                            filename=filename, nbytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        row.status = status
        session.commit()
    return row


def store_leftovers(store: Store) -> list[str]:
    """Every object in the store, temporaries and unfinished S3 multipart uploads included."""
    found = store.list("")
    if isinstance(store, LocalStore) and store.tmp_dir.exists():
        found += [f".tmp/{p.name}" for p in store.tmp_dir.iterdir()]
    if isinstance(store, S3Store):
        resp = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        found += [f"multipart:{u['Key']}" for u in resp.get("Uploads", [])]
    return sorted(found)


def row_counts(engine: Engine) -> dict[str, int]:
    """How many files, uploads and upload parts the database holds."""
    with Session(engine) as session:
        return {
            table.__tablename__: int(session.exec(select(func.count()).select_from(table)).one())
            for table in (File, Upload, UploadPart)
        }
