"""OpenAI's graders: parse a grader JSON, render its templates, grade a sample.

Used by ``/v1/fine_tuning/alpha/graders``, the Evals API and reinforcement fine-tuning (which is
why this lives in ``core``: ``gpu_worker`` may not import ``api``)::

    grader = parse_grader(spec, settings)          # GraderSpecError(message, param) when malformed
    result = await grade(grader, item=row, sample=Sample.from_text(answer), judge=judge, settings=settings)
    result.reward, result.errors, result.token_usage
"""

from core.graders.grade import grade
from core.graders.judge import Judge, JudgeReply, JudgeUnavailable
from core.graders.result import ERROR_DETAILS, ERROR_FLAGS, GradeResult
from core.graders.spec import (
    Grader,
    GraderSpecError,
    LabelModel,
    Multi,
    Python,
    ScoreModel,
    StringCheck,
    TextSimilarity,
    parse_grader,
    wire,
)
from core.graders.templates import Sample, TemplateVariableError, render_template

__all__ = [
    "ERROR_DETAILS", "ERROR_FLAGS", "GradeResult", "Grader", "GraderSpecError", "Judge", "JudgeReply",
    "JudgeUnavailable", "LabelModel", "Multi", "Python", "Sample", "ScoreModel", "StringCheck",
    "TemplateVariableError", "TextSimilarity", "grade", "parse_grader", "render_template", "wire",
]
