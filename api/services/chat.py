"""Chat completions: OpenAI's request mapped onto the engine (or a vLLM server) and back.

Messages are rendered with the model's chat template exactly as training rendered them
(:func:`core.messages.template_messages`); ``tools`` go to the template too, and a reply in
the template's ``<tool_call>{…}</tool_call>`` form comes back as ``tool_calls``. Streams are
server-sent events of ``chat.completion.chunk`` objects ending with ``data: [DONE]``; an error
after the stream started is sent as a ``data: {"error": …}`` event, which the official client
raises.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from api.errors import InvalidRequest
from api.inference.engine import Prepared
from api.inference.params import Completion
from api.inference.server import ModelServer
from api.inference.vllm import CHAT
from api.schemas.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessageOut,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    FunctionCall,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from api.services import sampling
from api.state import AppState
from core import ids
from core.generation import SamplingParams
from core.messages import template_messages

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*(?:</tool_call>|$)", re.DOTALL)


# --- request -> engine ----------------------------------------------------------------------
def to_messages(req: ChatCompletionRequest) -> list[dict[str, Any]]:
    """The request's messages in the shape the chat template (and training) uses."""
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(req.messages):
        m = msg.model_dump(exclude_none=True)
        if m["role"] == "developer":  # chat templates know system, not OpenAI's newer name for it
            m["role"] = "system"
        if isinstance(m.get("content"), list):
            for part in m["content"]:
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise InvalidRequest(
                        f"Invalid content part of type {part.get('type')!r} in messages[{i}]: this "
                        "server serves text-only models, so content parts must have type 'text'.",
                        param=f"messages[{i}].content", code="invalid_value")
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            try:
                json.loads(fn["arguments"]) if isinstance(fn, dict) else None
            except (KeyError, TypeError, ValueError):
                raise InvalidRequest(f"messages[{i}].tool_calls: function.arguments must be a JSON string.",
                                     param=f"messages[{i}].tool_calls", code="invalid_value") from None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise InvalidRequest(f"messages[{i}].tool_calls: each call needs function.name.",
                                     param=f"messages[{i}].tool_calls", code="invalid_value")
        out.append(m)
    return template_messages(out)


def _unsupported(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{what} is not supported by this server.", param=param, code="unsupported_parameter")


def check_supported(req: ChatCompletionRequest) -> None:
    """400 for features the engine cannot honour, rather than silently ignoring them."""
    if req.logprobs:
        raise _unsupported("logprobs", "logprobs")
    if req.response_format and req.response_format.get("type") not in (None, "text"):
        raise _unsupported("response_format", f"response_format type {req.response_format.get('type')!r}")
    if req.tool_choice not in (None, "auto", "none"):
        raise _unsupported("tool_choice", "Forcing a tool call (tool_choice other than 'auto' or 'none')")
    if req.tools:
        for i, tool in enumerate(req.tools):
            if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
                raise InvalidRequest(f"tools[{i}] must be an object with type 'function' and a 'function'.",
                                     param=f"tools[{i}]", code="invalid_value")


def _tools(req: ChatCompletionRequest) -> list[dict[str, Any]] | None:
    return req.tools if req.tools and req.tool_choice != "none" else None


# --- engine -> response ---------------------------------------------------------------------
def parse_tool_calls(text: str) -> tuple[str | None, list[ToolCall]]:
    """Split ``text`` into content and the ``<tool_call>{"name","arguments"}</tool_call>`` calls."""
    calls: list[ToolCall] = []
    for match in _TOOL_CALL.finditer(text):
        try:
            obj = json.loads(match.group(1))
        except ValueError:
            return text, []
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return text, []
        args = obj.get("arguments", {})
        calls.append(ToolCall(id=ids.new_id("call_"), function=FunctionCall(
            name=obj["name"], arguments=args if isinstance(args, str) else json.dumps(args))))
    if not calls:
        return text, []
    content = text[: text.index("<tool_call>")].strip()
    return content or None, calls


def _message(text: str, finish: str, tools: bool) -> tuple[ChatMessageOut, str]:
    if tools:
        content, calls = parse_tool_calls(text)
        if calls:
            return ChatMessageOut(content=content, tool_calls=calls), "tool_calls"
    return ChatMessageOut(content=text), finish


def to_completion(cid: str, created: int, model: str, result: Completion, tools: bool,
                  fingerprint: str) -> ChatCompletion:
    choices = []
    for c in result.choices:
        message, finish = _message(c.text, c.finish_reason, tools)
        choices.append(Choice(index=c.index, message=message, finish_reason=finish))
    return ChatCompletion(id=cid, created=created, model=model, choices=choices, usage=_usage(result),
                          system_fingerprint=fingerprint)


def _usage(result: Completion) -> Usage:
    return Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                 total_tokens=result.prompt_tokens + result.completion_tokens)


def _chunk(cid: str, created: int, model: str, fingerprint: str, choices: list[ChunkChoice], include_usage: bool,
           usage: Usage | None = None) -> bytes:
    chunk = ChatCompletionChunk(id=cid, created=created, model=model, choices=choices, usage=usage,
                                system_fingerprint=fingerprint)
    data = chunk.model_dump(mode="json")
    for choice in data["choices"]:  # deltas carry only the fields that changed, as OpenAI's do
        choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
    if not include_usage:
        data.pop("usage")
    return sampling.sse(data)


async def _stream_local(server: ModelServer, prepared: Prepared, params: SamplingParams, model: str,
                        include_usage: bool, tools: bool, on_usage: sampling.UsageHook | None) -> AsyncIterator[bytes]:
    cid, created = ids.new_id("chatcmpl-"), int(time.time())

    def chunk(index: int, delta: ChoiceDelta, finish: str | None = None) -> bytes:
        choice = ChunkChoice(index=index, delta=delta, finish_reason=finish)
        return _chunk(cid, created, model, prepared.fingerprint, [choice], include_usage)

    for i in range(params.n):
        yield chunk(i, ChoiceDelta(role="assistant", content=""))
    result: Completion | None = None
    async for item in server.engine.stream(prepared, params):
        if isinstance(item, Completion):
            result = item
        elif tools:
            continue  # tool calls are parsed from the whole reply, sent at the end
        elif item.finish_reason is not None:
            yield chunk(item.index, ChoiceDelta(), item.finish_reason)
        elif item.text:
            yield chunk(item.index, ChoiceDelta(content=item.text))
    assert result is not None
    await sampling.report_usage(on_usage, _usage(result))
    if tools:
        for c in result.choices:
            message, finish = _message(c.text, c.finish_reason, True)
            if message.content:
                yield chunk(c.index, ChoiceDelta(content=message.content))
            if message.tool_calls:
                deltas = [ToolCallDelta(index=k, id=t.id, type="function", function=t.function)
                          for k, t in enumerate(message.tool_calls)]
                yield chunk(c.index, ChoiceDelta(tool_calls=deltas))
            yield chunk(c.index, ChoiceDelta(), finish)
    if include_usage:
        yield _chunk(cid, created, model, prepared.fingerprint, [], True, _usage(result))


# --- the endpoint ---------------------------------------------------------------------------
async def create(state: AppState, server: ModelServer, project_id: str,
                 req: ChatCompletionRequest, on_usage: sampling.UsageHook | None = None) -> sampling.Result:
    """A chat completion (a JSON-ready dict) or, for ``stream: true``, the SSE byte stream;
    the token counts go to ``on_usage`` once known.

    400 bad parameter / prompt over the context (``context_length_exceeded``); 404
    ``model_not_found``; 503 when the model's serving backend is unreachable.
    """
    params = sampling.sampling_params(req, req.max_completion_tokens or req.max_tokens)
    target, proxied = await sampling.resolve_or_proxy(state, server, project_id, req, CHAT, on_usage)
    if proxied is not None:
        return proxied
    check_supported(req)
    tools = _tools(req)
    with sampling.preparing(req.model):
        prepared = await server.engine.prepare(target, to_messages(req), tools=tools, max_tokens=params.max_tokens)
    sampling.check_vocabulary(params, prepared)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return sampling.framed(_stream_local(server, prepared, params, req.model, include_usage, tools is not None,
                                   on_usage))
    result = await server.engine.generate(prepared, params)
    completion = to_completion(ids.new_id("chatcmpl-"), int(time.time()), req.model, result, tools is not None,
                               prepared.fingerprint)
    await sampling.report_usage(on_usage, completion.usage)
    return completion.model_dump(mode="json")
