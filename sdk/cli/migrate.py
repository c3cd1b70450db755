"""``openft migrate inventory|import|distill``: move in from OpenAI or any server of its API.

The source is ``--from-base-url`` (default OpenAI's) with ``--from-key`` (default
``$OPENAI_API_KEY``); the destination is this openft (the usual ``--base-url``/``--api-key``).
The source key is only ever held by the source client: it is never printed, logged or stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai

from sdk.cli._common import EXIT_FAILED, EXIT_OK, make_client
from sdk.cli._output import Column, fmt_bytes, fmt_time, print_table, show
from sdk.migrate import distill, plan_import, run_import, take_inventory
from sdk.migrate.distill import DistillError

OPENAI_BASE_URL = "https://api.openai.com/v1"
SOURCE_KEY_ENV = "OPENAI_API_KEY"

JOB_COLUMNS: list[Column] = [
    ("ID", lambda j: j.id), ("MODEL", lambda j: j.model), ("METHOD", lambda j: j.method),
    ("STATUS", lambda j: j.status), ("SUFFIX", lambda j: j.suffix or ""),
    ("TRAINED_TOKENS", lambda j: j.trained_tokens), ("HYPERPARAMETERS", lambda j: json.dumps(j.hyperparameters)),
    ("CREATED", lambda j: fmt_time(j.created_at)),
]
FILE_COLUMNS: list[Column] = [
    ("ID", lambda f: f.id), ("FILENAME", lambda f: f.filename), ("BYTES", lambda f: fmt_bytes(f.bytes)),
    ("CREATED", lambda f: fmt_time(f.created_at)),
]
MODEL_COLUMNS: list[Column] = [("ID", lambda m: m.id), ("OWNED_BY", lambda m: m.owned_by)]


def source_client(args: argparse.Namespace) -> openai.OpenAI:
    """The client of the source account (the key stays in memory only)."""
    key = args.from_key or os.environ.get(SOURCE_KEY_ENV)
    if not key:
        raise openai.OpenAIError(f"no source key: pass --from-key or set {SOURCE_KEY_ENV}")
    return openai.OpenAI(base_url=args.from_base_url, api_key=key, max_retries=4)


def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    pairs = {}
    for value in values or ():
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise ValueError(f"{flag} takes SOURCE=TARGET, got {value!r}")
        pairs[key] = target
    return pairs


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _inventory(args: argparse.Namespace) -> int:
    with source_client(args) as source:
        inventory = take_inventory(source)
    if args.json:
        show(True, inventory.to_json())
        return EXIT_OK
    for title, rows, columns in (("fine-tuning jobs", inventory.jobs, JOB_COLUMNS),
                                 ("fine-tune files", inventory.files, FILE_COLUMNS),
                                 ("fine-tuned models", inventory.models, MODEL_COLUMNS)):
        print(f"# {title} ({len(rows)})")
        print_table(rows, columns)
        print()
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    model_map = _pairs(args.model_map, "--model-map")
    file_map = _pairs(args.file_map, "--file-map")
    with source_client(args) as source, make_client(args) as client:
        dest = client.openai
        inventory = take_inventory(source)
        plan = plan_import(source, dest, inventory, job_ids=args.job or None, model_map=model_map, file_map=file_map)
        if args.dry_run:
            rows = plan.steps
            show(args.json, plan.to_json(), rows=rows, table=[
                ("SOURCE_JOB", lambda s: s.source_job), ("MODEL", lambda s: f"{s.source_model} -> {s.model}"),
                ("METHOD", lambda s: s.method["type"]),
                ("FILES", lambda s: ", ".join(f"{f.source_id}:{f.action}" for f in s.files)),
                ("NOTE", lambda s: s.skip_reason or ""),
            ])
            return EXIT_OK
        report = run_import(source, dest, plan, progress=None if args.json else _progress)
    if args.json:
        show(True, report.to_json())
    else:
        print(f"created {len(report.created_jobs)} jobs, skipped {len(report.skipped)}, failed {len(report.failed)}")
        for job, error in report.failed.items():
            print(f"  {job}: {error}")
        if report.left:
            print("left to import (re-run to continue): " + ", ".join(report.left))
    return EXIT_OK if report.ok else EXIT_FAILED


def _distill(args: argparse.Namespace) -> int:
    grader: dict[str, Any] | None = None
    if args.grader:
        text = Path(args.grader[1:]).read_text() if args.grader.startswith("@") else args.grader
        grader = json.loads(text)
    with source_client(args) as source, make_client(args) as client:
        try:
            report = distill(
                source, client.openai, source_model=args.model, prompts_path=Path(args.prompts),
                work_dir=Path(args.work_dir), base_model=args.base, model_map=_pairs(args.model_map, "--model-map"),
                holdout=args.holdout, grader=grader, suffix=args.suffix, requests_per_second=args.rps,
                progress=_progress,
            )
        except DistillError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        show(True, report.to_json())
        return EXIT_OK
    print(f"student {report.student_model} (job {report.job_id}, {report.n_train} examples)")
    print(f"held-out agreement with {report.source_model} over {report.n_holdout} prompts: "
          f"student {report.student_score:.3f} (pass rate {report.student_pass_rate:.2f}), "
          f"base {report.base_model} {report.base_score:.3f}")
    print_table(report.items, [
        ("PROMPT", lambda i: i.messages[-1].get("content")), ("SOURCE", lambda i: i.source_answer),
        ("STUDENT", lambda i: i.student_answer), ("SCORE", lambda i: "" if i.score is None else f"{i.score:.2f}"),
    ])
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``migrate`` and its subcommands to the top-level subparsers ``sub``."""
    migrate = sub.add_parser("migrate", help="move in from OpenAI: inventory, import, distill")
    cmds = migrate.add_subparsers(dest="migrate_command", metavar="COMMAND", required=True)
    source = argparse.ArgumentParser(add_help=False)
    group = source.add_argument_group("source")
    group.add_argument("--from-base-url", default=OPENAI_BASE_URL, metavar="URL",
                       help=f"the source server (default {OPENAI_BASE_URL})")
    group.add_argument("--from-key", default=None, metavar="KEY",
                       help=f"the source API key (default ${SOURCE_KEY_ENV}; never stored)")

    p = cmds.add_parser("inventory", parents=[parent, source], help="list the source's jobs, files and models")
    p.set_defaults(handler=_inventory)

    p = cmds.add_parser("import", parents=[parent, source], help="recreate the source's jobs here")
    p.add_argument("--job", action="append", metavar="ID", help="a source job to import (default: all succeeded)")
    p.add_argument("--model-map", action="append", metavar="SRC=DST", help="base model to use for SRC")
    p.add_argument("--file-map", action="append", metavar="FILE_ID=PATH",
                   help="a local copy of a source file the source will not let you download")
    p.add_argument("--dry-run", action="store_true", help="print the plan, create nothing")
    p.set_defaults(handler=_import)

    p = cmds.add_parser("distill", parents=[parent, source],
                        help="train an open model here on a source model's answers, and grade it")
    p.add_argument("--model", required=True, help="the source model to distill (e.g. an ft: model)")
    p.add_argument("--prompts", required=True, help="chat JSONL: prompts (answers, if any, are ignored)")
    p.add_argument("--work-dir", default="openft-distill", help="where sampled answers are kept for resuming")
    p.add_argument("--base", default=None, help="the open base to train (default: mapped from the source model)")
    p.add_argument("--model-map", action="append", metavar="SRC=DST", help="base model to use for SRC")
    p.add_argument("--holdout", type=float, default=0.2, help="share of prompts held out for grading")
    p.add_argument("--grader", default=None, help="grader JSON, or @file (default: fuzzy_match vs the source)")
    p.add_argument("--suffix", default="distilled")
    p.add_argument("--rps", type=float, default=2.0, help="requests per second to the source")
    p.set_defaults(handler=_distill)
