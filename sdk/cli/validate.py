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
    from core.model_cache import ModelUnavailable
    from core.validation import DataValidationError

    try:
        result = validate_local(args.file, model=args.model, method=args.method, param=args.param)
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
    if args.json:
        print_json({"valid": True, "file": args.file, **result.to_dict()})
        return EXIT_OK
    print(f"{args.file}: valid {result.method} data" + (f" for {args.model}" if args.model else ""))
    for key, label in LABELS:
        value = getattr(result, key)
        if value is not None:
            print(f"  {label:<28s} {value}")
    return EXIT_OK


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``validate`` to the top-level subparsers ``sub``."""
    p = sub.add_parser("validate", parents=[parent], help="check a JSONL file offline, as the server will")
    p.add_argument("file")
    p.add_argument("-m", "--model", help="count tokens with this base model's tokenizer (e.g. tiny-chat)")
    p.add_argument("--method", choices=("supervised", "dpo"), default="supervised")
    p.add_argument("--param", choices=("training_file", "validation_file"), default="training_file",
                   help="validate as a training file (10 examples minimum) or a validation file")
    p.set_defaults(handler=_validate)
