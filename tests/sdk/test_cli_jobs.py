"""``openft jobs create|list|get|events|cancel|pause|resume`` against the API (no scheduler runs,
so jobs stay where the test puts them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from job_factories import set_job_status
from sqlalchemy.engine import Engine


def test_create_from_a_local_path_with_options(
    cli: Callable[..., Any], train_path: Path, jobs_api: None
) -> None:
    result = cli(
        "jobs",
        "create",
        "-m",
        "tiny-chat",
        "-t",
        train_path,
        "--suffix",
        "cli",
        "--seed",
        "7",
        "--n-epochs",
        "2",
        "--batch-size",
        "4",
        "--metadata",
        "team=ml",
        "--metadata",
        "run=1",
        "--json",
    )
    assert result.code == 0, result.err
    job = result.json()
    assert "uploaded" in result.err and job["training_file"] in result.err
    assert job["id"].startswith("ftjob-") and job["model"] == "tiny-chat" and job["seed"] == 7
    assert job["metadata"] == {"team": "ml", "run": "1"} and job["status"] == "validating_files"
    hyper = job["method"]["supervised"]["hyperparameters"]
    assert (hyper["n_epochs"], hyper["batch_size"]) == (2, 4)

    listed = cli("jobs", "list", "--json").json()
    assert [j["id"] for j in listed] == [job["id"]]
    table = cli("jobs", "list").out.splitlines()
    assert table[0].split() == ["ID", "MODEL", "STATUS", "FINE_TUNED_MODEL", "CREATED"]
    assert table[1].split()[:3] == [job["id"], "tiny-chat", "validating_files"]
    details = dict(line.split(None, 1) for line in cli("jobs", "get", job["id"]).out.splitlines())
    assert details["id"] == job["id"] and details["status"] == "validating_files" and details["seed"] == "7"

    events = cli("jobs", "events", job["id"], "--json").json()
    assert any(e["message"] == f"Created fine-tuning job: {job['id']}" for e in events)

    cancelled = cli("jobs", "cancel", job["id"])
    assert cancelled.code == 0 and cancelled.out.strip() == f"{job['id']}: cancelled"
    again = cli("jobs", "cancel", job["id"], "--json")
    assert again.code == 1 and again.json()["error"]["status"] == 400


def test_pause_and_resume(cli: Callable[..., Any], train_path: Path, engine: Engine, jobs_api: None) -> None:
    file_id = cli("files", "upload", train_path, "--json").json()["id"]
    job_id = cli("jobs", "create", "-m", "tiny-chat", "-t", file_id, "--json").json()["id"]
    set_job_status(engine, job_id, "queued")
    paused = cli("jobs", "pause", job_id, "--json")
    assert paused.code == 0 and paused.json()["status"] == "paused"
    resumed = cli("jobs", "resume", job_id, "--json")
    assert resumed.code == 0 and resumed.json()["status"] == "queued"


def test_bad_arguments(cli: Callable[..., Any], train_path: Path, jobs_api: None) -> None:
    unknown_model = cli("jobs", "create", "-m", "no-such-model", "-t", train_path, "--json")
    assert unknown_model.code == 1 and unknown_model.json()["error"]["param"] == "model"
    bad_metadata = cli("jobs", "create", "-m", "tiny-chat", "-t", "file-x", "--metadata", "novalue")
    assert bad_metadata.code == 1 and "KEY=VALUE" in bad_metadata.err
    beta_without_dpo = cli("jobs", "create", "-m", "tiny-chat", "-t", "file-x", "--beta", "0.1")
    assert beta_without_dpo.code == 1 and "--method dpo" in beta_without_dpo.err
    with pytest.raises(SystemExit) as exc:  # argparse: a missing required option
        cli("jobs", "create", "-m", "tiny-chat")
    assert exc.value.code == 2
