"""OpenAI chat messages in the shape Hugging Face chat templates expect.

The one mapping that training (``gpu_worker.data``), token counting and validation
(``core.formats``) and serving (``api.services.chat``) render through, so a model is served
with exactly the prompt format it was trained on:

- content: a string; text parts of a part list concatenated; ``None`` as ``""``;
- legacy ``function_call`` / role ``function`` become ``tool_calls`` / role ``tool``;
- tool-call ``arguments`` (a JSON string on the wire) become the object templates render with
  ``tojson`` (a string that is not JSON stays a string);
- only ``role``, ``content``, ``name`` (not on tool messages), ``tool_call_id`` and
  ``tool_calls`` are kept (``weight`` and unknown keys are dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def content_text(content: Any) -> str:
    """A message's content as plain text (text parts concatenated, ``None`` as empty)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content
                       if isinstance(p, dict) and p.get("type", "text") == "text")
    return str(content)


def template_message(message: dict[str, Any]) -> dict[str, Any]:
    """One message in template shape (see the module docstring); the input is not changed."""
    role = "tool" if message.get("role") == "function" else message.get("role")
    out: dict[str, Any] = {"role": role, "content": content_text(message.get("content"))}
    if message.get("name") and role != "tool":
        out["name"] = message["name"]
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"type": "function", "function": message["function_call"]}]
    if calls:
        out["tool_calls"] = [
            {"id": call.get("id") or f"call_{i}", "type": "function",
             "function": {"name": call["function"]["name"],
                          "arguments": _arguments(call["function"].get("arguments", "{}"))}}
            for i, call in enumerate(calls)
        ]
    return out


def template_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in template shape (see the module docstring)."""
    return [template_message(m) for m in messages]


def template_tools(container: dict[str, Any]) -> list[dict[str, Any]] | None:
    """An example's (or request's) tools, legacy ``functions`` wrapped as function tools; None if none."""
    if container.get("tools"):
        return list(container["tools"])
    if container.get("functions"):
        return [{"type": "function", "function": f} for f in container["functions"]]
    return None


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments
