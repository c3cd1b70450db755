"""The rules for one example of a fine-tuning file, chat (supervised) or preference (DPO).

:func:`check_example` takes one parsed JSON line and either returns the conversations the
tokenizer must render (one for chat, prompt+preferred and prompt+non-preferred for preference)
or raises :class:`FormatError` with a code from docs/validation-errors.md and a detail that names
the message and the rule (the caller prefixes the line number). Messages are numbered from 1.

The wire format is OpenAI's (reference section e). Keys whose value is ``null`` count as absent
(exports of API logs carry ``"tool_calls": null``); other unknown message keys are refused so
that a typo such as ``"wieght"`` cannot silently change what is trained.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from core.messages import content_text, template_messages

Method = Literal["supervised", "dpo", "reinforcement"]

_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "weight", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}
_PREFERENCE_KEYS: Final = ("input", "preferred_output", "non_preferred_output")
_FUNCTION_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NON_TEXT_PARTS: Final = frozenset({"image_url", "input_audio", "file", "input_image", "audio"})


class FormatError(ValueError):
    """One example breaks a rule: ``code`` (docs/validation-errors.md) and a readable ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Conversation:
    """Messages and tools in the shape a Hugging Face chat template expects (``core.messages``)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Example:
    """A valid example: the conversations whose token lengths count (1 for chat, 2 for preference)."""

    conversations: tuple[Conversation, ...]


@dataclass
class _Context:
    """What a message check needs to know about the rest of its example."""

    tool_names: frozenset[str] | None = None
    parallel_tool_calls: bool = True
    call_ids: set[str] = field(default_factory=set)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _present(msg: dict[str, Any], key: str) -> bool:
    return msg.get(key) is not None


# --- content ------------------------------------------------------------------------------
def _check_content(where: str, role: str, msg: dict[str, Any], optional: bool) -> None:
    content = msg.get("content")
    if content is None:
        if optional:
            return
        raise FormatError("missing_content", f"{where} ({role}) has no content")
    if isinstance(content, str):
        if not content and role in ("system", "user", "assistant") and not optional:
            raise FormatError("missing_content", f"{where} ({role}) has empty content")
        return
    if not isinstance(content, list):
        raise FormatError(
            "invalid_content",
            f"{where} content must be a string or a list of content parts, got {_kind(content)}",
        )
    if not content:
        raise FormatError("missing_content", f"{where} ({role}) has an empty list of content parts")
    for j, part in enumerate(content, 1):
        if not isinstance(part, dict):
            detail = f"{where} content part {j} must be an object, got {_kind(part)}"
            raise FormatError("invalid_content", detail)
        ptype = part.get("type")
        if ptype in _NON_TEXT_PARTS:
            raise FormatError(
                "invalid_content",
                f"{where} content part {j} has type '{ptype}'; openft trains text-only models, "
                "so content parts must have type 'text'",
            )
        if ptype != "text":
            raise FormatError("invalid_content", f"{where} content part {j} has unrecognized type {ptype!r}")
        if not isinstance(part.get("text"), str):
            raise FormatError("invalid_content", f"{where} content part {j} needs a string 'text'")
    if not optional and role in ("system", "user", "assistant") and not content_text(content):
        raise FormatError("missing_content", f"{where} ({role}) has empty content")


# --- tool calls ---------------------------------------------------------------------------
def _check_arguments(where: str, arguments: Any) -> None:
    if not isinstance(arguments, str):
        raise FormatError(
            "invalid_tool_call", f"{where}.arguments must be a string of JSON, got {_kind(arguments)}"
        )
    try:
        json.loads(arguments)
    except ValueError:
        raise FormatError("invalid_tool_call", f"{where}.arguments is not valid JSON") from None


def _check_function_call(where: str, call: Any, ctx: _Context) -> None:
    if not isinstance(call, dict):
        raise FormatError("invalid_tool_call", f"{where} must be an object, got {_kind(call)}")
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise FormatError("invalid_tool_call", f"{where} needs a non-empty string 'name'")
    if ctx.tool_names is not None and name not in ctx.tool_names:
        detail = f"{where} calls '{name}', which is not among the example's tools"
        raise FormatError("invalid_tool_call", detail)
    _check_arguments(where, call.get("arguments"))


def _check_tool_calls(where: str, calls: Any, ctx: _Context) -> None:
    if not isinstance(calls, list) or not calls:
        raise FormatError("invalid_tool_call", f"{where} tool_calls must be a non-empty array")
    if len(calls) > 1 and not ctx.parallel_tool_calls:
        raise FormatError(
            "invalid_tool_call",
            f"{where} has {len(calls)} tool calls, but the example sets parallel_tool_calls to false",
        )
    for k, call in enumerate(calls):
        at = f"{where} tool_calls[{k}]"
        if not isinstance(call, dict):
            raise FormatError("invalid_tool_call", f"{at} must be an object, got {_kind(call)}")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise FormatError("invalid_tool_call", f"{at} needs a non-empty string 'id'")
        if call_id in ctx.call_ids:
            raise FormatError("invalid_tool_call", f"{at} repeats the tool call id '{call_id}'")
        if call.get("type") != "function":
            detail = f"{at} must have type 'function', got {call.get('type')!r}"
            raise FormatError("invalid_tool_call", detail)
        _check_function_call(f"{at}.function", call.get("function"), ctx)
        ctx.call_ids.add(call_id)


# --- one message --------------------------------------------------------------------------
def _check_message(where: str, msg: Any, ctx: _Context, weights_allowed: bool = True) -> str:
    """Check one message and return its role."""
    if not isinstance(msg, dict):
        raise FormatError("invalid_message", f"{where} must be an object, got {_kind(msg)}")
    role = msg.get("role")
    if role is None:
        raise FormatError("invalid_message", f"{where} has no role")
    if role not in _KEYS:
        shown = repr(role) if isinstance(role, str) else _kind(role)
        raise FormatError(
            "unrecognized_role",
            f"{where} has unrecognized role {shown} (expected system, user, assistant, tool or function)",
        )
    for key, value in msg.items():
        if value is not None and key not in _KEYS[role]:
            if key == "weight":
                detail = f"{where} ({role}) has a weight; only assistant messages take one"
                raise FormatError("invalid_weight", detail)
            raise FormatError("invalid_message", f"{where} ({role}) has unrecognized key {key!r}")
    if _present(msg, "name") and (not isinstance(msg["name"], str) or not msg["name"]):
        raise FormatError("invalid_message", f"{where} name must be a non-empty string")

    if role == "assistant":
        if _present(msg, "weight"):
            weight = msg["weight"]
            if not weights_allowed:
                detail = f"{where} has a weight, which preference examples do not use"
                raise FormatError("invalid_weight", detail)
            if isinstance(weight, bool) or weight not in (0, 1):
                detail = f"{where} weight must be 0 or 1, got {json.dumps(weight)}"
                raise FormatError("invalid_weight", detail)
        calls = _present(msg, "tool_calls") or _present(msg, "function_call")
        if _present(msg, "tool_calls"):
            _check_tool_calls(where, msg["tool_calls"], ctx)
        if _present(msg, "function_call"):
            _check_function_call(f"{where} function_call", msg["function_call"], ctx)
        _check_content(where, role, msg, optional=calls)
    elif role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise FormatError("invalid_tool_call", f"{where} (tool) needs a string 'tool_call_id'")
        if call_id not in ctx.call_ids:
            raise FormatError(
                "invalid_tool_call",
                f"{where} (tool) answers tool_call_id '{call_id}', which no earlier assistant tool call has",
            )
        _check_content(where, role, msg, optional=False)
    elif role == "function":
        if not _present(msg, "name"):
            raise FormatError("invalid_message", f"{where} (function) needs a 'name'")
        _check_content(where, role, msg, optional=False)
    else:
        _check_content(where, role, msg, optional=False)
    return str(role)


def _check_messages(label: str, messages: Any, ctx: _Context, weights_allowed: bool = True) -> list[str]:
    if messages is None:
        raise FormatError("missing_messages", f"example has no '{label}'")
    if not isinstance(messages, list):
        detail = f"'{label}' must be an array of messages, got {_kind(messages)}"
        raise FormatError("missing_messages", detail)
    if not messages:
        raise FormatError("missing_messages", f"'{label}' is empty")
    prefix = "message" if label == "messages" else f"{label.split('.')[0]} message"
    return [_check_message(f"{prefix} {i}", m, ctx, weights_allowed) for i, m in enumerate(messages, 1)]


# --- tools --------------------------------------------------------------------------------
def _check_function_def(where: str, fn: Any) -> str:
    if not isinstance(fn, dict):
        raise FormatError("invalid_tools", f"{where} must be an object, got {_kind(fn)}")
    name = fn.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise FormatError("invalid_tools", f"{where} needs a 'name' of 1-64 letters, digits, '_' or '-'")
    if fn.get("description") is not None and not isinstance(fn["description"], str):
        raise FormatError("invalid_tools", f"{where} description must be a string")
    if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
        raise FormatError("invalid_tools", f"{where} parameters must be a JSON schema object")
    return name


def _tools_context(
    container: dict[str, Any], prefix: str = ""
) -> tuple[_Context, list[dict[str, Any]] | None]:
    """Check ``tools``/``functions``/``parallel_tool_calls`` and return the context and template tools."""
    names: list[str] = []
    template_tools: list[dict[str, Any]] = []
    tools = container.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise FormatError("invalid_tools", f"'{prefix}tools' must be an array, got {_kind(tools)}")
        for k, tool in enumerate(tools):
            at = f"{prefix}tools[{k}]"
            if not isinstance(tool, dict) or tool.get("type") != "function":
                raise FormatError("invalid_tools", f"{at} must be an object with type 'function'")
            names.append(_check_function_def(f"{at}.function", tool.get("function")))
            template_tools.append(tool)
    functions = container.get("functions")
    if functions is not None:
        if not isinstance(functions, list) or not 1 <= len(functions) <= 128:
            raise FormatError("invalid_tools", f"'{prefix}functions' must be an array of 1 to 128 functions")
        for k, fn in enumerate(functions):
            names.append(_check_function_def(f"{prefix}functions[{k}]", fn))
            template_tools.append({"type": "function", "function": fn})
    if len(set(names)) != len(names):
        raise FormatError("invalid_tools", f"'{prefix}tools' declares the same function name twice")
    parallel = container.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise FormatError("invalid_tools", f"'{prefix}parallel_tool_calls' must be true or false")
    ctx = _Context(tool_names=frozenset(names) if names else None, parallel_tool_calls=parallel is not False)
    return ctx, (template_tools or None)


# --- whole examples -----------------------------------------------------------------------
def _check_chat(obj: dict[str, Any], render: bool) -> Example:
    ctx, tools = _tools_context(obj)
    messages = obj.get("messages")
    roles = _check_messages("messages", messages, ctx)
    assert isinstance(messages, list)
    assistants = [m for m, r in zip(messages, roles, strict=True) if r == "assistant"]
    if not assistants:
        raise FormatError("missing_assistant_message", "example has no assistant message to train on")
    if all(m.get("weight", 1) == 0 for m in assistants):
        raise FormatError(
            "missing_assistant_message",
            "every assistant message has weight 0, so the example has nothing to train on",
        )
    if not render:
        return Example(())
    return Example((Conversation(template_messages(messages), tools),))


def _check_output(key: str, value: Any, ctx: _Context) -> dict[str, Any]:
    if value is None:
        raise FormatError("invalid_preference_format", f"example has no '{key}'")
    if not isinstance(value, list) or len(value) != 1:
        got = f"{len(value)} messages" if isinstance(value, list) else _kind(value)
        detail = f"'{key}' must be an array with exactly one assistant message, got {got}"
        raise FormatError("invalid_preference_format", detail)
    msg = value[0]
    where = f"{key} message"
    if isinstance(msg, dict) and msg.get("role") is not None and msg.get("role") != "assistant":
        raise FormatError(
            "invalid_preference_format", f"{where} must have role 'assistant', got {msg.get('role')!r}"
        )
    if isinstance(msg, dict) and (_present(msg, "tool_calls") or _present(msg, "function_call")):
        raise FormatError("invalid_preference_format", f"{where} must be a text answer, not a tool call")
    _check_message(where, msg, ctx, weights_allowed=False)
    return msg


def _check_preference(obj: dict[str, Any], render: bool) -> Example:
    inp = obj.get("input")
    if not isinstance(inp, dict):
        got = "no 'input'" if inp is None else f"'input' that is {_kind(inp)}"
        detail = f"example has {got}; expected an object with 'messages'"
        raise FormatError("invalid_preference_format", detail)
    ctx, tools = _tools_context(inp, "input.")
    roles = _check_messages("input.messages", inp.get("messages"), ctx, weights_allowed=False)
    if roles[-1] == "assistant":
        raise FormatError(
            "invalid_preference_format",
            "input.messages ends with an assistant message; the preferred and non-preferred outputs "
            "are the assistant's answer to the last input message",
        )
    preferred = _check_output("preferred_output", obj.get("preferred_output"), ctx)
    rejected = _check_output("non_preferred_output", obj.get("non_preferred_output"), ctx)
    if content_text(preferred["content"]) == content_text(rejected["content"]):
        detail = "preferred_output and non_preferred_output are identical"
        raise FormatError("invalid_preference_format", detail)
    prompt = inp["messages"]
    if not render:
        return Example(())
    return Example(
        (
            Conversation(template_messages([*prompt, preferred]), tools),
            Conversation(template_messages([*prompt, rejected]), tools),
        ),
    )


def _check_reinforcement(obj: dict[str, Any], render: bool) -> Example:
    """A reinforcement prompt: ``messages`` ending in a user or developer turn (the model answers it);
    other keys are the grader's ``item.*``. A developer message is checked and rendered as a system one."""
    if "messages" not in obj and any(k in obj for k in _PREFERENCE_KEYS):
        raise FormatError(
            "wrong_format_for_method",
            "this is a preference (DPO) example, but the job's method is reinforcement, which needs "
            "'messages' ending in a user or developer turn (plus the fields its grader reads)",
        )
    messages = obj.get("messages")
    if isinstance(messages, list):
        messages = [{**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m
                    for m in messages]
    ctx, tools = _tools_context(obj)
    _check_messages("messages", messages, ctx)
    assert isinstance(messages, list)
    last = obj["messages"][-1].get("role")
    if last not in ("user", "developer"):
        raise FormatError(
            "invalid_last_message",
            f"the last message is a {last} message; a reinforcement example ends with a user or developer "
            "message, which the model answers during training",
        )
    if not render:
        return Example(())
    return Example((Conversation(template_messages(messages), tools),))


def check_example(obj: Any, method: Method, render: bool = True) -> Example:
    """Check one parsed line against the format ``method`` trains on; raise :class:`FormatError`.

    With ``render`` false the returned example has no conversations (nothing to count).
    """
    if not isinstance(obj, dict):
        raise FormatError("invalid_line", f"expected a JSON object, got {_kind(obj)}")
    if method == "reinforcement":
        return _check_reinforcement(obj, render)
    has_messages = "messages" in obj
    looks_preference = any(k in obj for k in _PREFERENCE_KEYS)
    if method == "supervised":
        if looks_preference and not has_messages:
            raise FormatError(
                "wrong_format_for_method",
                "this is a preference (DPO) example (input, preferred_output, non_preferred_output), "
                "but the job's method is supervised; create the job with method type 'dpo' "
                "or use chat examples with 'messages'",
            )
        if not has_messages and ("prompt" in obj or "completion" in obj):
            raise FormatError(
                "missing_messages",
                "example has no 'messages'; the legacy prompt/completion format is not supported, "
                "use the chat format with 'messages'",
            )
        return _check_chat(obj, render)
    if has_messages and "input" not in obj:
        raise FormatError(
            "wrong_format_for_method",
            "this is a chat (supervised) example with 'messages', but the job's method is dpo, "
            "which needs preference examples with input, preferred_output and non_preferred_output",
        )
    if "input" not in obj and ("chosen" in obj or "rejected" in obj or "prompt" in obj):
        raise FormatError(
            "invalid_preference_format",
            "example uses prompt/chosen/rejected keys; openft takes OpenAI's preference format: "
            "input, preferred_output and non_preferred_output",
        )
    return _check_preference(obj, render)
