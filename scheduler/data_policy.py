"""What a job does with its data quality report (``core.data_quality``), per its openft options.

- ``pii``: ``warn`` (default) only reports; ``fail`` fails the job naming the first line and
  kind; ``redact`` trains on a copy whose values are replaced by typed placeholders
  (``[EMAIL]``, ``[SECRET]``, ...). The uploaded file is never modified.
- ``dedupe``: ``exact`` or ``near`` trains on a copy without the later copies of each cluster.
- ``max_duplicate_share``: fails the job when more of the training examples are duplicates.

Copies are written under ``core.protocol.data_copy_key`` and named in ``Job.stats["data_keys"]``
(the worker reads them instead of the file). The report is kept under ``data_report_key``, as a
``fine-tune-results`` file of the job's project, and summarised in one ``warn`` event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from core import ids, protocol
from core.data_quality import QualityPass
from core.jsonl import iter_records
from core.sensitive import redact
from core.store import Store
from core.tables import File, Job
from core.validation import DataValidationError


@dataclass
class DataPlan:
    """What training will read: copies by param, and how many examples each lost."""

    data_keys: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    redacted: dict[str, int] = field(default_factory=dict)


def check(report: dict[str, Any], options: protocol.Extensions) -> None:
    """Raise :class:`DataValidationError` when the report breaks the job's ``pii`` or
    ``max_duplicate_share`` option."""
    for param, found in report["files"].items():
        if options.pii == "fail" and found["sensitive"]:
            line, kind = min((e["lines"][0], k) for k, e in found["sensitive"].items())
            raise DataValidationError(
                "sensitive_data", param,
                f"Line {line}: contains {kind.replace('_', ' ')} (openft pii is 'fail'; use 'redact' to train on "
                "a copy without such values)", line)
    train = report["files"]["training_file"]
    share = (train["exact_duplicates"]["n_examples"] + train["near_duplicates"]["n_examples"]) / max(
        train["n_examples"], 1)
    if options.max_duplicate_share is not None and share > options.max_duplicate_share:
        raise DataValidationError(
            "too_many_duplicates", "training_file",
            f"Training file has {share:.0%} duplicate or near-duplicate examples, more than the job's "
            f"max_duplicate_share of {options.max_duplicate_share:.0%}")


def plan(store: Store, job_id: str, files: dict[str, str], quality: QualityPass, report: dict[str, Any],
         options: protocol.Extensions) -> DataPlan:
    """Write the copies the options ask for (blocking: run it in a thread)."""
    out = DataPlan()
    for param, file_id in files.items():
        drop = quality.duplicate_lines(param, options.dedupe) if options.dedupe != "off" else set()
        redacting = options.pii == "redact" and bool(report["files"][param]["sensitive"])
        if not drop and not redacting:
            continue
        key = protocol.data_copy_key(job_id, param)
        redacted = 0
        with store.writer(key) as w:
            for record in iter_records(store.iter_bytes(protocol.file_key(file_id))):
                if record.line in drop:
                    continue
                value = record.value
                if redacting:
                    value, n = _redacted(value)
                    redacted += n
                w.write(json.dumps(value, ensure_ascii=False).encode() + b"\n")
        out.data_keys[param] = key
        out.dropped[param] = len(drop)
        out.redacted[param] = redacted
    return out


def _redacted(value: Any) -> tuple[Any, int]:
    """``value`` with every string's personal data and secrets replaced; how many were."""
    if isinstance(value, str):
        text, found = redact(value)
        return text, len(found)
    if isinstance(value, list):
        pairs = [_redacted(v) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        items = {k: _redacted(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, sum(n for _, n in items.values())
    return value, 0


def store_report(store: Store, job: Job, report: dict[str, Any]) -> File:
    """Keep the report under ``data_report_key`` and as a ``fine-tune-results`` file; the File row."""
    data = json.dumps(report, indent=1).encode()
    store.write_bytes(protocol.data_report_key(job.id), data)
    file_id = ids.file_id()
    store.write_bytes(protocol.file_key(file_id), data)
    return File(id=file_id, project_id=job.project_id, purpose="fine-tune-results",
                filename=f"{job.id}_data_report.json", bytes=len(data), status="processed")


def summary(report: dict[str, Any], data_plan: DataPlan) -> Iterable[tuple[Literal["info", "warn"], str]]:
    """``(level, message)`` events: one ``warn`` summary of the findings, one per copy made."""
    if report["warnings"]:
        yield "warn", "Data quality: " + " ".join(report["warnings"])
    for param in data_plan.data_keys:
        which = "training" if param == "training_file" else "validation"
        parts = []
        if data_plan.dropped.get(param):
            parts.append(f"dropped {data_plan.dropped[param]} duplicate example(s)")
        if data_plan.redacted.get(param):
            parts.append(f"redacted {data_plan.redacted[param]} value(s) of personal data or secrets")
        if parts:
            yield "info", f"Training on a copy of the {which} file that " + " and ".join(parts) + "."
