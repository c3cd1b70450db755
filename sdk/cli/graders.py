"""``openft graders run|validate``: try a grader on one sample before putting it in an eval."""

from __future__ import annotations

import argparse
from typing import Any

from sdk.cli._common import add_command, call_and_show, command_group
from sdk.cli._evals_json import json_arg
from sdk.cli._output import Column

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
    return call_and_show(args, lambda client: client.openai.fine_tuning.alpha.graders.run(**kwargs),
                         fields=RESULT_FIELDS)


def _validate(args: argparse.Namespace) -> int:
    grader = json_arg(args.grader)
    return call_and_show(args, lambda client: client.openai.fine_tuning.alpha.graders.validate(grader=grader),
                         text="valid")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``graders`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "graders", "run or validate a grader (string_check, model graders, python…)")

    p = add_command(cmds, parent, "run", _run, "grade one sample")
    p.add_argument("grader", help="the grader as JSON, or a JSON file")
    p.add_argument("--sample", required=True, help="the model output to grade ({{sample.output_text}})")
    p.add_argument("--item", help="the item as JSON, or a JSON file ({{item.x}})")

    p = add_command(cmds, parent, "validate", _validate, "check a grader without running it")
    p.add_argument("grader", help="the grader as JSON, or a JSON file")
