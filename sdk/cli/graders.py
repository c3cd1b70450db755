"""``openft graders run|validate``: try a grader on one sample before putting it in an eval."""

from __future__ import annotations

import argparse
from typing import Any

from sdk.cli._common import EXIT_OK, make_client
from sdk.cli._evals_json import json_arg
from sdk.cli._output import Column, show

RESULT_FIELDS: list[Column] = [
    ("reward", lambda r: r.reward),
    ("sub_rewards", lambda r: r.sub_rewards or None),
    ("errors", lambda r: ", ".join(k for k, v in r.metadata.errors.model_dump().items() if v is True) or None),
    ("execution_time", lambda r: f"{r.metadata.execution_time:.3f} s"),
    ("token_usage", lambda r: r.metadata.token_usage or None),
]


def _run(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"grader": json_arg(args.grader), "model_sample": args.sample}
    if args.item is not None:
        kwargs["item"] = json_arg(args.item)
    with make_client(args) as client:
        result = client.openai.fine_tuning.alpha.graders.run(**kwargs)
    show(args.json, result, fields=RESULT_FIELDS)
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        result = client.openai.fine_tuning.alpha.graders.validate(grader=json_arg(args.grader))
    show(args.json, result, text="valid")
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``graders`` and its subcommands to the top-level subparsers ``sub``."""
    graders = sub.add_parser("graders", help="run or validate a grader (string_check, model graders, python…)")
    cmds = graders.add_subparsers(dest="graders_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("run", parents=[parent], help="grade one sample")
    p.add_argument("grader", help="the grader as JSON, or a JSON file")
    p.add_argument("--sample", required=True, help="the model output to grade ({{sample.output_text}})")
    p.add_argument("--item", help="the item as JSON, or a JSON file ({{item.x}})")
    p.set_defaults(handler=_run)

    p = cmds.add_parser("validate", parents=[parent], help="check a grader without running it")
    p.add_argument("grader", help="the grader as JSON, or a JSON file")
    p.set_defaults(handler=_validate)
