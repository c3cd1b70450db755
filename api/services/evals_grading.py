"""One data source item of a run: sample it (completions) or take its sample (jsonl), grade it.

The outcome is what an ``eval.run.output_item`` shows (results per criterion, the sample with
its input, output and usage) plus the token usage per model for ``per_model_usage``. Problems
of one item (a missing template variable, a prompt over the context, a grader error) mark
that item errored; only a vanished model (:class:`~api.services.evals_sampling.ModelGone`)
propagates, because it fails the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.errors import APIError
from api.inference.server import ModelServer
from api.schemas.evals import NO_ERROR, CompletionsDataSource, JsonlDataSource, TemplateMessage
from api.services.evals import passes
from api.services.evals_sampling import ModelGone, RunJudge, complete
from api.state import AppState
from core.graders import Grader, Sample, grade, render_template


@dataclass
class ItemOutcome:
    """What one item produced."""

    results: list[dict[str, Any]]
    sample: dict[str, Any]
    status: str  # pass | fail
    errored: bool
    usage: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> token counts


class ItemError(Exception):
    """This item cannot be sampled (its error goes into the output item's sample)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _text_of(content: str | dict[str, Any] | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if part.get("type") not in ("input_text", "output_text", None) or not isinstance(part.get("text"), str):
            raise ItemError("unsupported_content", f"content parts of type {part.get('type')!r} are not "
                            "supported: this server serves text-only models")
        texts.append(part["text"])
    return "".join(texts)


def _lookup(item: Mapping[str, Any], path: str) -> Any:
    value: Any = {"item": item}
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ItemError("invalid_variable_error", f"item_reference {path!r} names no field of the item")
        value = value[key]
    return value


def build_messages(ds: CompletionsDataSource, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat messages to sample for ``item``: the rendered template, or the referenced field."""
    if ds.input_messages.type == "item_reference":
        value = _lookup(item, ds.input_messages.item_reference)
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
            return [{"role": m["role"], "content": _text_of(m.get("content") or "")} for m in value]
        raise ItemError("invalid_variable_error",
                        f"{ds.input_messages.item_reference} must be a string or a list of chat messages")
    messages = []
    for message in ds.input_messages.template:
        assert isinstance(message, TemplateMessage)
        try:
            text = render_template(_text_of(message.content), item=item, sample=None)
        except ItemError:
            raise
        except Exception as exc:  # the graders' typed missing-variable error
            raise ItemError("invalid_variable_error", str(exc)) from exc
        messages.append({"role": message.role, "content": text})
    return messages


async def _sample(state: AppState, server: ModelServer, project_id: str, ds: CompletionsDataSource,
                  item: Mapping[str, Any]) -> tuple[Sample | None, dict[str, Any], dict[str, dict[str, int]]]:
    params = ds.sampling_params.model_dump(exclude_none=True) if ds.sampling_params else {}
    shown: dict[str, Any] = {
        "model": ds.model, "input": [], "output": [], "finish_reason": "", "error": NO_ERROR,
        "max_completion_tokens": params.get("max_completion_tokens", 0), "seed": params.get("seed", 0),
        "temperature": float(params.get("temperature", 1.0)), "top_p": float(params.get("top_p", 1.0)),
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}}
    try:
        messages = build_messages(ds, item)
        shown["input"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        reply = await complete(state, server, project_id, ds.model, messages, params)
    except ModelGone:
        raise
    except ItemError as exc:
        shown["error"] = {"code": exc.code, "message": exc.message}
        return None, shown, {}
    except APIError as exc:
        shown["error"] = {"code": exc.code or "sampling_error", "message": exc.message}
        return None, shown, {}
    shown["output"] = [{"role": "assistant", "content": reply.text}]
    shown["finish_reason"] = reply.finish_reason
    shown["usage"] = {**reply.usage, "cached_tokens": 0}
    sample = Sample.from_text(reply.text)
    sample.choices = [{"index": 0, "finish_reason": reply.finish_reason,
                       "message": {"role": "assistant", "content": reply.text}}]
    return sample, shown, {ds.model: {**reply.usage, "invocation_count": 1}}


def _given_sample(row: Mapping[str, Any], model: str) -> tuple[Sample | None, dict[str, Any]]:
    given = row.get("sample")
    shown: dict[str, Any] = {
        "model": model, "input": [], "output": [], "finish_reason": "", "error": NO_ERROR,
        "max_completion_tokens": 0, "seed": 0, "temperature": 0.0, "top_p": 1.0,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}}
    if not given:
        return None, shown
    text = given.get("output_text")
    if not isinstance(text, str):
        choices = given.get("choices") or []
        message = choices[0].get("message", {}) if choices and isinstance(choices[0], dict) else {}
        text = message.get("content") if isinstance(message.get("content"), str) else ""
    sample = Sample.from_text(text)
    if "output_json" in given:
        sample.output_json = given["output_json"]
    for key in ("choices", "output_tools"):
        if isinstance(given.get(key), list):
            setattr(sample, key, given[key])
    shown["output"] = [{"role": "assistant", "content": text}]
    return sample, shown


async def evaluate(state: AppState, server: ModelServer, project_id: str, ds: JsonlDataSource | CompletionsDataSource,
                   criteria: list[tuple[dict[str, Any], Grader]], row: Mapping[str, Any],
                   judge: RunJudge) -> ItemOutcome:
    """Sample and grade one item; raises :class:`ModelGone` when the sampled or a judge model vanished."""
    item = row["item"]
    usage: dict[str, dict[str, int]] = {}
    if isinstance(ds, CompletionsDataSource):
        sample, shown, usage = await _sample(state, server, project_id, ds, item)
        unsampled = shown["error"] is not NO_ERROR
    else:
        sample, shown = _given_sample(row, "")
        unsampled = False
    errored = unsampled
    results = []
    for spec, grader in criteria:
        if unsampled:  # nothing to grade: the sample could not be made
            results.append({"name": spec.get("name", ""), "type": spec["type"], "score": 0.0, "passed": False,
                            "sample": None})
            continue
        graded = await grade(grader, item=item, sample=sample, judge=judge, settings=state.settings)
        if judge.gone is not None:
            raise judge.gone
        flags = {k: v for k, v in graded.errors.items() if v}
        for model, counts in graded.token_usage.items():
            mine = usage.setdefault(model, {})
            for key, value in counts.items():
                mine[key] = mine.get(key, 0) + int(value)
            mine["invocation_count"] = mine.get("invocation_count", 0) + 1
        ok = not flags and passes(spec, graded.reward)
        errored = errored or bool(flags)
        results.append({"name": spec.get("name", ""), "type": spec["type"], "score": float(graded.reward),
                        "passed": ok, "sample": None, "sub_rewards": graded.sub_rewards,
                        "errors": flags})
    status = "pass" if results and all(r["passed"] for r in results) and not errored else "fail"
    return ItemOutcome(results=results, sample=shown, status=status, errored=errored, usage=usage)
