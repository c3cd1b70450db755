"""The bad training files of tests/data/bad and what validating each must report.

``tests/data/bad/cases.json`` lists every file with the job method it is sent with, the
expected ``param``, ``code``, ``line`` (null for whole-file errors) and a fragment of the
message. End-to-end tests can drive the same cases through the API: :func:`case_bytes` gives
the bytes to upload (the 10 MB line is generated rather than kept in the repository).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BAD_DIR = Path(__file__).resolve().parent.parent / "data" / "bad"
LONG_LINE_BYTES = 10 * 1024 * 1024


def load_cases() -> list[dict[str, Any]]:
    """Every case of ``cases.json``."""
    cases: list[dict[str, Any]] = json.loads((BAD_DIR / "cases.json").read_text())
    return cases


def _example(i: int, text: str = "fine") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"review {i}: {text}"},
                         {"role": "assistant", "content": "positive"}]}


def long_line_bytes() -> bytes:
    """Twelve examples, the second one 10 MB long (over the 8 MiB line limit)."""
    lines = [json.dumps(_example(i)) for i in range(12)]
    lines[1] = json.dumps(_example(1, "x" * LONG_LINE_BYTES))
    return ("\n".join(lines) + "\n").encode()


def case_bytes(case: dict[str, Any]) -> bytes:
    """The file content of a case."""
    if case["file"] == "long_line.jsonl":
        return long_line_bytes()
    return (BAD_DIR / case["file"]).read_bytes()
