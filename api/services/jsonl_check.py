"""The light check of a fine-tune file: UTF-8, and one JSON object per line.

Deeper rules (chat/preference format, example counts, tokens) belong to the job's
``validating_files`` step; this check only decides a file's ``processed``/``error`` status, so
it streams the bytes once and stops at the first problem.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable


def check_jsonl(chunks: Iterable[bytes]) -> str | None:
    """None when every non-blank line is a JSON object, else a message naming the first bad line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    line_no = 0
    objects = 0
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            lines = (pending + text).split("\n")
            pending = lines.pop()
            for line in lines:
                line_no += 1
                problem = _check_line(line, line_no)
                if problem:
                    return problem
                objects += bool(line.strip())
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"Invalid file format: the file is not valid UTF-8 (line {line_no + 1})."
    if pending:
        line_no += 1
        problem = _check_line(pending, line_no)
        if problem:
            return problem
        objects += bool(pending.strip())
    if objects == 0:
        return "Invalid file format: the file contains no JSON lines."
    return None


def _check_line(line: str, line_no: int) -> str | None:
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"Invalid file format: line {line_no} is not valid JSON ({exc.msg})."
    except ValueError as exc:  # e.g. integers longer than Python's digit limit
        return f"Invalid file format: line {line_no} is not valid JSON ({exc})."
    if not isinstance(value, dict):
        return f"Invalid file format: line {line_no} is not a JSON object."
    return None
