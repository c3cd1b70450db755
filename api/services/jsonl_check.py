"""The light check of a fine-tune file: UTF-8, and one JSON object per line.

Deeper rules (chat/preference format, example counts, tokens) belong to the job's
``validating_files`` step; this check only decides a file's ``processed``/``error`` status, so
it streams the bytes once through the one JSONL reader (``core.jsonl``, which job validation
and training use too) and stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.jsonl import JsonlError, iter_objects


def check_jsonl(chunks: Iterable[bytes]) -> str | None:
    """None when every non-blank line is a JSON object, else a message naming the first bad line."""
    try:
        objects = sum(1 for _ in iter_objects(chunks))
    except JsonlError as exc:
        return f"Invalid file format: {exc.message}."
    if objects == 0:
        return "Invalid file format: the file contains no JSON lines."
    return None
