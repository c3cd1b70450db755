"""``openft models list|get|delete|export|merge``."""

from __future__ import annotations

import argparse
from typing import Any

from sdk.cli._common import EXIT_FAILED, EXIT_OK, add_command, call_and_show, command_group, make_client
from sdk.cli._output import Column, fmt_time, show

COLUMNS: list[Column] = [
    ("ID", lambda m: m.id),
    ("OWNED_BY", lambda m: m.owned_by),
    ("CREATED", lambda m: fmt_time(m.created)),
]


def _list(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.models.list().data, table=COLUMNS)


def _get(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.models.retrieve(args.model), fields=COLUMNS)


def _delete(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.models.delete(args.model), deleted=True)


def _export(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        path = client.models.export(args.model, format=args.format, dest=args.output, extract=args.extract,
                                    quantization=args.quantization)
    report = {"model": args.model, "format": args.format, "path": str(path.resolve()), "extracted": args.extract}
    show(args.json, report, text=f"wrote {path}")
    return EXIT_OK


MERGE_FIELDS: list[Column] = [
    ("ID", lambda m: m.id),
    ("STATUS", lambda m: m.status),
    ("MODEL", lambda m: m.fine_tuned_model),
    ("METHOD", lambda m: m.method),
    ("PARENTS", lambda m: ", ".join(m.models)),
    ("ERROR", lambda m: m.error.message if m.error else ""),
]


def _merge(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        merge = client.models.merge(args.models, method=args.method, weights=args.weights, density=args.density,
                                    suffix=args.suffix)
        if not args.no_wait:
            merge = client.models.wait_merge(merge.id, timeout=args.timeout)
    show(args.json, merge, fields=MERGE_FIELDS)
    return EXIT_OK if merge.status != "failed" else EXIT_FAILED


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``models`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "models", "list, export and delete models")

    add_command(cmds, parent, "list", _list, "base and fine-tuned models")

    add_command(cmds, parent, "get", _get, "show one model", "model")

    add_command(cmds, parent, "delete", _delete, "delete a fine-tuned model", "model")

    p = add_command(cmds, parent, "export", _export, "download a model's weights", "model")
    p.add_argument("--format", choices=("adapter", "merged", "gguf", "ollama"), default="adapter",
                   help="the LoRA adapter, the base model with the adapter merged in, a GGUF file, or a GGUF "
                        "file with an Ollama Modelfile")
    p.add_argument("--quantization", help="GGUF tensor type for gguf/ollama: f16 (default), q8_0, q4_0, ...")
    p.add_argument("-o", "--output", required=True, help="file, or a directory with --extract")
    p.add_argument("--extract", action="store_true", help="unpack an archive into the directory OUTPUT")

    p = add_command(cmds, parent, "merge", _merge, "merge fine-tuned models of one base into a new one")
    p.add_argument("models", nargs="+", help="two or more ft: models")
    p.add_argument("--method", choices=("linear", "ties", "dare_ties", "dare_linear", "cat"), default="linear")
    p.add_argument("--weights", type=float, nargs="+", help="one per model (default: equal)")
    p.add_argument("--density", type=float, help="share of each adapter kept (ties, dare_*)")
    p.add_argument("--suffix", help="suffix of the new model's id")
    p.add_argument("--no-wait", action="store_true", help="print the queued merge instead of waiting")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the merge")
