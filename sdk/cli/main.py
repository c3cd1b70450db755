"""``openft``: the command line (console script ``openft = sdk.cli.main:main``).

Client commands (this package) talk to a server through the SDK::

    openft files upload|list|get|download|delete
    openft jobs create|list|get|events|checkpoints|cancel|pause|resume|follow|plot
    openft models list|get|delete|export
    openft chat -m MODEL
    openft validate FILE --model M

Server roles (``serve``, ``api``, ``scheduler``, ``worker``, ``keys``, ``db``) come from
:mod:`sdk.cli.server`, whose ``register(subparsers)`` adds them. Registration contract for any
module adding commands: each leaf parser calls ``set_defaults(handler=fn)`` with
``fn(args: argparse.Namespace) -> int | None`` (the exit status; None means 0). Client
commands additionally carry ``_client=True`` so API errors become a message and exit status 1
instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import metadata

from sdk.cli import chat, files, jobs, models, validate
from sdk.cli._common import EXIT_USAGE, add_connection_options, connection_parent, run_client_command


def _version() -> str:
    try:
        return metadata.version("openft")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


def _register_server_roles(sub: argparse._SubParsersAction) -> None:
    """Add the server roles when :mod:`sdk.cli.server` is available (it is in a full install)."""
    try:
        from sdk.cli import server
    except ModuleNotFoundError as exc:
        if exc.name != "sdk.cli.server":
            raise
        return
    server.register(sub)


def build_parser() -> argparse.ArgumentParser:
    """The complete ``openft`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="openft",
        description="Self-hosted fine-tuning with the OpenAI API: client and server commands.",
    )
    parser.add_argument("--version", action="version", version=f"openft {_version()}")
    add_connection_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    parent = connection_parent()
    parent.set_defaults(_client=True)
    files.register(sub, parent)
    jobs.register(sub, parent)
    models.register(sub, parent)
    chat.register(sub, parent)
    validate.register(sub, parent)
    _register_server_roles(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "_client", False):
            return run_client_command(handler, args)
        status = handler(args)
        return int(status or 0)
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
