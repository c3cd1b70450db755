"""``openft validate`` reports exactly what the server's ``validating_files`` stage reports.

Every bad file of tests/data/bad goes both ways: offline through the CLI, and through a real
job on the embedded scheduler (no worker: validation needs none). The job's ``error`` and the
CLI's must be the same code, param and message (with the line number).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from embedded import embedded_server, fast_settings
from factories import chat_jsonl
from openft_env import clear_openft_env

from api.services.keys import create_key
from core.db import make_engine, upgrade
from core.settings import Settings
from core.store import store_from_settings
from sdk._client import Client
from sdk.cli.main import main


def _bad_cases() -> Any:
    """tests/scheduler/bad_cases.py (not on the path when only tests/sdk is collected)."""
    import importlib.util
    import sys

    if "bad_cases" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "bad_cases", Path(__file__).resolve().parents[1] / "scheduler" / "bad_cases.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["bad_cases"] = module
    return sys.modules["bad_cases"]


CASES: list[dict[str, Any]] = _bad_cases().load_cases()
case_bytes = _bad_cases().case_bytes


@dataclass
class Server:
    client: Client
    url: str
    key: str
    data_dir: Path
    valid_training_file: str


@pytest.fixture(scope="module")
def validating_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """API + scheduler, no worker; shares its model cache with the CLI's offline validator."""
    data_dir = tmp_path_factory.mktemp("validate") / "data"
    with pytest.MonkeyPatch.context() as mp:
        clear_openft_env(mp)
        mp.setenv("OPENFT_DATA_DIR", str(data_dir))
        settings = fast_settings(Settings(data_dir=data_dir))
        engine = make_engine(settings)
        upgrade(engine)
        key = create_key(engine, "proj-a")
        with (
            embedded_server(settings, engine, store_from_settings(settings), worker=False) as live,
            Client(base_url=live.url, api_key=key) as client,
        ):
            train = client.files.create(file=("train.jsonl", chat_jsonl(10)), purpose="fine-tune")
            yield Server(client, live.url, key, data_dir, train.id)
        engine.dispose()


def server_error(server: Server, case: dict[str, Any], data: bytes) -> dict[str, Any] | str:
    """The ``error`` of a job whose ``case["param"]`` file holds ``data``, once it failed; or the
    message of a 400 when the API refused the file (or the job) before any validation ran."""
    try:
        file = server.client.files.create(file=(case["file"], data), purpose="fine-tune")
        files = ({"training_file": file.id} if case["param"] == "training_file"
                 else {"training_file": server.valid_training_file, "validation_file": file.id})
        method = {"type": case["method"]}
        job = server.client.fine_tuning.jobs.create(model="tiny-chat", method=method, **files)  # type: ignore[arg-type]
    except openai.BadRequestError as exc:
        return exc.message
    deadline = time.monotonic() + 60
    while job.status in ("validating_files",) and time.monotonic() < deadline:
        time.sleep(0.1)
        job = server.client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "failed" and job.error is not None, (case["file"], job.status)
    return {"code": job.error.code, "param": job.error.param, "message": job.error.message}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_cli_and_server_report_the_same_error(
    validating_server: Server, case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = case_bytes(case)
    path = tmp_path / case["file"]
    path.write_bytes(data)
    capsys.readouterr()
    code = main(["validate", str(path), "--model", "tiny-chat", "--method", case["method"],
                 "--param", case["param"], "--json"])
    offline = json.loads(capsys.readouterr().out)
    assert code == 1 and offline["valid"] is False
    assert offline["error"]["code"] == case["code"] and offline["error"]["line"] == case["line"]
    assert case["message"] in offline["error"]["message"]

    online = server_error(validating_server, case, data)
    if isinstance(online, str):  # refused at upload (e.g. an empty file): no job, no validation
        assert case["code"] == "invalid_n_examples" and case["line"] is None, online
        return
    assert {k: offline["error"][k] for k in ("code", "param", "message")} == online


def test_a_valid_file_passes_both_ways(
    validating_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(12))
    capsys.readouterr()
    assert main(["validate", str(path), "--model", "tiny-chat", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["n_examples"] == 12 and report["total_tokens"] > 0
    assert report["n_truncated"] == 0

    assert main(["validate", str(path), "--model", "tiny-chat"]) == 0
    text = capsys.readouterr().out
    assert "valid supervised data for tiny-chat" in text and "examples" in text and "12" in text

    file = validating_server.client.files.create(file=path, purpose="fine-tune")
    job = validating_server.client.fine_tuning.jobs.create(model="tiny-chat", training_file=file.id)
    deadline = time.monotonic() + 60
    while job.status == "validating_files" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = validating_server.client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "queued", job.error  # no worker here: it waits, validated
    validating_server.client.fine_tuning.jobs.cancel(job.id)


def test_sdk_validate_local_raises_the_servers_error(validating_server: Server, tmp_path: Path) -> None:
    from core.validation import DataValidationError

    path = tmp_path / "nine.jsonl"
    path.write_bytes(chat_jsonl(9))
    with pytest.raises(DataValidationError) as exc:
        validating_server.client.files.validate_local(path, model="ft:tiny-chat:proj-a:x:abcdefgh")
    assert exc.value.as_error() == {
        "code": "invalid_n_examples", "param": "training_file",
        "message": "Training file has 9 example(s), but must have at least 10 examples",
    }


def test_unknown_model_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENFT_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(10))
    assert main(["validate", str(path), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err
