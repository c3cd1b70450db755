"""``openft admin projects|keys|usage|audit``: the admin API through the official client.

The connection's key (``--api-key`` / ``$OPENFT_API_KEY``) must be an admin key; it is sent as
the official client's ``admin_api_key``. Tables for people, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sdk._client import Client
from sdk._config import resolve_api_key
from sdk.cli._common import EXIT_OK, add_command, call_and_show
from sdk.cli._output import Column, fmt_time, show

PROJECT_COLUMNS: list[Column] = [
    ("ID", lambda p: p.id), ("NAME", lambda p: p.name), ("STATUS", lambda p: p.status),
    ("CREATED", lambda p: fmt_time(p.created_at)),
]
KEY_COLUMNS: list[Column] = [
    ("ID", lambda k: k.id), ("NAME", lambda k: k.name), ("KEY", lambda k: k.redacted_value),
    ("CREATED", lambda k: fmt_time(k.created_at)),
]
USAGE_COLUMNS: list[Column] = [
    ("START", lambda r: fmt_time(r["start_time"])), ("PROJECT", lambda r: r.get("project_id")),
    ("MODEL", lambda r: r.get("model")), ("REQUESTS", lambda r: r["num_model_requests"]),
    ("INPUT", lambda r: r["input_tokens"]), ("OUTPUT", lambda r: r["output_tokens"]),
]
AUDIT_COLUMNS: list[Column] = [
    ("WHEN", lambda e: fmt_time(e.effective_at)), ("TYPE", lambda e: e.type),
    ("PROJECT", lambda e: e.project.id if e.project else ""),
    ("ACTOR", lambda e: e.actor.api_key.id if e.actor and e.actor.api_key else ""),
]


def admin_client(args: argparse.Namespace) -> Client:
    """A client whose key goes out as the admin key."""
    key = resolve_api_key(args.api_key)
    return Client(base_url=args.base_url, api_key=key, admin_api_key=key)


def _projects_list(args: argparse.Namespace) -> int:
    return call_and_show(
        args, lambda c: list(c.openai.admin.organization.projects.list(include_archived=args.include_archived)),
        connect=admin_client, table=PROJECT_COLUMNS)


def _projects_create(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.admin.organization.projects.create(name=args.name),
                         connect=admin_client, fields=PROJECT_COLUMNS)


def _projects_archive(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.admin.organization.projects.archive(args.project_id),
                         connect=admin_client, fields=PROJECT_COLUMNS)


def _projects_wandb_key(args: argparse.Namespace) -> int:
    """Show, set (``--set``: the key is read from stdin, never from the command line) or delete the
    project's own W&B key (openft's ``/organization/projects/{id}/integrations/wandb``)."""
    path = f"/organization/projects/{args.project_id}/integrations/wandb"
    with admin_client(args) as c:
        if args.set:
            out: Any = c.openai.post(path, body={"api_key": sys.stdin.readline().strip()}, cast_to=object)
        elif args.delete:
            out = c.openai.delete(path, cast_to=object)
        else:
            out = c.openai.get(path, cast_to=object)
    show(args.json, out, text=f"deleted the W&B key of {args.project_id}" if args.delete
         else f"{args.project_id}: W&B key {out['api_key_hint']}")
    return EXIT_OK


def _keys_list(args: argparse.Namespace) -> int:
    def call(c: Client) -> list[Any]:
        org = c.openai.admin.organization
        return list(org.projects.api_keys.list(args.project) if args.project else org.admin_api_keys.list())

    return call_and_show(args, call, connect=admin_client, table=KEY_COLUMNS)


def _keys_create(args: argparse.Namespace) -> int:
    """A service account with a new key in ``--project``, or a new admin key."""
    with admin_client(args) as c:
        org = c.openai.admin.organization
        if args.project:
            svc = org.projects.service_accounts.create(args.project, name=args.name)
            out: Any = {"id": svc.api_key.id if svc.api_key else None, "service_account": svc.id,
                        "value": svc.api_key.value if svc.api_key else None}
        else:
            made = org.admin_api_keys.create(name=args.name)
            out = {"id": made.id, "value": made.value}
    show(args.json, out, text=f"{out['id']}: {out['value']}  (shown once)")
    return EXIT_OK


def _keys_delete(args: argparse.Namespace) -> int:
    def call(c: Client) -> Any:
        org = c.openai.admin.organization
        return (org.projects.api_keys.delete(args.key_id, project_id=args.project) if args.project
                else org.admin_api_keys.delete(args.key_id))

    return call_and_show(args, call, connect=admin_client, deleted=True)


def _usage(args: argparse.Namespace) -> int:
    start = int(time.time()) - args.days * 86400
    with admin_client(args) as c:
        page = c.openai.admin.organization.usage.completions(
            start_time=start, bucket_width="1d", limit=min(args.days + 1, 31), group_by=["project_id", "model"])
    rows = [{"start_time": b.start_time, **r.model_dump()} for b in page.data for r in b.results]
    show(args.json, page.model_dump() if args.json else rows, table=USAGE_COLUMNS, rows=rows)
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"limit": args.limit}
    if args.type:
        kwargs["event_types"] = args.type
    if args.project:
        kwargs["project_ids"] = [args.project]
    return call_and_show(args, lambda c: c.openai.admin.organization.audit_logs.list(**kwargs).data,
                         connect=admin_client, table=AUDIT_COLUMNS)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``admin`` and its subcommands to the top-level subparsers ``sub``."""
    admin = sub.add_parser("admin", help="projects, keys, usage and audit log (admin key)")
    groups = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)

    projects = groups.add_parser("projects", help="projects").add_subparsers(dest="cmd", required=True)
    p = add_command(projects, parent, "list", _projects_list, "list projects")
    p.add_argument("--include-archived", action="store_true")
    add_command(projects, parent, "create", _projects_create, "create a project", "name")
    add_command(projects, parent, "archive", _projects_archive,
                "archive a project (its keys stop working)", "project_id")
    p = add_command(projects, parent, "wandb-key", _projects_wandb_key,
                    "the project's own W&B key (shown as a hint)", "project_id")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--set", action="store_true", help="set it to the key read from stdin")
    action.add_argument("--delete", action="store_true", help="forget it (jobs use the operator's key)")

    keys = groups.add_parser("keys", help="project and admin keys").add_subparsers(dest="cmd", required=True)
    p = add_command(keys, parent, "list", _keys_list, "a project's keys (--project) or the admin keys")
    p.add_argument("--project")
    p = add_command(keys, parent, "create", _keys_create, "a service-account key (--project) or an admin key", "name")
    p.add_argument("--project")
    p = add_command(keys, parent, "delete", _keys_delete, "revoke a key (a project's with --project)", "key_id")
    p.add_argument("--project")

    p = add_command(groups, parent, "usage", _usage, "tokens served per day, project and model")
    p.add_argument("--days", type=int, default=7)

    p = add_command(groups, parent, "audit", _audit, "the audit log, newest first")
    p.add_argument("--type", action="append", help="event type (repeatable)")
    p.add_argument("--project")
    p.add_argument("--limit", type=int, default=20)
