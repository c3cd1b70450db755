"""The server commands of ``openft`` (api/cli.py), reached through the one console script."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_process import ROOT, openft_serve

from api.cli import build_parser as server_parser
from sdk.cli.main import SERVER_COMMANDS, build_parser, main


def test_the_client_cli_names_every_server_command() -> None:
    sub = next(a for a in server_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == SERVER_COMMANDS
    help_text = " ".join(build_parser().format_help().split())
    assert "server commands (see openft COMMAND --help): serve, api, scheduler, worker, keys, db" in help_text


def test_db_upgrade_runs_through_the_openft_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENFT_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENFT_DATA_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    assert "openft: database schema is current" in capsys.readouterr().out
    assert (tmp_path / "openft.db").exists()


def test_client_options_before_a_server_command_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base-url", "http://x", "serve"]) == 2
    assert "--base-url http://x only applies to client commands, not to serve" in capsys.readouterr().err


def test_server_command_help_comes_from_the_server_side() -> None:
    done = subprocess.run([sys.executable, "-m", "sdk.cli.main", "keys", "create", "--help"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: openft keys create") and "--data-dir" in done.stdout


@pytest.mark.slow
def test_a_second_serve_start_says_where_the_admin_key_is(tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    with openft_serve(tmp_path) as first:
        assert f"created an admin API key (kept in {key_file})" in first.output
    key = key_file.read_text().strip()
    assert key in first.output
    with openft_serve(tmp_path) as second:
        assert f"openft: the admin API key is in {key_file}" in second.output
        assert key not in second.output  # printed once, on creation
