"""``openft admin …``: the CLI over the admin API (tables for people, --json for scripts)."""

from __future__ import annotations

import json

import pytest
from live_server import LiveServer

from sdk.cli.main import main


def run(server: LiveServer, key: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["--base-url", server.base_url, "--api-key", key, *argv])
    return code, capsys.readouterr().out


def test_admin_cli(server: LiveServer, org_admin_key: str, api_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(server, org_admin_key, capsys, "--json", "admin", "projects", "create", "cli team")
    assert code == 0
    project = json.loads(out)
    assert project["name"] == "cli team" and project["status"] == "active"
    code, out = run(server, org_admin_key, capsys, "admin", "projects", "list")
    assert code == 0 and "cli team" in out and "NAME" in out
    code, out = run(server, org_admin_key, capsys, "--json", "admin", "keys", "create", "bot",
                    "--project", project["id"])
    made = json.loads(out)
    assert made["value"].startswith("sk-")
    code, out = run(server, org_admin_key, capsys, "admin", "keys", "list", "--project", project["id"])
    assert made["id"] in out and made["value"] not in out
    code, out = run(server, org_admin_key, capsys, "--json", "admin", "keys", "delete", made["id"],
                    "--project", project["id"])
    assert json.loads(out)["deleted"] is True
    code, out = run(server, org_admin_key, capsys, "--json", "admin", "audit", "--project", project["id"])
    assert [e["type"] for e in json.loads(out)][:2] == ["api_key.deleted", "api_key.created"]
    code, out = run(server, org_admin_key, capsys, "--json", "admin", "usage", "--days", "2")
    assert code == 0 and json.loads(out)["object"] == "page"
    code, _ = run(server, api_key, capsys, "admin", "projects", "list")  # a project key: refused
    assert code != 0
