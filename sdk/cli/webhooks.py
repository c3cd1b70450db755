"""``openft webhooks``: a project's webhook endpoints through the official client's ``webhooks`` resource.

``create|list|get|update|delete|rotate-secret|test`` are OpenAI's routes; ``deliveries`` is
openft's list of an endpoint's deliveries with their attempts. The project key of the connection
is used. Tables for people, ``--json`` for scripts; a signing secret is printed only by ``create``
and ``rotate-secret``, as the server shows it only then.
"""

from __future__ import annotations

import argparse
from typing import Any

from sdk._client import Client
from sdk.cli._common import EXIT_FAILED, EXIT_OK, add_command, call_and_show, command_group, make_client
from sdk.cli._output import Column, fmt_time, show

ENDPOINT_COLUMNS: list[Column] = [
    ("ID", lambda w: w.id), ("NAME", lambda w: w.name), ("URL", lambda w: w.url),
    ("EVENTS", lambda w: ",".join(w.event_types)), ("SECRET", lambda w: w.signing_secret_hint),
    ("CREATED", lambda w: fmt_time(w.created_at)),
]
SECRET_FIELDS: list[Column] = [*ENDPOINT_COLUMNS, ("SIGNING SECRET", lambda w: f"{w.signing_secret}  (shown once)")]
DELIVERY_COLUMNS: list[Column] = [
    ("ID", lambda d: d["id"]), ("EVENT", lambda d: d["event_type"]), ("STATUS", lambda d: d["status"]),
    ("ATTEMPTS", lambda d: " ".join(str(a.get("status_code") or a.get("error") or "-") for a in d["attempts"])),
    ("CREATED", lambda d: fmt_time(d["created_at"])),
]


def _create(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.webhooks.create(name=args.name, url=args.url,
                                                                  event_types=args.event), fields=SECRET_FIELDS)


def _list(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: list(c.openai.webhooks.list()), table=ENDPOINT_COLUMNS)


def _get(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.webhooks.retrieve(args.endpoint_id), fields=ENDPOINT_COLUMNS)


def _update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {k: v for k, v in (("name", args.name), ("url", args.url),
                                                  ("event_types", args.event)) if v is not None}
    return call_and_show(args, lambda c: c.openai.webhooks.update(args.endpoint_id, **changes),
                         fields=ENDPOINT_COLUMNS)


def _delete(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.webhooks.delete(args.endpoint_id), deleted=True)


def _rotate(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda c: c.openai.webhooks.rotate_secret(
        args.endpoint_id, keep_old_secret_active_for_24_hours=args.keep_old_secret), fields=SECRET_FIELDS)


def _test(args: argparse.Namespace) -> int:
    """Send a sample event now; exit 1 when the receiver did not answer 2xx."""
    with make_client(args) as c:
        result = c.openai.webhooks.test(args.endpoint_id, event_type=args.event)
    show(args.json, result, text=f"{args.event} -> HTTP {result.status_code}")
    return EXIT_OK if 200 <= result.status_code < 300 else EXIT_FAILED


def _deliveries(args: argparse.Namespace) -> int:
    def call(c: Client) -> Any:
        page: Any = c.openai.get(f"/webhook_endpoints/{args.endpoint_id}/deliveries", cast_to=object,
                                 options={"params": {"limit": args.limit}})
        return page["data"]

    return call_and_show(args, call, table=DELIVERY_COLUMNS)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``webhooks`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "webhooks", "webhook endpoints and their deliveries")
    p = add_command(cmds, parent, "create", _create, "a new endpoint (prints its signing secret once)", "url")
    p.add_argument("--name", required=True)
    p.add_argument("--event", action="append", required=True, metavar="TYPE",
                   help="event type to send, e.g. fine_tuning.job.succeeded (repeatable)")
    add_command(cmds, parent, "list", _list, "the project's endpoints")
    add_command(cmds, parent, "get", _get, "one endpoint", "endpoint_id")
    p = add_command(cmds, parent, "update", _update, "change an endpoint's name, URL or event types", "endpoint_id")
    p.add_argument("--name")
    p.add_argument("--url")
    p.add_argument("--event", action="append", metavar="TYPE", help="the new event types (repeatable)")
    add_command(cmds, parent, "delete", _delete, "delete an endpoint", "endpoint_id")
    p = add_command(cmds, parent, "rotate-secret", _rotate, "a new signing secret (printed once)", "endpoint_id")
    p.add_argument("--keep-old-secret", action="store_true", help="the old secret keeps signing for 24 hours")
    p = add_command(cmds, parent, "test", _test, "send a sample event now", "endpoint_id")
    p.add_argument("--event", default="fine_tuning.job.succeeded", metavar="TYPE")
    p = add_command(cmds, parent, "deliveries", _deliveries, "an endpoint's deliveries and their attempts",
                    "endpoint_id")
    p.add_argument("--limit", type=int, default=20)
