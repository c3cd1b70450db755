"""``openft models list|get|delete|export``."""

from __future__ import annotations

import argparse
from typing import Any

from sdk.cli._common import EXIT_OK, make_client
from sdk.cli._output import Column, fmt_time, show

COLUMNS: list[Column] = [
    ("ID", lambda m: m.id),
    ("OWNED_BY", lambda m: m.owned_by),
    ("CREATED", lambda m: fmt_time(m.created)),
]


def _list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        models = client.models.list().data
    show(args.json, models, table=COLUMNS)
    return EXIT_OK


def _get(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        model = client.models.retrieve(args.model)
    show(args.json, model, fields=COLUMNS)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        deleted = client.models.delete(args.model)
    show(args.json, deleted, text=f"deleted {deleted.id}" if deleted.deleted else f"not deleted: {deleted.id}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        path = client.models.export(args.model, format=args.format, dest=args.output, extract=args.extract)
    report = {"model": args.model, "format": args.format, "path": str(path.resolve()), "extracted": args.extract}
    show(args.json, report, text=f"wrote {path}")
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``models`` and its subcommands to the top-level subparsers ``sub``."""
    models = sub.add_parser("models", help="list, export and delete models")
    cmds = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("list", parents=[parent], help="base and fine-tuned models")
    p.set_defaults(handler=_list)

    p = cmds.add_parser("get", parents=[parent], help="show one model")
    p.add_argument("model")
    p.set_defaults(handler=_get)

    p = cmds.add_parser("delete", parents=[parent], help="delete a fine-tuned model")
    p.add_argument("model")
    p.set_defaults(handler=_delete)

    p = cmds.add_parser("export", parents=[parent], help="download a model's weights")
    p.add_argument("model")
    p.add_argument("--format", choices=("adapter", "merged"), default="adapter",
                   help="the LoRA adapter, or the base model with the adapter merged in")
    p.add_argument("-o", "--output", required=True, help="tar file, or a directory with --extract")
    p.add_argument("--extract", action="store_true", help="unpack into the directory OUTPUT")
    p.set_defaults(handler=_export)
