"""Read a W&B run back from its local files, as a test checks what a job logged (offline mode).

A run directory holds ``run-{id}.wandb``: W&B's record log (a 7-byte ``:W&B`` header, then
LevelDB-log framing in 32 KiB blocks) of ``wandb_internal_pb2.Record`` messages, the same
protobufs ``wandb sync`` uploads. :func:`read_run` folds them into what the W&B UI would show.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = b":W&B"
HEADER_LEN = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class LoggedRun:
    """What one run directory says: identity, config, history rows by step, summary, exit code."""

    id: str = ""
    project: str = ""
    entity: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def payloads(path: Path) -> Iterator[bytes]:
    """The record payloads of a ``.wandb`` file, reassembled across blocks."""
    data = path.read_bytes()
    assert data[:4] == HEADER, f"{path} is not a W&B record log"
    pos, parts = HEADER_LEN, []
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            parts = [chunk]
        elif kind == MIDDLE:
            parts.append(chunk)
        elif kind == LAST:
            yield b"".join([*parts, chunk])


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_run(run_dir: Path) -> LoggedRun:
    """Fold the run's records (run, config, history, summary, exit) into a :class:`LoggedRun`."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log_file,) = run_dir.glob("run-*.wandb")
    run = LoggedRun()
    for payload in payloads(log_file):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id, run.project, run.entity, run.name = r.run_id, r.project, r.entity, r.display_name
            run.tags = list(r.tags)
            run.config.update(_items(r.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def run_dirs(wandb_dir: Path) -> list[Path]:
    """Every run directory W&B wrote under ``wandb_dir`` (``OPENFT_WANDB_DIR``), oldest first."""
    return sorted((wandb_dir / "wandb").glob("*run-*"), key=lambda p: p.name)
