"""``/v1/fine_tuning/alpha/graders``: run a grader on one sample, or validate one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ProjectDep, StateDep
from api.inference.server import ModelServerDep
from api.schemas.graders import GraderRunRequest, GraderValidateRequest
from api.services import graders

router = APIRouter(prefix="/fine_tuning/alpha/graders", tags=["graders"])


@router.post("/run")
async def run_grader(body: GraderRunRequest, state: StateDep, project: ProjectDep,
                     server: ModelServerDep) -> dict[str, Any]:
    """Grade ``model_sample`` (and ``item``): 200 ``GraderRunResponse``; 400 naming ``grader.<field>``."""
    return await graders.run(state, server, project, body)


@router.post("/validate")
async def validate_grader(body: GraderValidateRequest, state: StateDep, project: ProjectDep,
                          server: ModelServerDep) -> dict[str, Any]:
    """200 ``{"grader": …}`` when the grader is valid here; 400 naming ``grader.<field>`` otherwise."""
    return await graders.validate(state, server, project, body.grader)
