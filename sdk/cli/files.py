"""``openft files upload|list|get|download|delete``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from openai.types import FileObject

from sdk._client import Client
from sdk.cli._common import EXIT_OK, add_command, add_paging, call_and_show, command_group, make_client, paged
from sdk.cli._output import Column, fmt_bytes, fmt_time, show

#: above this size ``upload`` goes through the multipart Uploads API instead of one request
CHUNKED_THRESHOLD = 256 * 1024 * 1024
PURPOSES = ("fine-tune", "batch", "assistants", "user_data", "vision", "evals")

COLUMNS: list[Column] = [
    ("ID", lambda f: f.id),
    ("FILENAME", lambda f: f.filename),
    ("PURPOSE", lambda f: f.purpose),
    ("BYTES", lambda f: fmt_bytes(f.bytes)),
    ("STATUS", lambda f: f.status),
    ("CREATED", lambda f: fmt_time(f.created_at)),
]
FIELDS: list[Column] = [*COLUMNS, ("EXPIRES", lambda f: fmt_time(f.expires_at)),
                        ("DETAILS", lambda f: f.status_details)]


def upload_file(client: Client, path: Path, purpose: str) -> FileObject:
    """Upload ``path``: one request, or the chunked Uploads API for very large files."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.stat().st_size > CHUNKED_THRESHOLD:
        upload = client.uploads.upload_file_chunked(
            file=path, mime_type="application/jsonl", purpose=purpose  # type: ignore[call-overload]
        )
        assert upload.file is not None
        return upload.file
    return client.files.create(file=path, purpose=purpose)  # type: ignore[arg-type]


def _upload(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: upload_file(client, Path(args.path), args.purpose), fields=FIELDS)


def _list(args: argparse.Namespace) -> int:
    kwargs: dict[str, Any] = {"limit": args.limit, "order": args.order}
    if args.purpose:
        kwargs["purpose"] = args.purpose
    return call_and_show(args, lambda client: paged(client.files.list(**kwargs), args), table=COLUMNS)


def _get(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.files.retrieve(args.file_id), fields=FIELDS)


def _download(args: argparse.Namespace) -> int:
    with make_client(args) as client, client.files.with_streaming_response.content(args.file_id) as response:
        if args.output == "-":
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return EXIT_OK
        response.stream_to_file(args.output)
    show(args.json, {"id": args.file_id, "path": str(Path(args.output).resolve())}, text=f"wrote {args.output}")
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    return call_and_show(args, lambda client: client.files.delete(args.file_id), deleted=True)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add ``files`` and its subcommands to the top-level subparsers ``sub``."""
    cmds = command_group(sub, "files", "upload and manage data files")

    p = add_command(cmds, parent, "upload", _upload, "upload a JSONL file")
    p.add_argument("path", help="local file")
    p.add_argument("--purpose", default="fine-tune", choices=PURPOSES)

    p = add_command(cmds, parent, "list", _list, "list files, newest first")
    p.add_argument("--purpose", choices=PURPOSES)
    add_paging(p)
    p.add_argument("--order", choices=("asc", "desc"), default="desc")

    add_command(cmds, parent, "get", _get, "show one file", "file_id")

    p = add_command(cmds, parent, "download", _download, "save a file's content (e.g. a results CSV)", "file_id")
    p.add_argument("-o", "--output", required=True, help="destination path, or - for stdout")

    add_command(cmds, parent, "delete", _delete, "delete a file", "file_id")
