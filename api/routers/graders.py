"""``/v1/fine_tuning/alpha/graders``: run a grader on one sample, or validate one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ProjectDep, StateDep
from api.schemas.graders import GraderRunRequest, GraderValidateRequest
from api.services import graders

router = APIRouter(prefix="/fine_tuning/alpha/graders", tags=["graders"])


@router.post("/run")
async def run_grader(body: GraderRunRequest, state: StateDep, project: ProjectDep) -> dict[str, Any]:
    """Grade ``model_sample`` (and ``item``): 200 ``GraderRunResponse``; 400 naming ``grader.<field>``."""
    return await graders.run(state, project, body)


@router.post("/validate")
def validate_grader(body: GraderValidateRequest, state: StateDep, project: ProjectDep) -> dict[str, Any]:
    """200 ``{"grader": …}`` when the grader is valid here; 400 naming ``grader.<field>`` otherwise."""
    del project
    return graders.validate(state.settings, body.grader)
