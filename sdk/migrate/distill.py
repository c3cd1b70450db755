"""Distill a hosted fine-tune into an open model here, and grade how close it came.

Steps, each resumable: sample the source model on every prompt (answers are appended to
``work_dir/answers.jsonl`` as they arrive, so a re-run only samples what is missing); split off
held-out prompts (a seeded shuffle); upload the training prompts with the source's answers
and train an open base on them (SFT, every hyperparameter ``auto``); then one eval here whose
reference is the source's answer, run for the new ``ft:`` model and for its base, over the
held-out prompts. The report puts the source's answers and the student's side by side.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai

from sdk.migrate.models import map_base_model

Progress = Callable[[str], None]
TERMINAL_JOB = ("succeeded", "failed", "cancelled")
TERMINAL_RUN = ("completed", "failed", "canceled")

#: The grader used when the user names none: how alike the student's answer is to the source's.
DEFAULT_GRADER: dict[str, Any] = {
    "type": "text_similarity", "name": "agreement", "evaluation_metric": "fuzzy_match",
    "input": "{{sample.output_text}}", "reference": "{{item.reference}}", "pass_threshold": 0.8,
}


@dataclass
class DistillItem:
    """One held-out prompt: the source's answer, the student's, and the grade."""

    messages: list[dict[str, Any]]
    source_answer: str
    student_answer: str | None
    score: float | None


@dataclass
class DistillReport:
    """What a distillation produced and how close the student came to the source."""

    source_model: str
    base_model: str
    student_model: str | None
    job_id: str
    training_file: str
    n_train: int
    n_holdout: int
    eval_id: str
    student_run: str
    base_run: str
    student_score: float
    base_score: float
    student_pass_rate: float
    items: list[DistillItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DistillError(RuntimeError):
    """Distillation could not go on; the message says why."""


def read_prompts(path: Path) -> list[list[dict[str, Any]]]:
    """Chat JSONL, with or without answers: each line's messages up to its last user turn."""
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DistillError(f"{path}: line {number} is not a chat example with 'messages'") from exc
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last_user is None:
            raise DistillError(f"{path}: line {number} has no user message")
        prompts.append(messages[: last_user + 1])
    if not prompts:
        raise DistillError(f"{path} has no prompts")
    return prompts


def sample_source(source: openai.OpenAI, model: str, prompts: Sequence[list[dict[str, Any]]], work_dir: Path,
                  *, requests_per_second: float = 2.0, max_tokens: int = 512,
                  progress: Progress | None = None) -> list[str]:
    """The source model's answer to every prompt, greedy, at most ``requests_per_second``.

    Answers are appended to ``work_dir/answers.jsonl`` keyed by the prompt's hash, so an
    interrupted run resumes where it stopped.
    """
    say = progress or (lambda _m: None)
    work_dir.mkdir(parents=True, exist_ok=True)
    cache_path = work_dir / "answers.jsonl"
    cache: dict[str, str] = {}
    if cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                cache[record["key"]] = record["answer"]
    interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
    answers, last = [], 0.0
    with cache_path.open("a", encoding="utf-8") as out:
        for index, messages in enumerate(prompts):
            key = _prompt_key(model, messages)
            if key not in cache:
                wait = last + interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last = time.monotonic()
                reply = source.chat.completions.create(model=model, messages=messages,  # type: ignore[arg-type]
                                                       temperature=0, max_tokens=max_tokens)
                cache[key] = reply.choices[0].message.content or ""
                out.write(json.dumps({"key": key, "answer": cache[key]}, ensure_ascii=False) + "\n")
                out.flush()
                say(f"sampled {index + 1}/{len(prompts)}")
            answers.append(cache[key])
    return answers


def distill(
    source: openai.OpenAI,
    dest: openai.OpenAI,
    *,
    source_model: str,
    prompts_path: Path,
    work_dir: Path,
    base_model: str | None = None,
    model_map: Mapping[str, str] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    grader: Mapping[str, Any] | None = None,
    suffix: str = "distilled",
    requests_per_second: float = 2.0,
    max_tokens: int = 512,
    poll_seconds: float = 2.0,
    progress: Progress | None = None,
) -> DistillReport:
    """Sample ``source_model``, train a student here, grade it against the source: see the module."""
    say = progress or (lambda _m: None)
    prompts = read_prompts(prompts_path)
    if len(prompts) < 12:
        raise DistillError(f"{prompts_path} has {len(prompts)} prompts; distillation needs at least 12 "
                           "(10 to train on, the rest held out)")
    answers = sample_source(source, source_model, prompts, work_dir, requests_per_second=requests_per_second,
                            max_tokens=max_tokens, progress=say)
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    n_holdout = max(2, min(len(prompts) - 10, round(len(prompts) * holdout)))
    held, train = order[:n_holdout], order[n_holdout:]
    answered = [i for i in train if answers[i].strip()]  # an empty assistant message fails validation
    if len(answered) < len(train):
        say(f"skipping {len(train) - len(answered)} empty answers of {source_model}")
    train = answered
    if len(train) < 10:
        raise DistillError(f"{source_model} gave {len(train)} non-empty answers to train on; "
                           "distillation needs at least 10")

    base = base_model or map_base_model(source_model, model_map, [m.id for m in dest.models.list()])
    training = "".join(
        json.dumps({"messages": [*prompts[i], {"role": "assistant", "content": answers[i]}]}, ensure_ascii=False)
        + "\n" for i in train
    ).encode()
    uploaded = dest.files.create(file=(f"distill-{_slug(source_model)}.jsonl", training), purpose="fine-tune")
    job = dest.fine_tuning.jobs.create(model=base, training_file=uploaded.id, suffix=suffix,
                                       metadata={"openft_distilled_from": source_model[:512]})
    say(f"training {base} on {len(train)} answers of {source_model}: job {job.id}")
    job = _wait(lambda: dest.fine_tuning.jobs.retrieve(job.id), TERMINAL_JOB, poll_seconds, say, "job")
    if job.status != "succeeded" or not job.fine_tuned_model:
        reason = job.error.message if job.error else job.status
        raise DistillError(f"the student's training job {job.id} ended {job.status}: {reason}")

    items = [{"item": {"messages": prompts[i], "reference": answers[i]}} for i in held]
    criteria = dict(grader or DEFAULT_GRADER)
    evaluation = dest.evals.create(
        name=f"distill {source_model}"[:256],
        data_source_config={"type": "custom", "include_sample_schema": True, "item_schema": {
            "type": "object",
            "properties": {"messages": {"type": "array"}, "reference": {"type": "string"}},
            "required": ["messages", "reference"],
        }},
        testing_criteria=[criteria],  # type: ignore[list-item]
        metadata={"openft_distilled_from": source_model[:512]},
    )
    runs = {name: _run(dest, evaluation.id, model, items, max_tokens, name)
            for name, model in (("student", job.fine_tuned_model), ("base", base))}
    finished = {name: _wait(_retriever(dest, evaluation.id, run.id), TERMINAL_RUN, poll_seconds, say,
                            f"{name} eval run") for name, run in runs.items()}
    for name, run in finished.items():
        if run.status != "completed":
            raise DistillError(f"the {name} eval run {run.id} ended {run.status}")
    student_items = _output_items(dest, evaluation.id, finished["student"].id)
    scores = {name: _mean_score(_output_items(dest, evaluation.id, run.id)) for name, run in finished.items()}
    counts = finished["student"].result_counts
    report = DistillReport(
        source_model=source_model, base_model=base, student_model=job.fine_tuned_model, job_id=job.id,
        training_file=uploaded.id, n_train=len(train), n_holdout=len(held), eval_id=evaluation.id,
        student_run=finished["student"].id, base_run=finished["base"].id,
        student_score=scores["student"], base_score=scores["base"],
        student_pass_rate=counts.passed / counts.total if counts.total else 0.0,
        items=[DistillItem(prompts[i], answers[i], *student_items.get(_prompt_key("", prompts[i]), (None, None)))
               for i in held],
    )
    say(f"agreement with {source_model}: student {report.student_score:.3f}, base {report.base_score:.3f}")
    return report


def _retriever(dest: openai.OpenAI, eval_id: str, run_id: str) -> Callable[[], Any]:
    return lambda: dest.evals.runs.retrieve(run_id, eval_id=eval_id)


def _run(dest: openai.OpenAI, eval_id: str, model: str, items: list[dict[str, Any]], max_tokens: int,
         name: str) -> Any:
    data_source: dict[str, Any] = {
        "type": "completions", "model": model,
        "source": {"type": "file_content", "content": items},
        "input_messages": {"type": "item_reference", "item_reference": "item.messages"},
        "sampling_params": {"temperature": 0, "max_completion_tokens": max_tokens},
    }
    return dest.evals.runs.create(eval_id, name=f"{name}: {model}"[:256], data_source=data_source)  # type: ignore[arg-type]


def _output_items(dest: openai.OpenAI, eval_id: str, run_id: str) -> dict[str, tuple[str | None, float | None]]:
    """Held-out prompt key -> (the model's answer, the first criterion's score)."""
    found: dict[str, tuple[str | None, float | None]] = {}
    for out in dest.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100):
        messages: Any = (out.datasource_item or {}).get("messages") or []
        answer = next((o.content for o in (out.sample.output or []) if o.role == "assistant"), None)
        score = out.results[0].score if out.results else None
        found[_prompt_key("", messages)] = (answer, score)
    return found


def _mean_score(items: Mapping[str, tuple[str | None, float | None]]) -> float:
    scores = [score or 0.0 for _answer, score in items.values()]
    return sum(scores) / len(scores) if scores else 0.0


def _wait(fetch: Callable[[], Any], terminal: Sequence[str], poll: float, say: Progress, what: str) -> Any:
    last = None
    while True:
        obj = fetch()
        if obj.status != last:
            say(f"{what} {obj.id}: {obj.status}")
            last = obj.status
        if obj.status in terminal:
            return obj
        time.sleep(poll)


def _prompt_key(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    blob = json.dumps([model, list(messages)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _slug(model: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in model)[:60]
