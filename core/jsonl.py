"""The one JSONL reader: every place that reads a fine-tuning file reads it through here.

The upload check (``api.services.jsonl_check``), job validation (``core.validation``), the
training child (``gpu_worker.data``) and ``openft validate`` all split, decode and parse lines
with :func:`iter_records`, so they agree on every byte:

- lines end at ``\\n``; a ``\\r`` before it (CRLF) is dropped; the last line needs no newline;
- a UTF-8 byte-order mark at the very start of the file is accepted and stripped (editors on
  Windows write one; OpenAI accepts such files); anywhere else it is an ordinary character;
- blank (whitespace-only) lines are skipped but keep their numbers, so line numbers are those
  an editor shows;
- each other line must be UTF-8 (a bad byte is reported with its line and offset) and one JSON
  value, at most :data:`MAX_LINE_BYTES` long (refused as soon as that is passed, without
  reading the rest of the line).

The stream is read once, as byte chunks of any size; memory holds one chunk and one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MAX_LINE_BYTES: Final = 8 * 1024 * 1024
"""Longest accepted line. A longer example would be truncated to a few thousand tokens anyway."""
READ_CHUNK: Final = 1024 * 1024
BOM: Final = b"\xef\xbb\xbf"


class JsonlError(ValueError):
    """A line that is not one JSON value: ``code`` (docs/validation-errors.md), 1-based ``line``
    and a ``detail``; ``message`` is ``"Line {line}: {detail}"``."""

    def __init__(self, code: str, line: int, detail: str) -> None:
        self.code = code
        self.line = line
        self.detail = detail
        self.message = f"Line {line}: {detail}"
        super().__init__(self.message)


@dataclass(frozen=True)
class Record:
    """One non-blank line: its number, its decoded text (no line end) and its JSON value."""

    line: int
    text: str
    value: Any


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Split a byte stream into ``(line_number, line)``, without ``\\n``, ``\\r\\n`` or a leading BOM.

    Raises :class:`JsonlError` (``line_too_long``) as soon as a line passes ``max_line_bytes``.
    """
    pending: list[bytes] = []
    pending_len = 0
    lineno = 0

    def finish(part: bytes) -> bytes:
        if lineno == 1 and part.startswith(BOM):
            part = part[len(BOM):]
        return part[:-1] if part.endswith(b"\r") else part

    for chunk in chunks:
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            lineno += 1
            if pending_len + len(part) > max_line_bytes:
                raise _too_long(lineno, max_line_bytes)
            if pending:
                pending.append(part)
                part = b"".join(pending)
                pending, pending_len = [], 0
            yield lineno, finish(part)
        tail = parts[-1]
        if tail:
            pending_len += len(tail)
            if pending_len > max_line_bytes:
                raise _too_long(lineno + 1, max_line_bytes)
            pending.append(tail)
    if pending:
        lineno += 1
        yield lineno, finish(b"".join(pending))


def _too_long(lineno: int, max_line_bytes: int) -> JsonlError:
    limit = f"{max_line_bytes // (1024 * 1024)} MiB" if max_line_bytes >= 1024 * 1024 else f"{max_line_bytes} bytes"
    return JsonlError("line_too_long", lineno, f"the line is longer than the limit of {limit} per example")


def decode_line(lineno: int, raw: bytes) -> str:
    """The UTF-8 text of a line, or :class:`JsonlError` (``invalid_encoding``) naming the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonlError(
            "invalid_encoding", lineno,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start} of the line); "
            "fine-tuning files must be UTF-8 encoded",
        ) from None


def iter_records(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Record]:
    """Every non-blank line of a JSONL byte stream, parsed; the first bad line raises :class:`JsonlError`.

    Besides bad UTF-8 and bad JSON, a file that is one JSON array (``[...]``, a common mistake)
    is named as such (``invalid_line``), and a ``\\u`` escape of a lone surrogate, which no UTF-8
    writer downstream can encode, is ``invalid_encoding``.
    """
    first = True
    for lineno, raw in iter_lines(chunks, max_line_bytes):
        text = decode_line(lineno, raw)
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if first and text.lstrip().startswith("["):
                raise _json_array(lineno) from None
            hint = "; each example must be a whole JSON object on one line" if first and text.strip() == "{" else ""
            raise JsonlError("invalid_json", lineno, f"invalid JSON: {exc.msg}: column {exc.colno}{hint}") from None
        except ValueError as exc:  # e.g. an integer longer than Python's digit limit
            raise JsonlError("invalid_json", lineno, f"invalid JSON: {exc}") from None
        if first and isinstance(value, list):
            raise _json_array(lineno)
        if _has_lone_surrogate(text, value):
            raise JsonlError("invalid_encoding", lineno,
                             "contains a \\u escape of a lone surrogate, which is not valid Unicode")
        first = False
        yield Record(lineno, text, value)


def iter_objects(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Record]:
    """:func:`iter_records` where every value must be a JSON object (``invalid_line`` otherwise)."""
    for record in iter_records(chunks, max_line_bytes):
        if not isinstance(record.value, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                type(record.value), "a number")
            raise JsonlError("invalid_line", record.line, f"expected a JSON object, got {kind}")
        yield record


def read_file_chunks(path: str | Path, size: int = READ_CHUNK) -> Iterator[bytes]:
    """The bytes of a local file, ``size`` at a time."""
    with Path(path).open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _json_array(lineno: int) -> JsonlError:
    return JsonlError(
        "invalid_line", lineno,
        "the file is a JSON array, but fine-tuning files must be JSONL: one JSON object per line, "
        "with no enclosing [ ]",
    )


def _has_lone_surrogate(text: str, value: Any) -> bool:
    if "\\ud" not in text and "\\uD" not in text:
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
