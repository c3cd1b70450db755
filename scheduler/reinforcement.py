"""Reinforcement fine-tuning (OpenAI's ``reinforcement`` method): its hyperparameters and grader.

Checked when a job is created (:func:`check_hyperparameters`, :func:`check_grader`) and resolved
once its files are validated (:func:`resolve`). How the numbers drive GRPO (gpu_worker.grpo):

- ``compute_multiplier`` (``auto`` = 1.0; OpenAI's range 1e-5 < x <= 10) and
  ``reasoning_effort`` map to completions per prompt and new tokens per completion
  (:mod:`core.rft`).
- ``eval_interval`` (``auto``: about 10 evaluations per job when there is a validation file, none
  otherwise) and ``eval_samples`` (``auto``: up to 16 validation examples, one completion each)
  give ``valid_reward_mean``; the whole validation file is graded at the end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from core.formats import FormatError
from core.graders import GraderSpecError, TemplateVariableError, parse_grader, wire
from core.graders.spec import LabelModel, Multi, ScoreModel
from core.graders.templates import resolve as resolve_variable
from core.graders.templates import variables
from core.rft import EFFORTS
from core.settings import Settings

MAX_COMPUTE_MULTIPLIER: Final = 10.0
MAX_EVAL: Final = 1_000_000
AUTO_EVAL_SAMPLES: Final = 16
GRADER_PARAM: Final = "method[reinforcement][grader]"


def _error(message: str, param: str, code: str = "invalid_value") -> Exception:
    from scheduler.hyperparams import HyperparameterError

    return HyperparameterError(message, param, code)


def _int(value: Any, name: str, param: str) -> int | str:
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
            and float(value).is_integer() and 1 <= value <= MAX_EVAL:
        return int(value)
    raise _error(f"Invalid value for {name}: expected 'auto' or an integer from 1 to {MAX_EVAL}, got {value!r}.",
                 param)


def check_hyperparameters(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The reinforcement-only hyperparameters of a create request, ``"auto"`` where not given."""
    cm = values.get("compute_multiplier")
    if cm is not None and cm != "auto":
        ok = isinstance(cm, int | float) and not isinstance(cm, bool) and math.isfinite(cm)
        if not (ok and 1e-5 < cm <= MAX_COMPUTE_MULTIPLIER):
            raise _error(f"Invalid value for compute_multiplier: expected 'auto' or a number greater than 1e-05 "
                         f"and at most {MAX_COMPUTE_MULTIPLIER:g}, got {cm!r}.", f"{prefix}[compute_multiplier]")
        cm = float(cm)
    effort = values.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise _error(f"Invalid value for reasoning_effort: expected one of {', '.join(EFFORTS)}, got {effort!r}.",
                     f"{prefix}[reasoning_effort]")
    return {
        "compute_multiplier": cm if cm is not None else "auto",
        "eval_interval": _int(values.get("eval_interval"), "eval_interval", f"{prefix}[eval_interval]"),
        "eval_samples": _int(values.get("eval_samples"), "eval_samples", f"{prefix}[eval_samples]"),
        "reasoning_effort": effort or "default",
    }


def model_graders(grader: Any) -> list[str]:
    """The judge models of ``grader`` (score_model / label_model, also inside a multi grader)."""
    if isinstance(grader, ScoreModel | LabelModel):
        return [grader.model]
    if isinstance(grader, Multi):
        return [m for sub in grader.graders.values() for m in model_graders(sub)]
    return []


def check_grader(method: dict[str, Any], settings: Settings, validation_file: str | None) -> dict[str, Any]:
    """``method`` with its grader in normal form (defaults filled in, as the job echoes it).

    Refuses a reinforcement job whose grader is invalid here (``HyperparameterError`` naming
    ``method[reinforcement][grader]...``), or whose evaluation (``eval_interval``, ``eval_samples``)
    needs a validation file it lacks (naming ``validation_file``, the parameter to add).

    The grader is parsed as ``/v1/fine_tuning/alpha/graders/validate`` parses it. Model graders
    train only against the operator's judge endpoint (``OPENFT_GRADER_JUDGE_URL``): the training
    child cannot reach the API's serving path (gpu_worker never imports api, and a worker node
    holds no API key).
    """
    if method.get("type") != "reinforcement":
        return method
    body = method["reinforcement"]
    spec = body["grader"]
    try:
        grader = parse_grader(spec, settings)
    except GraderSpecError as exc:
        err = exc.prefixed(GRADER_PARAM)
        raise _error(err.message, err.param or GRADER_PARAM) from None
    judges = model_graders(grader)
    if judges and not settings.grader_judge_url:
        raise _error(f"Model graders ({', '.join(judges)}) need the operator's judge endpoint "
                     "(OPENFT_GRADER_JUDGE_URL) to train; use a string_check, text_similarity or python grader.",
                     f"{GRADER_PARAM}.model", code="unsupported_grader")
    hp = body["hyperparameters"]
    for key in ("eval_interval", "eval_samples"):
        if hp.get(key) not in (None, "auto") and validation_file is None:
            raise _error(f"{key} needs a validation_file to evaluate on.", "validation_file",
                         code="missing_required_parameter")
    return {**method, "reinforcement": {**body, "grader": wire(grader)}}


def resolve(values: Mapping[str, Any], *, n_examples: int, n_valid: int | None, batch_size: int,
            n_epochs: int) -> dict[str, Any]:
    """The reinforcement hyperparameters with every ``"auto"`` replaced (see the module doc)."""
    def pick(key: str, auto: Any) -> Any:
        value = values.get(key, "auto")
        return auto if value in (None, "auto") else value

    total = -(-n_examples // batch_size) * n_epochs
    cm = float(pick("compute_multiplier", 1.0))
    effort = pick("reasoning_effort", "default")
    return {
        "compute_multiplier": cm,
        "eval_interval": int(pick("eval_interval", max(1, math.ceil(total / 10)) if n_valid else 0)),
        "eval_samples": int(pick("eval_samples", min(n_valid, AUTO_EVAL_SAMPLES) if n_valid else 0)),
        "reasoning_effort": effort,
    }


def item_variables(spec: Any) -> list[str]:
    """The ``item.*`` variables the templates of a grader JSON read (a python grader's source aside)."""
    found: list[str] = []
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if not (key == "source" and spec.get("type") == "python"):
                found += item_variables(value)
    elif isinstance(spec, list):
        for value in spec:
            found += item_variables(value)
    elif isinstance(spec, str):
        found += [v for v in variables(spec) if v.startswith("item.")]
    return list(dict.fromkeys(found))


def line_checker(grader_spec: Mapping[str, Any]) -> Any:
    """A ``check_line`` rule for :func:`core.validation.validate_stream`: every ``{{item.x}}`` the
    grader uses exists on the line (:class:`FormatError` ``missing_item_field`` otherwise)."""
    wanted = item_variables(grader_spec)

    def check(item: dict[str, Any]) -> None:
        for variable in wanted:
            try:
                resolve_variable(variable, item=item, sample=None)
            except TemplateVariableError as exc:
                raise FormatError("missing_item_field", f"the grader reads {{{{{variable}}}}}, which this "
                                  f"example does not have ({exc.reason})") from None

    return check
