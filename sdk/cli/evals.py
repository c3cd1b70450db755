"""``openft evals create|list|get|run|items``.

``create`` takes the JSON body of OpenAI's ``POST /v1/evals`` (name, data_source_config,
testing_criteria), so an eval exported from OpenAI runs unchanged. ``run`` uploads a JSONL
of items (or takes a file id) and starts one run per ``--model`` side by side (none: the
samples come from the file), shows live progress, and prints the runs as a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sdk.cli._common import EXIT_FAILED, EXIT_OK, add_command, call_and_show, command_group, make_client
from sdk.cli._evals_json import json_arg
from sdk.cli._output import Column, fmt_time, show
from sdk.resources.evals import RunProgress, total_items

EVAL_COLUMNS: list[Column] = [
    ("ID", lambda e: e.id),
    ("NAME", lambda e: e.name),
    ("CRITERIA", lambda e: ", ".join(c.name for c in e.testing_criteria)),
    ("CREATED", lambda e: fmt_time(e.created_at)),
]
RUN_COLUMNS: list[Column] = [
    ("RUN", lambda r: r.id),
    ("MODEL", lambda r: r.model or "(samples from the data)"),
    ("STATUS", lambda r: r.status),
    ("ITEMS", lambda r: f"{r.result_counts.total}/{total_items(r) or r.result_counts.total}"),
    ("PASSED", lambda r: r.result_counts.passed),
    ("FAILED", lambda r: r.result_counts.failed),
    ("ERRORED", lambda r: r.result_counts.errored),
    ("PASS_RATE", lambda r: f"{r.result_counts.passed / r.result_counts.total:.1%}" if r.result_counts.total else ""),
    ("ERROR", lambda r: r.error.message if r.error and r.error.message else ""),
]
ITEM_COLUMNS: list[Column] = [
    ("#", lambda i: i.datasource_item_id),
    ("STATUS", lambda i: i.status),
    ("SCORES", lambda i: " ".join(f"{r.name}={r.score:.2f}" for r in i.results)),
    ("OUTPUT", lambda i: i.sample.output[0].content if i.sample.output else ""),
    ("ITEM", lambda i: json.dumps(i.datasource_item, ensure_ascii=False)),
]


def _create(args: argparse.Namespace) -> int:
    body = json_arg(args.definition)
    if not isinstance(body, dict):
        raise ValueError("the eval definition must be a JSON object")
    if args.name:
        body["name"] = args.name
    return call_and_show(args, lambda client: client.evals.create(**body), fields=EVAL_COLUMNS)


def _list(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.evals.list(limit=100, order="desc").data, table=EVAL_COLUMNS)


def _get(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        ev = client.evals.retrieve(args.eval_id)
        runs = client.evals.runs.list(args.eval_id, limit=100).data
    if args.json:
        show(True, {"eval": ev, "runs": runs})
        return EXIT_OK
    show(False, ev, fields=EVAL_COLUMNS)
    print()
    show(False, runs, table=RUN_COLUMNS)
    return EXIT_OK


def _data_source(args: argparse.Namespace, source: dict[str, Any], model: str | None) -> dict[str, Any]:
    if model is None:
        return {"type": "jsonl", "source": source}
    if args.template:
        template = json_arg(args.template)
        messages = {"type": "template", "template": template if isinstance(template, list) else [template]}
    else:
        messages = {"type": "item_reference", "item_reference": args.item_reference}
    params = {k: v for k, v in (("temperature", args.temperature), ("max_completion_tokens", args.max_tokens),
                                ("seed", args.seed)) if v is not None}
    return {"type": "completions", "model": model, "source": source, "input_messages": messages,
            "sampling_params": params}


def _run(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        if args.file_id:
            source = {"type": "file_id", "id": args.file_id}
        else:
            with open(args.data, "rb") as fh:
                file = client.files.create(file=(Path(args.data).name, fh), purpose="evals")
            source = {"type": "file_id", "id": file.id}
        models = args.model or [None]
        created = [client.evals.runs.create(args.eval_id, data_source=_data_source(args, source, m),  # type: ignore[arg-type]
                                            **({"name": args.name} if args.name else {}))
                   for m in models]
        runs: list[Any] = created
        if not args.no_wait:
            progress = None if args.json else RunProgress()
            runs = [client.evals.runs.wait(r.id, eval_id=args.eval_id, poll_interval=args.poll_interval,
                                           on_update=progress) for r in created]
    show(args.json, runs, table=RUN_COLUMNS)
    return EXIT_OK if all(r.status in ("completed", "queued", "in_progress") for r in runs) else EXIT_FAILED


def _items(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"eval_id": args.eval_id, "limit": 100}
    if args.status:
        kwargs["status"] = args.status
    return call_and_show(args, lambda client: list(client.evals.runs.output_items.list(args.run_id, **kwargs)),
                         table=ITEM_COLUMNS)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``evals`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "evals", "evals: graders over data, run against any model served here")

    p = add_command(cmds, parent, "create", _create, "create an eval from OpenAI's JSON body")
    p.add_argument("definition", help="JSON (or a JSON file) with data_source_config and testing_criteria")
    p.add_argument("--name", help="the eval's name (overrides the one in the definition)")

    add_command(cmds, parent, "list", _list, "the project's evals, newest first")

    add_command(cmds, parent, "get", _get, "one eval and its runs", "eval_id")

    p = add_command(cmds, parent, "run", _run, "run an eval on one or more models, side by side", "eval_id")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", metavar="FILE", help="JSONL of items ({\"item\": {...}} per line) to upload")
    data.add_argument("--file-id", help="an uploaded JSONL file of items")
    p.add_argument("-m", "--model", action="append",
                   help="model to sample (repeat for several; none: samples come from the data)")
    p.add_argument("--item-reference", default="item.messages",
                   help="the item field holding the chat messages to sample (default: item.messages)")
    p.add_argument("--template", help="JSON list of messages with {{item.x}} templates, instead of --item-reference")
    p.add_argument("--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--name", help="run name")
    p.add_argument("--no-wait", action="store_true", help="start the runs and return")
    p.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)

    p = add_command(cmds, parent, "items", _items, "a run's output items", "eval_id", "run_id")
    p.add_argument("--status", choices=("pass", "fail"))
