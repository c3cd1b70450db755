"""``openft admin …``: the CLI over the admin API (tables for people, --json for scripts)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

CliRun = Callable[..., tuple[int, str]]


def test_admin_cli(cli: CliRun, org_admin_key: str, api_key: str) -> None:
    code, out = cli(org_admin_key, "--json", "admin", "projects", "create", "cli team")
    assert code == 0
    project = json.loads(out)
    assert project["name"] == "cli team" and project["status"] == "active"
    code, out = cli(org_admin_key, "admin", "projects", "list")
    assert code == 0 and "cli team" in out and "NAME" in out
    code, out = cli(org_admin_key, "--json", "admin", "keys", "create", "bot",
                    "--project", project["id"])
    made = json.loads(out)
    assert made["value"].startswith("sk-")
    code, out = cli(org_admin_key, "admin", "keys", "list", "--project", project["id"])
    assert made["id"] in out and made["value"] not in out
    code, out = cli(org_admin_key, "--json", "admin", "keys", "delete", made["id"],
                    "--project", project["id"])
    assert json.loads(out)["deleted"] is True
    code, out = cli(org_admin_key, "--json", "admin", "audit", "--project", project["id"])
    assert [e["type"] for e in json.loads(out)][:2] == ["api_key.deleted", "api_key.created"]
    code, out = cli(org_admin_key, "--json", "admin", "usage", "--days", "2")
    assert code == 0 and json.loads(out)["object"] == "page"
    code, _ = cli(api_key, "admin", "projects", "list")  # a project key: refused
    assert code != 0


def test_a_projects_wandb_key_from_the_cli(cli: CliRun, org_admin_key: str, api_key: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("wandb_v1_cli_key_9876\n"))
    code, out = cli(org_admin_key, "admin", "projects", "wandb-key", "proj-a", "--set")
    assert (code, out.strip()) == (0, "proj-a: W&B key ...9876")
    code, out = cli(org_admin_key, "--json", "admin", "projects", "wandb-key", "proj-a")
    assert json.loads(out)["api_key_hint"] == "...9876" and "cli_key" not in out
    code, out = cli(org_admin_key, "--json", "admin", "projects", "wandb-key", "proj-a", "--delete")
    assert json.loads(out)["deleted"] is True
    code, out = cli(org_admin_key, "--json", "admin", "projects", "wandb-key", "proj-a")
    assert code == 1 and json.loads(out)["error"]["status"] == 404
