"""``openft files …`` and the CLI's output contract: ``--json`` parses, tables for people,
API errors as a message and exit status 1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_upload_list_get_download_delete_as_json(
    cli: Callable[..., Any], train_path: Path, tmp_path: Path
) -> None:
    uploaded = cli("files", "upload", train_path, "--json")
    assert uploaded.code == 0, uploaded.err
    file = uploaded.json()
    assert file["id"].startswith("file-") and file["object"] == "file"
    assert file["bytes"] == train_path.stat().st_size and file["filename"] == "train.jsonl"
    assert file["purpose"] == "fine-tune"

    listed = cli("files", "list", "--json")
    assert listed.code == 0 and [f["id"] for f in listed.json()] == [file["id"]]
    # the global position of --json works too
    assert cli("--json", "files", "get", file["id"]).json()["id"] == file["id"]

    out = tmp_path / "copy.jsonl"
    downloaded = cli("files", "download", file["id"], "-o", out, "--json")
    assert downloaded.code == 0 and downloaded.json()["path"] == str(out.resolve())
    assert out.read_bytes() == train_path.read_bytes()

    deleted = cli("files", "delete", file["id"], "--json")
    assert deleted.json() == {"id": file["id"], "object": "file", "deleted": True}

    missing = cli("files", "get", file["id"], "--json")
    assert missing.code == 1
    error = missing.json()["error"]
    assert (
        error["status"] == 404 and error["type"] == "invalid_request_error" and file["id"] in error["message"]
    )
    assert "error: 404" in missing.err


def test_tables_for_people(cli: Callable[..., Any], train_path: Path) -> None:
    file_id = cli("files", "upload", train_path, "--json").json()["id"]
    table = cli("files", "list")
    assert table.code == 0
    header, row = table.out.splitlines()
    assert header.split() == ["ID", "FILENAME", "PURPOSE", "BYTES", "STATUS", "CREATED"]
    assert row.split()[:3] == [file_id, "train.jsonl", "fine-tune"]

    details = cli("files", "get", file_id)
    assert f"ID        {file_id}" in details.out and "PURPOSE   fine-tune" in details.out


def test_list_follows_pages_with_all(cli: Callable[..., Any], train_path: Path) -> None:
    ids = [cli("files", "upload", train_path, "--json").json()["id"] for _ in range(3)]
    first_page = cli("files", "list", "--limit", "2", "--json").json()
    everything = cli("files", "list", "--limit", "2", "--all", "--json").json()
    assert len(first_page) == 2
    assert [f["id"] for f in everything] == list(reversed(ids))  # newest first, each once


def test_missing_key_and_unreachable_server(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENFT_API_KEY")
    no_key = cli("files", "list")
    assert no_key.code == 2 and "OPENFT_API_KEY" in no_key.err

    wrong = cli("files", "list", "--api-key", "sk-wrong", "--json")
    assert wrong.code == 1 and wrong.json()["error"]["status"] == 401

    down = cli("files", "list", "--api-key", "sk-x", "--base-url", "http://127.0.0.1:9")
    assert down.code == 1 and "cannot reach" in down.err


def test_module_entry_point_runs_the_cli(openft_env: None) -> None:
    """``python -m sdk.cli.main`` (what the ``openft`` console script calls) lists the commands."""
    done = subprocess.run(
        [sys.executable, "-m", "sdk.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    for command in ("files", "jobs", "models", "chat", "validate"):
        assert command in done.stdout
