"""Builders of valid examples and JSONL streams for the scheduler tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def chat_example(i: int, *, system: bool = True) -> dict[str, Any]:
    """A small valid chat example."""
    messages = [{"role": "user", "content": f"review {i}: the food was great"},
                {"role": "assistant", "content": '{"label": "positive"}'}]
    if system:
        messages.insert(0, {"role": "system", "content": "Classify the sentiment as JSON."})
    return {"messages": messages}


def preference_example(i: int) -> dict[str, Any]:
    """A small valid preference (DPO) example."""
    return {
        "input": {"messages": [{"role": "user", "content": f"review {i}: slow delivery"}]},
        "preferred_output": [{"role": "assistant", "content": '{"label": "negative"}'}],
        "non_preferred_output": [{"role": "assistant", "content": "negative I think"}],
    }


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]


def tool_example(i: int) -> dict[str, Any]:
    """A chat example with tools, a tool call, a tool answer, a weight-0 turn and part-list content."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": f"weather in city {i}?"}]},
            {"role": "assistant", "content": "Let me think.", "weight": 0},
            {"role": "user", "content": "go on"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": "get_weather", "arguments": json.dumps({"city": f"c{i}"})}}]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": '{"temp": 21}'},
            {"role": "assistant", "content": [{"type": "text", "text": "It is 21 degrees."}], "weight": 1},
        ],
        "tools": TOOLS,
        "parallel_tool_calls": False,
    }


def jsonl(rows: list[Any], newline: str = "\n") -> bytes:
    """Rows as JSONL bytes (strings are written as they are)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + newline for r in rows).encode()


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in chunks of ``size`` bytes, as a store would stream it."""
    for i in range(0, len(data), size):
        yield data[i:i + size]
