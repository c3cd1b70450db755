"""OpenAI training files -> tokenized examples, through the base model's chat template.

Supervised (chat) lines become ``{"input_ids", "labels"}``: the whole conversation is rendered
once with the chat template (tools included) and only the tokens of assistant messages are
labelled, each up to and including its end-of-turn token, never those of an assistant message
with ``weight: 0``. The labels are built here rather than by TRL's ``assistant_only_loss``,
which cannot honour ``weight`` and needs ``{% generation %}`` markers that most hub templates
lack: an assistant message's span is the text the template adds for it (the rendering of the
conversation up to it with a generation prompt, versus up to and including it), mapped to
tokens through the tokenizer's offsets.

Preference (DPO) lines become conversational ``{"prompt", "chosen", "rejected"}`` rows that
TRL's ``DPOTrainer`` renders through the same template.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.end_of_turn import end_of_turn_markers
from core.jsonl import JsonlError, iter_objects
from core.messages import content_text, template_messages, template_tools
from core.protocol import file_key
from core.store import Store

IGNORE = -100


class DataError(ValueError):
    """A training or validation line the engine cannot use (the scheduler validates first)."""


def read_jsonl(store: Store, file_id: str, key: str | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a training or validation file, one per non-blank line, read with the
    one JSONL reader (``core.jsonl``), so what validation accepted is exactly what is trained.
    ``key``: a deduplicated or redacted copy to read instead (``JobSpec.data_keys``)."""
    try:
        return [record.value for record in iter_objects(store.iter_bytes(key or file_key(file_id)))]
    except JsonlError as exc:
        raise DataError(f"{file_id}: {exc.message}") from exc


# --- messages -------------------------------------------------------------------------------
def normalize_messages(messages: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[bool]]:
    """Messages in chat-template shape (:func:`core.messages.template_messages`, the shape serving
    renders too), and for each one whether it is trained: assistant messages without ``weight: 0``."""
    raw = list(messages)
    trained = [m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in raw]
    return template_messages(raw), trained


# --- supervised -----------------------------------------------------------------------------
@dataclass
class SFTExample:
    input_ids: list[int]
    labels: list[int]

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, gen: bool) -> str:
    return str(tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=gen))


def assistant_char_spans(tokenizer: Any, messages: list[dict[str, Any]], trained: list[bool],
                         tools: Any) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its trained assistant messages."""
    full = _render(tokenizer, messages, tools, gen=False)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], tools, gen=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1], tools, gen=False)
        if full.startswith(upto) and upto.startswith(before) and len(before) >= cursor:
            start, end = len(before), len(upto)
        else:  # a template that renders earlier turns differently once more follow
            start = full.find(msg["content"], cursor) if msg["content"] else -1
            if start < 0:
                raise DataError("cannot locate an assistant message in the rendered conversation")
            end = start + len(msg["content"])
            end = _extend_to_end_of_turn(full, end, tokenizer)
        end = _cut_after_end_of_turn(full, start, end, tokenizer)
        cursor = end
        if trained[i]:
            spans.append((start, end))
    return full, spans


def _cut_after_end_of_turn(text: str, start: int, end: int, tokenizer: Any) -> int:
    """End the span right after its end-of-turn token (not the newline a template adds after it)."""
    best = -1
    for marker in end_of_turn_markers(tokenizer):
        pos = text.rfind(marker, start, end)
        if pos >= 0:
            best = max(best, pos + len(marker))
    return best if best > 0 else end


def _extend_to_end_of_turn(text: str, end: int, tokenizer: Any) -> int:
    found = [text.find(m, end) for m in end_of_turn_markers(tokenizer)]
    found = [f for f in found if f >= 0]
    if not found:
        return end
    first = min(found)
    marker = next(m for m in end_of_turn_markers(tokenizer) if text.find(m, end) == first)
    return first + len(marker)


def sft_example(row: dict[str, Any], tokenizer: Any, max_length: int) -> SFTExample:
    """One chat line -> input ids and labels (``-100`` except on trained assistant tokens).

    Truncated to ``max_length`` tokens from the start, as OpenAI truncates long examples.
    """
    messages, trained = normalize_messages(row["messages"])
    text, spans = assistant_char_spans(tokenizer, messages, trained, template_tools(row))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    for k, (a, b) in enumerate(enc["offset_mapping"]):
        # a token belongs to a span when it ends inside it (one merged across the start included)
        if b > a and any(s < b <= e for s, e in spans):
            labels[k] = ids[k]
    return SFTExample(ids[:max_length], labels[:max_length])


def sft_examples(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> list[SFTExample]:
    """All usable examples (those left with no trained token are dropped)."""
    out = [sft_example(r, tokenizer, max_length) for r in rows]
    return [e for e in out if e.n_trained > 0]


def prompt_of(row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, str | None]:
    """For an SFT or DPO line: the messages before the last assistant turn, tools, and that turn's text.

    Used for the greedy samples written after training (train-to-serve check).
    """
    if "input" in row:
        messages, _ = normalize_messages(row["input"].get("messages", []))
        preferred = row.get("preferred_output") or [{}]
        return messages, template_tools(row["input"]), content_text(preferred[-1].get("content"))
    messages, _ = normalize_messages(row.get("messages", []))
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return messages, template_tools(row), None
    return messages[:last], template_tools(row), messages[last]["content"]


# --- preference -----------------------------------------------------------------------------
def dpo_row(row: dict[str, Any]) -> dict[str, Any]:
    """One preference line -> conversational ``prompt`` / ``chosen`` / ``rejected`` (+ ``tools``)."""
    try:
        prompt, _ = normalize_messages(row["input"]["messages"])
        chosen, _ = normalize_messages(row["preferred_output"][-1:])
        rejected, _ = normalize_messages(row["non_preferred_output"][-1:])
    except (KeyError, TypeError, IndexError) as exc:
        raise DataError(f"not a preference example: missing {exc}") from exc
    plain = [[{"role": m["role"], "content": m["content"]} for m in part] for part in (prompt, chosen, rejected)]
    out: dict[str, Any] = {"prompt": plain[0], "chosen": plain[1], "rejected": plain[2]}
    tools = template_tools(row["input"])
    if tools:
        out["tools"] = json.dumps(tools)
    return out


def dpo_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dpo_row(r) for r in rows]
    if any("tools" in r for r in out):  # one Arrow schema for all rows
        for r in out:
            r.setdefault("tools", "[]")
    return out


def count_tokens(examples: Iterable[SFTExample]) -> int:
    return sum(len(e.input_ids) for e in examples)
