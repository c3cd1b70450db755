"""Grader runs and validation for ``/v1/fine_tuning/alpha/graders`` (logic over :mod:`core.graders`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.errors import InvalidRequest
from api.schemas.graders import GraderRunRequest, run_response
from api.state import AppState
from core.graders import Grader, GraderSpecError, Multi, Sample, grade, parse_grader, wire
from core.settings import Settings


def parse(spec: Mapping[str, Any], settings: Settings, param: str = "grader") -> Grader:
    """The typed grader, or a 400 whose ``param`` points into ``spec`` (``grader.operation``)."""
    try:
        return parse_grader(spec, settings)
    except GraderSpecError as exc:
        err = exc.prefixed(param)
        raise InvalidRequest(err.message, param=err.param, code="invalid_value") from None


def validate(settings: Settings, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``GraderValidateResponse``: the grader echoed back once it parses (400 otherwise).

    A multi grader whose ``graders`` is a name -> grader mapping is valid, but the official
    client's type expects a single grader object there, so it is not echoed (``grader`` null)
    rather than failing a strict client.
    """
    grader = parse(spec, settings)
    if isinstance(grader, Multi) and grader.graders_as_mapping:
        return {"grader": None}
    return {"grader": wire(grader)}


async def run(state: AppState, project: str, body: GraderRunRequest) -> dict[str, Any]:
    """``GraderRunResponse`` for ``body.model_sample`` (and ``body.item``) under ``body.grader``."""
    grader = parse(body.grader, state.settings)
    result = await grade(grader, item=body.item, sample=Sample.from_text(body.model_sample),
                         judge=None, settings=state.settings)
    del project  # the judge of model graders will be the project's models
    return run_response(result)
