"""JSON arguments of the evals and graders commands: inline JSON, or the path of a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_arg(value: str) -> Any:
    """``'{"type": ...}'`` or ``grader.json`` -> the parsed JSON; ValueError when it is neither."""
    path = Path(value)
    inline = value.lstrip().startswith(("{", "["))
    text = path.read_text() if not inline and path.is_file() else value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON, nor a JSON file: {value[:60]}") from exc
