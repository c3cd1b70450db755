"""``openft``: the command line (console script ``openft = sdk.cli.main:main``).

Client commands (this package) talk to a server through the SDK::

    openft files upload|list|get|download|delete
    openft jobs create|list|get|events|checkpoints|cancel|pause|resume|follow|plot
    openft models list|get|delete|export
    openft chat -m MODEL
    openft evals create|list|get|run|items
    openft graders run|validate
    openft validate FILE --model M
    openft migrate inventory|import|distill
    openft admin projects|keys|usage|audit
    openft webhooks create|list|get|update|delete|rotate-secret|test|deliveries

The server commands (:data:`SERVER_COMMANDS`: ``serve``, ``api``, ``scheduler``, ``worker``,
``keys``, ``db``) are not in the SDK: :func:`main` hands them, untouched, to the server side's
``main(argv)`` (the module named by :data:`SERVER_CLI`), imported only then, so ``openft`` stays
one command while the SDK imports nothing from the server packages. Where the server side
cannot be imported, the command says so and exits 2.

Registration contract for a client command module: ``register(subparsers, parent)`` adds its
parsers; each leaf calls ``set_defaults(handler=fn)`` with ``fn(args) -> int`` (the exit
status). Client commands carry ``_client=True`` so API errors become a message and exit status
1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

from sdk.cli import admin, chat, evals, files, graders, jobs, migrate, models, validate, webhooks
from sdk.cli._common import EXIT_USAGE, add_connection_options, connection_parent, run_client_command


def _version() -> str:
    try:
        return metadata.version("openft")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "unknown"


#: The commands of the server side, and the module whose ``main(argv)`` runs them.
SERVER_COMMANDS = ("serve", "api", "scheduler", "worker", "keys", "db")
SERVER_CLI = "api.cli"
_VALUE_OPTIONS = ("--base-url", "--api-key")  # top-level options that take a value


def build_parser() -> argparse.ArgumentParser:
    """The complete ``openft`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="openft",
        description="Self-hosted fine-tuning with the OpenAI API: client and server commands.",
        epilog=f"server commands (see openft COMMAND --help): {', '.join(SERVER_COMMANDS)}",
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
    evals.register(sub, parent)
    graders.register(sub, parent)
    validate.register(sub, parent)
    admin.register(sub, parent)
    webhooks.register(sub, parent)
    migrate.register(sub, parent)
    return parser


def _command_index(argv: Sequence[str]) -> int | None:
    """Where the subcommand stands in ``argv`` (after any top-level options), or None."""
    i = 0
    while i < len(argv):
        if argv[i] in _VALUE_OPTIONS:
            i += 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return i
    return None


def _run_server_command(argv: Sequence[str]) -> int:
    """Hand ``argv`` (starting with a server command) to the server side."""
    try:
        server_cli = importlib.import_module(SERVER_CLI)
    except ImportError as exc:
        print(f"openft {argv[0]}: the server side of openft cannot be imported here ({exc}); "
              "install the full package: pip install 'openft[gpu]'", file=sys.stderr)
        return EXIT_USAGE
    status: int = server_cli.main(argv)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    at = _command_index(argv)
    if at is not None and argv[at] in SERVER_COMMANDS:
        if at:
            print(f"openft: {' '.join(argv[:at])} only applies to client commands, not to {argv[at]}",
                  file=sys.stderr)
            return EXIT_USAGE
        return _run_server_command(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if getattr(args, "_client", False):
            return run_client_command(handler, args)
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
