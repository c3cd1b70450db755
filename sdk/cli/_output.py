"""How the CLI prints: aligned tables and ``key: value`` blocks for people, JSON for scripts.

With ``--json`` every command prints exactly one JSON document on stdout (an object, or an
array for lists), or JSON lines for streams (``jobs follow``), and nothing else there, so
``openft jobs list --json | jq`` works. Human-readable output may change; JSON follows the
OpenAI objects field for field.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from pydantic import BaseModel

Column = tuple[str, Callable[[Any], Any]]
MAX_CELL = 60


def to_jsonable(obj: Any) -> Any:
    """OpenAI models and lists of them as plain JSON data."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", exclude_unset=False)
    if isinstance(obj, list | tuple):
        return [to_jsonable(o) for o in obj]
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    return obj


def print_json(obj: Any, out: IO[str] | None = None, *, lines: bool = False) -> None:
    """One JSON document (indented), or one compact line with ``lines=True``."""
    out = out or sys.stdout
    data = to_jsonable(obj)
    out.write(json.dumps(data, ensure_ascii=False, indent=None if lines else 2))
    out.write("\n")
    out.flush()


def fmt_time(value: Any) -> str:
    """Unix seconds as local ``YYYY-MM-DD HH:MM:SS``; empty for None."""
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(int(value)).strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(value: Any) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)  # pragma: no cover


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(rows: Iterable[Any], columns: Sequence[Column], out: IO[str] | None = None) -> None:
    """An aligned table with a header; ``(no items)`` when empty."""
    out = out or sys.stdout
    cells = [[_cell(get(row)) for _, get in columns] for row in rows]
    if not cells:
        out.write("(no items)\n")
        return
    headers = [h for h, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.flush()


def print_fields(obj: Any, fields: Sequence[Column], out: IO[str] | None = None) -> None:
    """``name: value`` lines for one object (values that are None are skipped)."""
    out = out or sys.stdout
    width = max(len(name) for name, _ in fields)
    for name, get in fields:
        value = get(obj)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, BaseModel | dict | list):
            value = json.dumps(to_jsonable(value), ensure_ascii=False)
        out.write(f"{name.ljust(width)}  {value}\n")
    out.flush()


def show(as_json: bool, obj: Any, *, table: Sequence[Column] | None = None, fields: Sequence[Column] | None = None,
         text: str | None = None, rows: Iterable[Any] | None = None) -> None:
    """Print ``obj`` for a command: the JSON document with ``--json``, otherwise for people.

    For people: a table of ``rows`` (default ``obj``) with ``table`` columns, a ``name: value``
    block with ``fields``, or the line ``text``.
    """
    if as_json:
        print_json(obj)
    elif table is not None:
        print_table(obj if rows is None else rows, table)
    elif fields is not None:
        print_fields(obj, fields)
    else:
        print(text if text is not None else obj)


def show_deleted(as_json: bool, deleted: Any) -> None:
    """Print the answer to a delete (``{"id", "deleted", …}``): the JSON, or one line for people."""
    show(as_json, deleted, text=f"deleted {deleted.id}" if deleted.deleted else f"not deleted: {deleted.id}")
