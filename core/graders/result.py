"""What grading one sample produced: :class:`GradeResult`, with OpenAI's error flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The boolean flags of ``GraderRunResponse.metadata.errors``, in the client's order.
ERROR_FLAGS = (
    "formula_parse_error", "invalid_variable_error", "model_grader_parse_error",
    "model_grader_refusal_error", "model_grader_server_error", "other_error",
    "python_grader_runtime_error", "python_grader_server_error", "sample_parse_error",
    "truncated_observation_error", "unresponsive_reward_error",
)
#: The text fields next to them (details of the flag they are named after).
ERROR_DETAILS = (
    "model_grader_server_error_details", "python_grader_runtime_error_details", "python_grader_server_error_type",
)


def no_errors() -> dict[str, bool]:
    """Every flag false."""
    return dict.fromkeys(ERROR_FLAGS, False)


@dataclass
class GradeResult:
    """The reward of one grader on one sample, and how it got there.

    ``errors`` holds exactly the boolean flags of OpenAI's ``metadata.errors``; ``details`` the
    text fields (``python_grader_runtime_error_details``...). When any flag is set the reward is 0.
    ``scores`` maps each grader that ran (the grader itself and, for ``multi``, its sub-graders)
    to its score; ``sub_rewards`` the sub-graders of a ``multi``. ``token_usage`` is per judge
    model: ``{"model": {"prompt_tokens", "completion_tokens", "total_tokens"}}``.
    """

    name: str
    type: str
    reward: float = 0.0
    sub_rewards: dict[str, float] = field(default_factory=dict)
    errors: dict[str, bool] = field(default_factory=no_errors)
    details: dict[str, str] = field(default_factory=dict)
    execution_time: float = 0.0
    token_usage: dict[str, dict[str, int]] = field(default_factory=dict)
    sampled_model_name: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when any error flag is set."""
        return any(self.errors.values())

    def fail(self, flag: str, detail_key: str | None = None, detail: str | None = None) -> GradeResult:
        """Set ``flag`` (and its detail text), zero the reward; returns self."""
        self.errors[flag] = True
        if detail_key and detail:
            self.details[detail_key] = detail[:2000]
        self.reward = 0.0
        return self

    def merge_usage(self, other: GradeResult) -> None:
        """Add ``other``'s token usage and error flags to this result's."""
        for model, usage in other.token_usage.items():
            mine = self.token_usage.setdefault(model, {})
            for key, n in usage.items():
                mine[key] = mine.get(key, 0) + n
        for flag, on in other.errors.items():
            self.errors[flag] = self.errors.get(flag, False) or on
        for key, text in other.details.items():
            self.details.setdefault(key, text)
        self.sampled_model_name = self.sampled_model_name or other.sampled_model_name

    def metadata_errors(self) -> dict[str, Any]:
        """``metadata.errors`` as the client reads it (flags and detail fields)."""
        return {**self.errors, **{k: self.details.get(k) for k in ERROR_DETAILS}}

    def total_tokens(self) -> int | None:
        """All judge tokens, or None when no judge ran."""
        if not self.token_usage:
            return None
        return sum(u.get("total_tokens", 0) for u in self.token_usage.values())
