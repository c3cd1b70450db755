"""The data quality report of a job: found in validating_files, served by the job's
``data_report`` route, kept as a ``fine-tune-results`` file, summarised in a ``warn`` event, the
same as ``openft validate`` finds offline; and the job options that act on it (``dedupe``,
``pii``, ``max_duplicate_share``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from live_server import LiveServer, make_client
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.protocol import data_copy_key, file_key
from core.store import Store
from core.tables import Job

pytestmark = pytest.mark.no_worker

TERMINAL = {"succeeded", "failed", "cancelled"}
EMAIL, AWS_KEY = "maria.rossi@example.org", "AKIAIOSFODNN7EXAMPLE"
WORDS = ["river", "mountain", "coffee", "window", "garden", "yellow", "quiet", "travel", "museum", "engine", "ticket",
         "winter", "orange"]


def _example(i: int, extra: str = "") -> dict[str, Any]:
    words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] + str(i * 13 + k) for k in range(8))
    return {"messages": [{"role": "user", "content": f"{words} {extra}".strip()},
                         {"role": "assistant", "content": f"answer {i} {WORDS[i % len(WORDS)]}"}]}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


TRAIN = _jsonl([_example(i) for i in range(16)] + [_example(3), _example(5)]
               + [_example(20, f"write to {EMAIL}"), _example(21, f"my key {AWS_KEY}")])
VALID = _jsonl([_example(7), _example(40)])


def _upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("d.jsonl", data, "application/jsonl"), purpose="fine-tune").id


def _run(client: openai.OpenAI, options: dict[str, Any]) -> tuple[str, str, Any]:
    train, valid = _upload(client, TRAIN), _upload(client, VALID)
    job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=train, validation_file=valid,
                                         extra_body={"openft": options})
    deadline = time.monotonic() + 120
    while (status := client.fine_tuning.jobs.retrieve(job.id).status) not in TERMINAL | {"queued"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job.id, train, status


def _report(client: openai.OpenAI, job_id: str) -> dict[str, Any]:
    return client.get(f"/fine_tuning/jobs/{job_id}/data_report", cast_to=object)  # type: ignore[return-value]


def test_report_route_event_file_and_the_cli_agree(jobs_client: openai.OpenAI, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    client = jobs_client
    job_id, _, status = _run(client, {})
    assert status == "queued"  # pii "warn" (the default) only reports
    report = _report(client, job_id)
    assert report["object"] == "fine_tuning.job.data_report" and report["job_id"] == job_id
    train = report["files"]["training_file"]
    assert train["exact_duplicates"]["n_examples"] == 2
    assert sorted(train["exact_duplicates"]["clusters"]) == [[4, 17], [6, 18]]
    assert train["sensitive"]["email"]["lines"] == [19] and train["sensitive"]["secret"]["lines"] == [20]
    assert report["leakage"]["exact"] == [{"validation_line": 1, "training_line": 8}]
    assert sum(train["token_histogram"].values()) == 20
    assert EMAIL not in json.dumps(report) and AWS_KEY not in json.dumps(report)
    warn = [e for e in client.fine_tuning.jobs.list_events(job_id) if e.message.startswith("Data quality:")]
    assert len(warn) == 1 and warn[0].level == "warn"
    assert "2 exact and 0 near duplicate example(s) of 20" in warn[0].message
    stored = client.files.retrieve(report["file_id"])
    assert stored.purpose == "fine-tune-results"
    assert json.loads(client.files.content(stored.id).content)["files"] == report["files"]

    from sdk.cli.main import main

    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAIN)
    assert main(["validate", str(path), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)["data_report"]["files"]["training_file"]
    for key in ("exact_duplicates", "near_duplicates", "sensitive", "answers"):
        assert offline[key] == train[key]


def test_dedupe_and_redact_train_on_a_copy(jobs_client: openai.OpenAI, store: Store, engine: Engine) -> None:
    client = jobs_client
    job_id, train_id, status = _run(client, {"dedupe": "exact", "pii": "redact"})
    assert status == "queued"
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.plan is not None and job.plan.n_train_examples == 18
        assert job.plan.data_keys["training_file"] == data_copy_key(job_id, "training_file")
    copy = store.read_bytes(data_copy_key(job_id, "training_file"))
    assert len(copy.splitlines()) == 18 and b"[EMAIL]" in copy and b"[SECRET]" in copy
    assert EMAIL.encode() not in copy and AWS_KEY.encode() not in copy
    assert store.read_bytes(file_key(train_id)) == TRAIN  # the uploaded file is never modified
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id)]
    assert any("dropped 2 duplicate example(s) and redacted 2 value(s)" in m for m in messages)


@pytest.mark.parametrize(("options", "code", "fragment"), [
    ({"pii": "fail"}, "sensitive_data", "Line 19: contains email"),
    ({"max_duplicate_share": 0.05}, "too_many_duplicates", "10% duplicate"),
])
def test_options_that_fail_the_job(jobs_client: openai.OpenAI, options: dict[str, Any], code: str,
                                   fragment: str) -> None:
    job_id, _, status = _run(jobs_client, options)
    job = jobs_client.fine_tuning.jobs.retrieve(job_id)
    assert status == "failed" and job.error is not None
    assert (job.error.code, job.error.param) == (code, "training_file") and fragment in job.error.message
    assert _report(jobs_client, job_id)["files"]["training_file"]["n_examples"] == 20  # the report is still there


def test_unknown_or_foreign_job_has_no_report(jobs_client: openai.OpenAI, embedded: LiveServer,
                                              other_key: str) -> None:
    job_id, _, _ = _run(jobs_client, {})
    with make_client(embedded, other_key) as other:
        for client, jid in ((jobs_client, "ftjob-nope"), (other, job_id)):
            with pytest.raises(openai.NotFoundError):
                _report(client, jid)
