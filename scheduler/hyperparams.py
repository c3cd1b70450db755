"""Fine-tuning hyperparameters: request validation and the resolution of ``"auto"``.

:func:`validate_method` runs when a job is created: it checks ``method`` (and the deprecated
top-level ``hyperparameters``) against OpenAI's ranges and returns the normalized method that
the job echoes, every hyperparameter present and ``"auto"`` where none was given.
:func:`resolve` runs once the training file is validated and turns ``"auto"`` into numbers:

- ``n_epochs``: OpenAI's published heuristic (openai-cookbook, Chat_finetuning_data_prep):
  3 epochs, raised so that small files see at least 100 examples (at most 25 epochs) and
  lowered so that large ones see at most 25,000 (at least 1 epoch).
- ``batch_size``: about 50 optimizer steps per epoch, ``round(n / 50)`` clamped to 1..64.
  Small files train one example per step; large files get batches that keep the step count
  per epoch near 50 up to 3,200 examples, then grow in steps rather than in batch size.

  Those numbers are the defaults of a catalog entry's :class:`~core.catalog.AutoPolicy`; an
  entry can set its own (``tiny-chat``, trained from random weights, sees at least 6,000
  examples in batches of 4 to 8).
- ``learning_rate_multiplier``: 1.0 for supervised; 0.2 for DPO, whose updates are stronger
  than SFT's at the same rate (on tiny-chat, DPO at SFT's rate collapses generation while 1/5
  of it learns). The learning rate is the base model's catalog rate times the multiplier.
- ``beta`` (DPO): 0.1, TRL's and the DPO paper's default.
- reinforcement: ``n_epochs`` and ``batch_size`` follow :data:`REINFORCEMENT_POLICY` (not the
  base's: the run starts from a model that already answers), multiplier 0.6; its own
  hyperparameters (``compute_multiplier``, ``eval_interval``, ``eval_samples``,
  ``reasoning_effort``) are checked and resolved in :mod:`scheduler.reinforcement`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Protocol

from core.catalog import AutoPolicy
from core.protocol import Hyperparameters

METHODS: Final = ("supervised", "dpo", "reinforcement")
KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "supervised": ("batch_size", "learning_rate_multiplier", "n_epochs"),
    "dpo": ("batch_size", "learning_rate_multiplier", "n_epochs", "beta"),
    "reinforcement": ("batch_size", "compute_multiplier", "eval_interval", "eval_samples",
                      "learning_rate_multiplier", "n_epochs", "reasoning_effort"),
}
LEGACY_KEYS: Final = KEYS["supervised"]

MIN_BATCH_SIZE, MAX_BATCH_SIZE = 1, 256
MIN_EPOCHS, MAX_EPOCHS = 1, 50
MAX_BETA: Final = 2.0

AUTO_LR_MULTIPLIER: Final[Mapping[str, float]] = {"supervised": 1.0, "dpo": 0.2, "reinforcement": 0.6}
AUTO_BETA: Final = 0.1
# OpenAI's n_epochs heuristic (openai-cookbook Chat_finetuning_data_prep.ipynb); its example
# bounds and the most epochs are the policy's (AutoPolicy's defaults are OpenAI's numbers)
TARGET_EPOCHS: Final = 3
OPENAI_POLICY: Final = AutoPolicy()
#: GRPO learns from many small on-policy steps, each over a few prompts' groups of completions:
#: batches of 8 to 16 prompts (OpenAI's rule gives batch 1 below 75 examples, and one prompt's
#: group per step is too noisy a gradient) and at least 960 prompts seen (16 epochs of 60 lines,
#: 128 steps). Measured with bench/rft_quality.py on a tiny-chat SFT parent, 100 held-out prompts:
#: 480 prompts at multiplier 0.3 gained +0.02 to +0.09 over three runs; 960 at 0.6 gained +0.16 to
#: +0.30 over two runs and both graders (string_check, python; docs/training.md).
REINFORCEMENT_POLICY: Final = AutoPolicy(min_examples=960, max_epochs=20, steps_per_epoch=16, min_batch_size=8,
                                         max_batch_size=16)


class HyperparameterError(ValueError):
    """A create request's method or hyperparameters are invalid (the API answers 400).

    ``param`` uses the bracket form of the API's other errors: ``method[dpo][hyperparameters][beta]``.
    """

    def __init__(self, message: str, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class _BaseModelDefaults(Protocol):
    """What :func:`resolve` reads of a catalog entry."""

    learning_rate: float
    auto: AutoPolicy


def _integer(value: Any, name: str, param: str, lo: int, hi: int) -> int | str:
    if value is None or value == "auto":
        return "auto"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and float(value).is_integer() and lo <= value <= hi:
        return int(value)
    raise HyperparameterError(
        f"Invalid value for {name}: expected 'auto' or an integer from {lo} to {hi}, got {value!r}.", param
    )


def _positive(value: Any, name: str, param: str, hi: float | None = None) -> float | str:
    if value is None or value == "auto":
        return "auto"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and value > 0 and (hi is None or value <= hi):
        return float(value)
    wanted = f"a number greater than 0 and at most {hi:g}" if hi is not None else "a number greater than 0"
    raise HyperparameterError(f"Invalid value for {name}: expected 'auto' or {wanted}, got {value!r}.", param)


def _check_hyperparameters(kind: str, values: Any, prefix: str) -> dict[str, Any]:
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise HyperparameterError(f"Invalid value for {prefix}: expected an object.", prefix)
    allowed = KEYS[kind]
    for key in values:
        if key not in allowed:
            expected = ", ".join(allowed)
            raise HyperparameterError(
                f"Unrecognized hyperparameter {key!r} for method {kind!r}; expected one of: {expected}.",
                f"{prefix}[{key}]",
            )
    lrm = "learning_rate_multiplier"
    out: dict[str, Any] = {
        "batch_size": _integer(values.get("batch_size"), "batch_size", f"{prefix}[batch_size]",
                               MIN_BATCH_SIZE, MAX_BATCH_SIZE),
        lrm: _positive(values.get(lrm), lrm, f"{prefix}[{lrm}]"),
        "n_epochs": _integer(values.get("n_epochs"), "n_epochs", f"{prefix}[n_epochs]",
                             MIN_EPOCHS, MAX_EPOCHS),
    }
    if kind == "dpo":
        out["beta"] = _positive(values.get("beta"), "beta", f"{prefix}[beta]", MAX_BETA)
    if kind == "reinforcement":
        from scheduler import reinforcement

        out.update(reinforcement.check_hyperparameters(values, prefix))
    return out


def validate_method(method: Mapping[str, Any] | None, legacy_hyperparameters: Mapping[str, Any] | None = None,
                    ) -> dict[str, Any]:
    """The normalized ``method`` of a create request; raises :class:`HyperparameterError`.

    Returns ``{"type": t, t: {"hyperparameters": {...}}}`` with every hyperparameter of ``t``
    present (``"auto"`` where not given). The deprecated top-level ``hyperparameters`` apply
    when ``method`` has none of its own; giving both is refused.
    """
    if legacy_hyperparameters is not None and not isinstance(legacy_hyperparameters, Mapping):
        raise HyperparameterError("Invalid value for hyperparameters: expected an object.", "hyperparameters")
    legacy = {k: v for k, v in (legacy_hyperparameters or {}).items() if v is not None}
    for key in legacy:
        if key not in LEGACY_KEYS:
            raise HyperparameterError(
                f"Unrecognized hyperparameter {key!r}; expected one of: {', '.join(LEGACY_KEYS)}.",
                f"hyperparameters[{key}]",
            )
    if method is None:
        values = _check_hyperparameters("supervised", legacy, "hyperparameters")
        return {"type": "supervised", "supervised": {"hyperparameters": values}}
    if not isinstance(method, Mapping):
        raise HyperparameterError("Invalid value for method: expected an object.", "method")
    kind = method.get("type")
    if kind is None:
        raise HyperparameterError("Missing required parameter: 'method[type]'.", "method[type]",
                                  code="missing_required_parameter")
    if kind not in METHODS:
        raise HyperparameterError(
            f"Invalid value for method[type]: expected 'supervised', 'dpo' or 'reinforcement', got {kind!r}.",
            "method[type]",
        )
    for key, value in method.items():
        if key == "type" or value is None:
            continue
        if key != kind:
            known = key in METHODS
            what = f"does not go with type {kind!r}" if known else "is not a method field"
            raise HyperparameterError(f"method[{key}] {what}.", f"method[{key}]")
    body = method.get(kind)
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise HyperparameterError(f"Invalid value for method[{kind}]: expected an object.", f"method[{kind}]")
    for key in body:
        if key != "hyperparameters" and not (kind == "reinforcement" and key == "grader"):
            param = f"method[{kind}][{key}]"
            raise HyperparameterError(f"Unrecognized parameter {param}.", param)
    own = body.get("hyperparameters")
    if own and legacy:
        raise HyperparameterError(
            "Pass hyperparameters either in method or in the deprecated top-level hyperparameters, not both.",
            "hyperparameters",
        )
    if own:
        values = _check_hyperparameters(kind, own, f"method[{kind}][hyperparameters]")
    else:
        values = _check_hyperparameters(kind, legacy, "hyperparameters")
    if kind == "reinforcement":
        if body.get("grader") is None:
            raise HyperparameterError("Missing required parameter: 'method[reinforcement][grader]'.",
                                      "method[reinforcement][grader]", code="missing_required_parameter")
        return {"type": kind, kind: {"grader": dict(body["grader"]) if isinstance(body["grader"], Mapping)
                                     else body["grader"], "hyperparameters": values}}
    return {"type": kind, kind: {"hyperparameters": values}}


def job_hyperparameters(method: Mapping[str, Any]) -> dict[str, Any]:
    """The job's top-level ``hyperparameters`` (batch_size, learning_rate_multiplier, n_epochs)."""
    values = method[method["type"]]["hyperparameters"]
    return {k: values[k] for k in LEGACY_KEYS if k in values}


def auto_n_epochs(n_examples: int, policy: AutoPolicy = OPENAI_POLICY) -> int:
    """The default epochs for a training file of ``n_examples`` (OpenAI's with the default policy)."""
    n_epochs = TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < policy.min_examples:
        n_epochs = min(policy.max_epochs, policy.min_examples // max(1, n_examples))
    elif n_examples * TARGET_EPOCHS > policy.max_examples:
        n_epochs = max(MIN_EPOCHS, policy.max_examples // n_examples)
    return n_epochs


def auto_batch_size(n_examples: int, policy: AutoPolicy = OPENAI_POLICY) -> int:
    """About ``policy.steps_per_epoch`` steps per epoch, within the policy's batch-size bounds."""
    wanted = round(n_examples / policy.steps_per_epoch)
    return max(policy.min_batch_size, min(policy.max_batch_size, wanted))


def total_steps(n_examples: int, batch_size: int, n_epochs: int) -> int:
    """Optimizer steps of a job: ``ceil(n_examples / batch_size) * n_epochs`` (OpenAI's count)."""
    return -(-n_examples // batch_size) * n_epochs


def resolve(method: Mapping[str, Any], n_examples: int, base: _BaseModelDefaults, n_valid: int | None = None,
            ) -> tuple[dict[str, Any], Hyperparameters]:
    """Replace every ``"auto"`` of a normalized ``method`` with a number.

    Returns the method to record on the job (same shape, numbers only) and the
    :class:`~core.protocol.Hyperparameters` of the job spec (with the absolute learning rate:
    ``base.learning_rate`` times the multiplier).
    """
    kind = method["type"]
    values = dict(method[kind].get("hyperparameters") or {})

    def pick(key: str, auto: Any) -> Any:
        value = values.get(key, "auto")
        return auto if value in (None, "auto") else value

    # reinforcement starts from a policy that already answers: its own defaults, not the base's
    policy = REINFORCEMENT_POLICY if kind == "reinforcement" else base.auto
    n_epochs = int(pick("n_epochs", auto_n_epochs(n_examples, policy)))
    batch_size = int(pick("batch_size", auto_batch_size(n_examples, policy)))
    multiplier = float(pick("learning_rate_multiplier", AUTO_LR_MULTIPLIER[kind]))
    resolved: dict[str, Any] = {
        "batch_size": batch_size, "learning_rate_multiplier": multiplier, "n_epochs": n_epochs,
    }
    beta: float | None = None
    if kind == "dpo":
        beta = float(pick("beta", AUTO_BETA))
        resolved["beta"] = beta
    hp = Hyperparameters(n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=multiplier,
                         learning_rate=base.learning_rate * multiplier, beta=beta)
    if kind == "reinforcement":
        from scheduler import reinforcement

        extra = reinforcement.resolve(values, n_examples=n_examples, n_valid=n_valid, batch_size=batch_size,
                                      n_epochs=n_epochs)
        resolved.update(extra)
        hp = hp.model_copy(update={"reinforcement": extra})
        return {"type": kind, kind: {"grader": method[kind]["grader"], "hyperparameters": resolved}}, hp
    return {"type": kind, kind: {"hyperparameters": resolved}}, hp
