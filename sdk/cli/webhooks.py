"""``openft webhooks``: a project's webhook endpoints through the official client's ``webhooks`` resource.

``create|list|get|update|delete|rotate-secret|test`` are OpenAI's routes; ``deliveries`` is
openft's list of an endpoint's deliveries with their attempts. The project key of the connection
is used. Tables for people, ``--json`` for scripts; a signing secret is printed only by ``create``
and ``rotate-secret``, as the server shows it only then.
"""

from __future__ import annotations

import argparse
from typing import Any

from sdk.cli._common import EXIT_FAILED, EXIT_OK, make_client
from sdk.cli._output import Column, fmt_time, show, show_deleted

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
    with make_client(args) as c:
        made = c.openai.webhooks.create(name=args.name, url=args.url, event_types=args.event)
    show(args.json, made, fields=SECRET_FIELDS)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        rows = list(c.openai.webhooks.list())
    show(args.json, rows, table=ENDPOINT_COLUMNS)
    return EXIT_OK


def _get(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        endpoint = c.openai.webhooks.retrieve(args.endpoint_id)
    show(args.json, endpoint, fields=ENDPOINT_COLUMNS)
    return EXIT_OK


def _update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {k: v for k, v in (("name", args.name), ("url", args.url),
                                                  ("event_types", args.event)) if v is not None}
    with make_client(args) as c:
        endpoint = c.openai.webhooks.update(args.endpoint_id, **changes)
    show(args.json, endpoint, fields=ENDPOINT_COLUMNS)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        deleted = c.openai.webhooks.delete(args.endpoint_id)
    show_deleted(args.json, deleted)
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        rotated = c.openai.webhooks.rotate_secret(
            args.endpoint_id, keep_old_secret_active_for_24_hours=args.keep_old_secret)
    show(args.json, rotated, fields=SECRET_FIELDS)
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    """Send a sample event now; exit 1 when the receiver did not answer 2xx."""
    with make_client(args) as c:
        result = c.openai.webhooks.test(args.endpoint_id, event_type=args.event)
    show(args.json, result, text=f"{args.event} -> HTTP {result.status_code}")
    return EXIT_OK if 200 <= result.status_code < 300 else EXIT_FAILED


def _deliveries(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        page: Any = c.openai.get(f"/webhook_endpoints/{args.endpoint_id}/deliveries", cast_to=object,
                                 options={"params": {"limit": args.limit}})
    show(args.json, page["data"], table=DELIVERY_COLUMNS)
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``webhooks`` and its subcommands to the top-level subparsers ``sub``."""
    hooks = sub.add_parser("webhooks", help="webhook endpoints and their deliveries")
    cmds = hooks.add_subparsers(dest="webhooks_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("create", parents=[parent], help="a new endpoint (prints its signing secret once)")
    p.add_argument("url")
    p.add_argument("--name", required=True)
    p.add_argument("--event", action="append", required=True, metavar="TYPE",
                   help="event type to send, e.g. fine_tuning.job.succeeded (repeatable)")
    p.set_defaults(handler=_create)
    p = cmds.add_parser("list", parents=[parent], help="the project's endpoints")
    p.set_defaults(handler=_list)
    p = cmds.add_parser("get", parents=[parent], help="one endpoint")
    p.add_argument("endpoint_id")
    p.set_defaults(handler=_get)
    p = cmds.add_parser("update", parents=[parent], help="change an endpoint's name, URL or event types")
    p.add_argument("endpoint_id")
    p.add_argument("--name")
    p.add_argument("--url")
    p.add_argument("--event", action="append", metavar="TYPE", help="the new event types (repeatable)")
    p.set_defaults(handler=_update)
    p = cmds.add_parser("delete", parents=[parent], help="delete an endpoint")
    p.add_argument("endpoint_id")
    p.set_defaults(handler=_delete)
    p = cmds.add_parser("rotate-secret", parents=[parent], help="a new signing secret (printed once)")
    p.add_argument("endpoint_id")
    p.add_argument("--keep-old-secret", action="store_true", help="the old secret keeps signing for 24 hours")
    p.set_defaults(handler=_rotate)
    p = cmds.add_parser("test", parents=[parent], help="send a sample event now")
    p.add_argument("endpoint_id")
    p.add_argument("--event", default="fine_tuning.job.succeeded", metavar="TYPE")
    p.set_defaults(handler=_test)
    p = cmds.add_parser("deliveries", parents=[parent], help="an endpoint's deliveries and their attempts")
    p.add_argument("endpoint_id")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(handler=_deliveries)
