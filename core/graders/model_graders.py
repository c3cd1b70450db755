"""``score_model`` and ``label_model``: a judge model reads the templated ``input`` and answers.

The judge is asked for a bare answer (an instruction is added after the grader's own messages:
"Reply with only a number from 0 to 1" / "Reply with only one of these labels: ...") and its reply
is read leniently: JSON ``{"result": …}`` (OpenAI's structured-output shape) or ``{"score"|"label": …}``,
else the first number / the one label named in the text. An unreadable or out-of-range answer is
``model_grader_parse_error``; a refusal ``model_grader_refusal_error``; a judge that does not exist
or cannot be reached ``model_grader_server_error`` with details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from core.graders.judge import Judge, JudgeReply, JudgeUnavailable
from core.graders.result import GradeResult
from core.graders.spec import JudgeMessage, LabelModel, SamplingParams, ScoreModel
from core.graders.templates import Sample, render_template

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def render_messages(messages: list[JudgeMessage], *, item: Mapping[str, Any] | None,
                    sample: Sample | None) -> list[dict[str, Any]]:
    """Chat messages with every template rendered (``developer`` becomes ``system``)."""
    out = []
    for message in messages:
        text = "\n".join(render_template(t, item=item, sample=sample) for t in message.texts())
        out.append({"role": "system" if message.role == "developer" else message.role, "content": text})
    return out


def with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """``messages`` with ``instruction`` appended to the last user turn (or as a new user turn)."""
    if messages and messages[-1]["role"] == "user":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{instruction}"}]
    return [*messages, {"role": "user", "content": instruction}]


def judge_params(params: SamplingParams | None) -> dict[str, Any]:
    """OpenAI chat parameters for the judge from the grader's ``sampling_params``."""
    if params is None:
        return {}
    out: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p, "seed": params.seed,
                           "max_completion_tokens": params.max_completions_tokens,
                           "reasoning_effort": params.reasoning_effort}
    return {k: v for k, v in out.items() if v is not None}


def _json_field(text: str, *keys: str) -> Any:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                return data[key]
    return None


def read_score(text: str) -> float | None:
    """The score in the judge's reply, or None."""
    value = _json_field(text, "result", "score")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _NUMBER.search(text)
    return float(match.group(0)) if match else None


def read_label(text: str, labels: list[str]) -> str | None:
    """The label the judge picked, or None when it named none or several."""
    value = _json_field(text, "result", "label")
    if isinstance(value, str) and value in labels:
        return value
    bare = text.strip().strip("\"'`.!").strip()
    for label in labels:
        if bare.casefold() == label.casefold():
            return label
    named = [lab for lab in labels if re.search(rf"(?<!\w){re.escape(lab)}(?!\w)", text, re.IGNORECASE)]
    return named[0] if len(named) == 1 else None


async def run_model_grader(grader: ScoreModel | LabelModel, result: GradeResult, *, item: Mapping[str, Any] | None,
                           sample: Sample | None, judge: Judge | None) -> None:
    """Fill ``result`` with the judge's score (or label verdict) and its token usage."""
    messages = render_messages(grader.input, item=item, sample=sample)  # TemplateVariableError -> caller
    if isinstance(grader, ScoreModel):
        low, high = grader.range
        instruction = f"Reply with only the score: a number from {low:g} to {high:g}."
    else:
        instruction = "Reply with only one of these labels: " + ", ".join(grader.labels) + "."
    if judge is None:
        result.fail("model_grader_server_error", "model_grader_server_error_details",
                    f"No judge can serve '{grader.model}' here.")
        return
    try:
        reply: JudgeReply = await judge.complete(grader.model, with_instruction(messages, instruction),
                                                 judge_params(grader.sampling_params))
    except JudgeUnavailable as exc:
        result.fail("model_grader_server_error", "model_grader_server_error_details", exc.message)
        return
    result.sampled_model_name = grader.model
    usage = result.token_usage.setdefault(grader.model, {})
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        usage[key] = usage.get(key, 0) + int(reply.usage.get(key, 0))
    if reply.refusal:
        result.fail("model_grader_refusal_error")
        return
    if isinstance(grader, ScoreModel):
        score = read_score(reply.text)
        if score is None or not low <= score <= high:
            result.fail("model_grader_parse_error")
            return
        result.reward = score
    else:
        label = read_label(reply.text, grader.labels)
        if label is None:
            result.fail("model_grader_parse_error")
            return
        result.reward = 1.0 if label in grader.passing_labels else 0.0
        result.scores[f"{grader.name}.label"] = label
