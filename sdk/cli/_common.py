"""What every client subcommand shares: the connection options, the client, error reporting.

Connection options (``--base-url``, ``--api-key``, ``--json``) are accepted both before the
subcommand (``openft --json jobs list``) and after it (``openft jobs list --json``): the copy on
each subcommand defaults to ``SUPPRESS`` so it never overwrites a value given earlier.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import openai

from sdk._client import Client
from sdk.cli._output import show, show_deleted

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_FAILED = 1  # the server said no, or the job did not succeed
EXIT_USAGE = 2  # bad arguments or configuration (argparse uses 2 as well)


def add_connection_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """``--base-url``, ``--api-key`` and ``--json`` on ``parser``."""
    default = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group("connection")
    group.add_argument("--base-url", default=default, metavar="URL",
                       help="server address (default: $OPENFT_BASE_URL or http://127.0.0.1:8000/v1)")
    group.add_argument("--api-key", default=default, metavar="KEY", help="API key (default: $OPENFT_API_KEY)")
    parser.add_argument("--json", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="print JSON for scripts instead of tables")


def connection_parent() -> argparse.ArgumentParser:
    """A parent parser carrying the connection options for subcommands."""
    parent = argparse.ArgumentParser(add_help=False)
    add_connection_options(parent, top_level=False)
    return parent


def make_client(args: argparse.Namespace) -> Client:
    """The SDK client for the connection options in ``args``."""
    return Client(base_url=args.base_url, api_key=args.api_key)


def command_group(sub: Any, name: str, help: str) -> Any:
    """``openft NAME`` with subcommands: the subparsers to add them to."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def add_command(cmds: Any, parent: argparse.ArgumentParser, name: str, handler: Handler, help: str,
                *positionals: str) -> argparse.ArgumentParser:
    """Subcommand ``name`` of ``cmds`` running ``handler``, with the connection options of ``parent`` and the
    ``positionals`` (plain string arguments); returns its parser for further options."""
    parser: argparse.ArgumentParser = cmds.add_parser(name, parents=[parent], help=help)
    for positional in positionals:
        parser.add_argument(positional)
    parser.set_defaults(handler=handler)
    return parser


def add_paging(parser: argparse.ArgumentParser) -> None:
    """``--limit N`` (one page) and ``--all`` (every page) on a list command."""
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--all", action="store_true", help="follow every page")


def paged(page: Any, args: argparse.Namespace) -> list[Any]:
    """The items of a cursor ``page``: this page only, or every page with ``--all``."""
    items: Iterable[Any] = page if args.all else page.data
    return list(items)


def call_and_show(args: argparse.Namespace, call: Callable[[Client], Any], *,
                  connect: Callable[[argparse.Namespace], Client] | None = None, deleted: bool = False,
                  **how: Any) -> int:
    """Run ``call`` with a client for ``args`` (``connect``, default :func:`make_client`) and print its result:
    as :func:`~sdk.cli._output.show` with ``how``, or as the answer to a delete with ``deleted``."""
    with (connect or make_client)(args) as client:
        result = call(client)
    if deleted:
        show_deleted(args.json, result)
    else:
        show(args.json, result, **how)
    return EXIT_OK


def run_client_command(handler: Handler, args: argparse.Namespace) -> int:
    """Run ``handler``, turning the SDK's exceptions into a message and an exit code.

    With ``--json`` an API error is printed on stdout as the server's ``{"error": {…}}`` body
    so scripts can parse it; the message always goes to stderr.
    """
    try:
        return handler(args)
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {"message": str(exc.body)}
        if args.json:
            print(json.dumps({"error": {"status": exc.status_code, **body}}))
        detail = f" (param: {body.get('param')})" if body.get("param") else ""
        print(f"error: {exc.status_code} {body.get('message', exc.message)}{detail}", file=sys.stderr)
        return EXIT_FAILED
    except openai.APIConnectionError as exc:
        print(f"error: cannot reach the openft server: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except openai.OpenAIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TimeoutError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ImportError as exc:  # an optional dependency the command needs (e.g. matplotlib for plot)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
