"""``openft validate FILE [--model M]``: check a JSONL file offline with the server's rules.

Prints the file's figures (examples, tokens, truncated examples) or the first problem with its
code and line, exactly as a job's ``error`` would show it. Exit status 0 when valid, 1 when not,
2 when the model's tokenizer cannot be loaded (unknown model, no network for a hub model).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sdk.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sdk.cli._output import print_json
from sdk.resources.files import validate_local

LABELS = (
    ("n_examples", "examples"),
    ("n_lines", "lines"),
    ("n_bytes", "bytes"),
    ("total_tokens", "tokens"),
    ("trained_tokens_per_epoch", "trained tokens per epoch"),
    ("min_example_tokens", "shortest example (tokens)"),
    ("max_example_tokens", "longest example (tokens)"),
    ("max_length", "model max length"),
    ("n_truncated", "examples to be truncated"),
    ("sha256", "sha256"),
)


def _validate(args: argparse.Namespace) -> int:
    from core.catalog import UnknownModel
    from core.data_quality import QualityPass
    from core.model_cache import ModelUnavailable
    from core.validation import DataValidationError

    quality = None if args.no_quality else QualityPass()
    try:
        result = validate_local(args.file, model=args.model, method=args.method, param=args.param, quality=quality)
    except (UnknownModel, ModelUnavailable) as exc:
        print(f"error: cannot load the tokenizer of {args.model!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataValidationError as exc:
        if args.json:
            print_json({"valid": False, "file": args.file, "error": {**exc.as_error(), "line": exc.line}})
        else:
            print(f"{args.file}: invalid", file=sys.stderr)
            print(f"error: {exc.code} (param {exc.param}): {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    report = quality.report() if quality is not None else None
    if args.json:
        print_json({"valid": True, "file": args.file, **result.to_dict(),
                    **({"data_report": report} if report is not None else {})})
        return EXIT_OK
    print(f"{args.file}: valid {result.method} data" + (f" for {args.model}" if args.model else ""))
    for key, label in LABELS:
        value = getattr(result, key)
        if value is not None:
            print(f"  {label:<28s} {value}")
    if report is not None:
        _print_quality(report)
    return EXIT_OK


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:8])
    return f"lines {shown}" + (", ..." if len(lines) > 8 else "")


def _print_quality(report: dict[str, Any]) -> None:
    """The data quality report as a table for people (``--json`` has all of it)."""
    print("data quality")
    for f in report["files"].values():
        for key, label in (("exact_duplicates", "exact duplicates"), ("near_duplicates", "near duplicates")):
            found = f[key]
            extra = f" ({_lines([c[1] for c in found['clusters']])})" if found["n_examples"] else ""
            print(f"  {label:<28s} {found['n_examples']}{extra}")
        for kind, entry in f["sensitive"].items():
            print(f"  {kind.replace('_', ' '):<28s} {entry['count']} ({_lines(entry['lines'])})")
        answers = f["answers"]
        if answers["top"]:
            top = answers["top"][0]
            print(f"  {'most frequent answer':<28s} {top['share']:.0%} ({top['count']} of {answers['n']})")
        if answers["empty"]["count"]:
            print(f"  {'empty answers':<28s} {answers['empty']['count']} ({_lines(answers['empty']['lines'])})")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``validate`` to the top-level subparsers ``sub``."""
    p = sub.add_parser("validate", parents=[parent], help="check a JSONL file offline, as the server will")
    p.add_argument("file")
    p.add_argument("-m", "--model", help="count tokens with this base model's tokenizer (e.g. tiny-chat)")
    p.add_argument("--method", choices=("supervised", "dpo"), default="supervised")
    p.add_argument("--param", choices=("training_file", "validation_file"), default="training_file",
                   help="validate as a training file (10 examples minimum) or a validation file")
    p.add_argument("--no-quality", action="store_true",
                   help="skip the data quality report (duplicates, personal data and secrets, answer balance)")
    p.set_defaults(handler=_validate)
