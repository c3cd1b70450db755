"""Request and response bodies of ``/v1/fine_tuning/alpha/graders`` (the client's
``grader_run_params`` / ``grader_run_response`` / ``grader_validate_*``, field for field)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.graders import GradeResult


class GraderRunRequest(BaseModel):
    """``POST /v1/fine_tuning/alpha/graders/run``: a grader, a model sample and an optional item."""

    model_config = ConfigDict(extra="ignore")

    grader: dict[str, Any] = Field(description="any grader type (the grader JSON)")
    model_sample: str = Field(description="fills {{sample.*}}; output_json when it is JSON")
    item: Any = Field(None, description="fills {{item.*}}")


class GraderValidateRequest(BaseModel):
    """``POST /v1/fine_tuning/alpha/graders/validate``."""

    model_config = ConfigDict(extra="ignore")

    grader: dict[str, Any]


def run_response(result: GradeResult) -> dict[str, Any]:
    """``GraderRunResponse`` for ``result``."""
    return {
        "reward": result.reward,
        "sub_rewards": dict(result.sub_rewards),
        "metadata": {
            "name": result.name,
            "type": result.type,
            "errors": result.metadata_errors(),
            "execution_time": result.execution_time,
            "scores": dict(result.scores),
            "token_usage": result.total_tokens(),
            "sampled_model_name": result.sampled_model_name,
        },
        "model_grader_token_usage_per_model": {m: dict(u) for m, u in result.token_usage.items()},
    }
