"""``grade(grader, item=…, sample=…)``: one reward for one sample, never an exception.

Grading-time problems become OpenAI's error flags on the result (and a reward of 0): a template
variable that is missing (``invalid_variable_error``; ``sample_parse_error`` too when it reads
``sample.output_json`` of a non-JSON sample), a formula that fails (``formula_parse_error``), a
python grader that raises or overruns (``python_grader_*``), a judge that is down or answers
nonsense (``model_grader_*``). Anything unexpected is ``other_error`` and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from core.graders import text
from core.graders.formula import FormulaError, evaluate
from core.graders.judge import Judge
from core.graders.result import GradeResult
from core.graders.spec import Grader, LabelModel, Multi, Python, ScoreModel, StringCheck, TextSimilarity
from core.graders.templates import Sample, TemplateVariableError, render_template
from core.settings import Settings

log = logging.getLogger("openft.graders")


async def grade(grader: Grader, *, item: Mapping[str, Any] | None, sample: Sample | None,
                judge: Judge | None = None, settings: Settings) -> GradeResult:
    """The reward of ``grader`` for ``sample`` of ``item``, with error flags, scores and timing."""
    started = time.perf_counter()
    result = await _grade(grader, item=item, sample=sample, judge=judge, settings=settings)
    result.execution_time = time.perf_counter() - started
    return result


async def _grade(grader: Grader, *, item: Mapping[str, Any] | None, sample: Sample | None,
                 judge: Judge | None, settings: Settings) -> GradeResult:
    result = GradeResult(name=grader.name, type=grader.type)
    try:
        if isinstance(grader, Multi):
            await _multi(grader, result, item=item, sample=sample, judge=judge, settings=settings)
        elif isinstance(grader, StringCheck):
            rendered = render_template(grader.input, item=item, sample=sample)
            reference = render_template(grader.reference, item=item, sample=sample)
            result.reward = text.string_check(grader, rendered, reference)
        elif isinstance(grader, TextSimilarity):
            rendered = render_template(grader.input, item=item, sample=sample)
            reference = render_template(grader.reference, item=item, sample=sample)
            if grader.evaluation_metric == "cosine":
                from core.graders.embeddings import cosine

                result.reward = await cosine(settings, rendered, reference)
            else:  # off the event loop: ROUGE-L on long texts is quadratic
                result.reward = await asyncio.to_thread(text.similarity, grader.evaluation_metric, rendered, reference)
        elif isinstance(grader, Python):
            from core.graders.sandbox import run_python_grader

            await run_python_grader(grader, result, item=item, sample=sample, settings=settings)
        elif isinstance(grader, ScoreModel | LabelModel):
            from core.graders.model_graders import run_model_grader

            await run_model_grader(grader, result, item=item, sample=sample, judge=judge)
    except TemplateVariableError as exc:
        result.fail("invalid_variable_error")
        if exc.sample_parse:
            result.fail("sample_parse_error")
        log.info("grader %s: %s", grader.name, exc)
    except Exception:
        log.exception("grader %s (%s) failed", grader.name, grader.type)
        result.fail("other_error")
    if result.failed:
        result.reward = 0.0
    result.scores.setdefault(grader.name, result.reward)
    return result


async def _multi(grader: Multi, result: GradeResult, *, item: Mapping[str, Any] | None, sample: Sample | None,
                 judge: Judge | None, settings: Settings) -> None:
    for key, sub in grader.graders.items():
        sub_result = await _grade(sub, item=item, sample=sample, judge=judge, settings=settings)
        result.sub_rewards[key] = sub_result.reward
        result.scores[key] = sub_result.reward
        result.merge_usage(sub_result)
    if result.failed:
        return
    try:
        result.reward = evaluate(grader.calculate_output, result.sub_rewards)
    except FormulaError as exc:
        log.info("grader %s: %s", grader.name, exc)
        result.fail("formula_parse_error")
