"""What every client subcommand shares: the connection options, the client, error reporting.

Connection options (``--base-url``, ``--api-key``, ``--json``) are accepted both before the
subcommand (``openft --json jobs list``) and after it (``openft jobs list --json``): the copy on
each subcommand defaults to ``SUPPRESS`` so it never overwrites a value given earlier.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import openai

from sdk._client import Client

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
