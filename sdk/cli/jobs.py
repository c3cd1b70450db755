"""``openft jobs create|list|get|events|checkpoints|cancel|pause|resume|follow|plot``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openai.types.fine_tuning import FineTuningJob

from sdk._client import Client
from sdk.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_command,
    add_paging,
    call_and_show,
    command_group,
    make_client,
    paged,
)
from sdk.cli._output import Column, fmt_time, print_json, show
from sdk.cli.files import upload_file

COLUMNS: list[Column] = [
    ("ID", lambda j: j.id),
    ("MODEL", lambda j: j.model),
    ("STATUS", lambda j: j.status),
    ("FINE_TUNED_MODEL", lambda j: j.fine_tuned_model),
    ("CREATED", lambda j: fmt_time(j.created_at)),
]
FIELDS: list[Column] = [
    ("id", lambda j: j.id),
    ("status", lambda j: j.status),
    ("model", lambda j: j.model),
    ("method", lambda j: j.method.type if j.method else None),
    ("training_file", lambda j: j.training_file),
    ("validation_file", lambda j: j.validation_file),
    ("hyperparameters", lambda j: j.hyperparameters),
    ("seed", lambda j: j.seed),
    ("suffix", lambda j: getattr(j, "suffix", None)),
    ("fine_tuned_model", lambda j: j.fine_tuned_model),
    ("trained_tokens", lambda j: j.trained_tokens),
    ("result_files", lambda j: ", ".join(j.result_files)),
    ("error", lambda j: f"{j.error.code}: {j.error.message} (param {j.error.param})" if j.error else None),
    ("created", lambda j: fmt_time(j.created_at)),
    ("finished", lambda j: fmt_time(j.finished_at)),
    ("estimated_finish", lambda j: fmt_time(j.estimated_finish)),
    ("metadata", lambda j: j.metadata),
]
EVENT_COLUMNS: list[Column] = [
    ("CREATED", lambda e: fmt_time(e.created_at)),
    ("LEVEL", lambda e: e.level),
    ("MESSAGE", lambda e: e.message),
]
CHECKPOINT_COLUMNS: list[Column] = [
    ("ID", lambda c: c.id),
    ("STEP", lambda c: c.step_number),
    ("MODEL", lambda c: c.fine_tuned_model_checkpoint),
    ("TRAIN_LOSS", lambda c: c.metrics.train_loss),
    ("VALID_LOSS", lambda c: c.metrics.valid_loss),
]


def job_exit_code(job: FineTuningJob) -> int:
    """0 when the job succeeded (or stopped at a pause), 1 when it failed or was cancelled."""
    return EXIT_OK if job.status in ("succeeded", "paused") else EXIT_FAILED


def _file_id(client: Client, value: str | None) -> str | None:
    """A file id as given, or the id of a local path uploaded first."""
    if value is None or value.startswith("file-") or not Path(value).is_file():
        return value
    file = upload_file(client, Path(value), "fine-tune")
    print(f"uploaded {value} as {file.id}", file=sys.stderr)
    return file.id


def _metadata(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--metadata takes KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def _method(args: argparse.Namespace) -> dict[str, Any]:
    hyper: dict[str, Any] = {}
    for name in ("n_epochs", "batch_size", "learning_rate_multiplier"):
        value = getattr(args, name)
        if value is not None:
            hyper[name] = value
    if args.method == "dpo" and args.beta is not None:
        hyper["beta"] = args.beta
    elif args.beta is not None:
        raise ValueError("--beta applies to --method dpo only")
    return {"type": args.method, args.method: {"hyperparameters": hyper}}


def _follow(client: Client, job_id: str, args: argparse.Namespace) -> int:
    """Live progress (or JSON lines of events) until the job stops; exit code from its status."""
    if args.json:
        for event in client.jobs.follow(job_id, poll_interval=args.poll_interval):
            print_json(event, lines=True)
        job = client.jobs.retrieve(job_id)
        print_json(job, lines=True)
    else:
        job = client.jobs.wait(job_id, progress=True, poll_interval=args.poll_interval, stream=sys.stdout)
        print(f"{job.id}: {job.status}" + (f" -> {job.fine_tuned_model}" if job.fine_tuned_model else ""))
        if job.error:
            print(f"error: {job.error.code}: {job.error.message}", file=sys.stderr)
    return job_exit_code(job)


def _create(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        extra_body = json.loads(args.extra_body) if args.extra_body else None
        kwargs: dict[str, Any] = {
            "model": args.model,
            "training_file": _file_id(client, args.training_file),
            "method": _method(args),
        }
        optional = {
            "validation_file": _file_id(client, args.validation_file),
            "suffix": args.suffix,
            "seed": args.seed,
            "metadata": _metadata(args.metadata),
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        job = client.fine_tuning.jobs.create(**kwargs, extra_body=extra_body)
        if not args.wait:
            show(args.json, job, fields=FIELDS)
            return EXIT_OK
        if not args.json:
            print(f"created {job.id}")
        return _follow(client, job.id, args)


def _list(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: paged(client.fine_tuning.jobs.list(limit=args.limit), args),
                         table=COLUMNS)


def _get(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.fine_tuning.jobs.retrieve(args.job_id), fields=FIELDS)


def _action(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        with make_client(args) as client:
            job = getattr(client.fine_tuning.jobs, name)(args.job_id)
        show(args.json, job, text=f"{job.id}: {job.status}")
        return EXIT_OK

    run.__doc__ = f"``jobs {name} ID``"
    return run


def _events(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        events = paged(client.fine_tuning.jobs.list_events(args.job_id, limit=args.limit), args)
    show(args.json, events, table=EVENT_COLUMNS, rows=list(reversed(events)))  # oldest first reads like a log
    return EXIT_OK


def _checkpoints(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.fine_tuning.jobs.checkpoints.list(args.job_id).data,
                         table=CHECKPOINT_COLUMNS)


def _follow_cmd(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        return _follow(client, args.job_id, args)


def _plot(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        curves = client.jobs.history(args.job_id)
    from sdk import plotting

    if curves.empty:
        print(f"error: job {args.job_id} has no loss values yet", file=sys.stderr)
        return EXIT_USAGE
    path = plotting.render(curves, args.output)
    show(args.json, {"job_id": args.job_id, "path": str(path.resolve()), "series": curves.series},
         text=f"wrote {path}")
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``jobs`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "jobs", "create and watch fine-tuning jobs")

    p = add_command(cmds, parent, "create", _create, "start a fine-tuning job")
    p.add_argument("-m", "--model", required=True, help="base model (e.g. tiny-chat) or an ft: model")
    p.add_argument("-t", "--training-file", required=True, help="file id, or a local JSONL path to upload")
    p.add_argument("-v", "--validation-file", help="file id, or a local JSONL path to upload")
    p.add_argument("--method", choices=("supervised", "dpo"), default="supervised")
    p.add_argument("--n-epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate-multiplier", type=float)
    p.add_argument("--beta", type=float, help="DPO beta")
    p.add_argument("--suffix")
    p.add_argument("--seed", type=int)
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--extra-body", metavar="JSON", help="extra request fields (openft extensions)")
    p.add_argument("--wait", action="store_true", help="follow the job with live progress until it stops")
    p.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS")

    add_paging(add_command(cmds, parent, "list", _list, "list jobs, newest first"))

    add_command(cmds, parent, "get", _get, "show one job", "job_id")

    for name, text in (("cancel", "cancel a job"), ("pause", "pause a running job (checkpointed)"),
                       ("resume", "resume a paused job")):
        add_command(cmds, parent, name, _action(name), text, "job_id")

    add_paging(add_command(cmds, parent, "events", _events, "a job's events", "job_id"))

    add_command(cmds, parent, "checkpoints", _checkpoints, "a job's checkpoints", "job_id")

    p = add_command(cmds, parent, "follow", _follow_cmd, "live progress and events until the job stops", "job_id")
    p.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS")

    p = add_command(cmds, parent, "plot", _plot, "draw loss and token accuracy to a PNG", "job_id")
    p.add_argument("-o", "--output", default="loss.png")

