"""Evals wire types, field for field as ``openai.types.eval_*`` and ``openai.types.evals``.

Request bodies keep ``data_source_config``, ``testing_criteria`` and ``data_source`` as plain
JSON here: the services validate them (graders through ``core.graders.parse_grader``, data
sources through the models below) so that each error names its exact param. Responses are
rendered from the table rows by the ``*_object`` functions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.jobs import JobCreate
from core.tables import Eval, EvalOutputItem, EvalRun

NO_ERROR = {"code": "", "message": ""}  # the client's EvalAPIError is not optional


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, str] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return JobCreate._metadata(value)  # the same 16-pair / 64 / 512 limits as everywhere


class EvalCreate(_Body):
    """``POST /v1/evals``."""

    name: str | None = Field(None, max_length=512)
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]] = Field(min_length=1, max_length=64)


class EvalUpdate(_Body):
    """``POST /v1/evals/{eval_id}``: rename, or replace the metadata."""

    name: str | None = Field(None, max_length=512)


class RunCreate(_Body):
    """``POST /v1/evals/{eval_id}/runs``."""

    name: str | None = Field(None, max_length=512)
    data_source: dict[str, Any]


# --- run data sources (validated by api.services.evals_runs) ---------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentRow(_Strict):
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(_Strict):
    type: Literal["file_content"]
    content: list[ContentRow] = Field(min_length=1)


class FileIdSource(_Strict):
    type: Literal["file_id"]
    id: str = Field(min_length=1, max_length=128)


class TemplateMessage(BaseModel):
    """``EasyInputMessage`` or an ``EvalItem``: a role and templated content."""

    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[dict[str, Any]]
    type: Literal["message"] | None = None


class TemplateInput(_Strict):
    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1)


class ItemReferenceInput(_Strict):
    type: Literal["item_reference"]
    item_reference: str = Field(min_length=1)


class SamplingParams(BaseModel):
    """What the sampled model is asked with; OpenAI fields we cannot honour are refused."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    reasoning_effort: str | None = None


class JsonlDataSource(_Strict):
    type: Literal["jsonl"]
    source: FileContentSource | FileIdSource = Field(discriminator="type")


class CompletionsDataSource(_Strict):
    type: Literal["completions"]
    source: FileContentSource | FileIdSource = Field(discriminator="type")
    model: str = Field(min_length=1, max_length=512)
    input_messages: TemplateInput | ItemReferenceInput = Field(discriminator="type")
    sampling_params: SamplingParams | None = None




# --- responses ------------------------------------------------------------------------------
def eval_object(row: Eval) -> dict[str, Any]:
    """An ``eval`` (``EvalCreateResponse``)."""
    return {"object": "eval", "id": row.id, "name": row.name, "created_at": row.created_at,
            "data_source_config": row.data_source_config, "testing_criteria": row.testing_criteria,
            "metadata": row.metadata_ or {}}


def run_object(row: EvalRun) -> dict[str, Any]:
    """An ``eval.run`` (``RunCreateResponse``)."""
    counts = {"total": 0, "passed": 0, "failed": 0, "errored": 0, **row.result_counts}
    return {"object": "eval.run", "id": row.id, "eval_id": row.eval_id, "name": row.name,
            "model": row.model, "status": row.status, "created_at": row.created_at,
            "data_source": row.data_source, "metadata": row.metadata_ or {},
            "error": row.error or NO_ERROR, "result_counts": counts,
            "per_testing_criteria_results": row.per_testing_criteria_results,
            "per_model_usage": row.per_model_usage,
            "report_url": f"/v1/evals/{row.eval_id}/runs/{row.id}",
            "openft": {"total_items": row.total_items}}  # our extension: progress = result_counts.total of this


def output_item_object(row: EvalOutputItem) -> dict[str, Any]:
    """An ``eval.run.output_item`` (``OutputItemRetrieveResponse``)."""
    return {"object": "eval.run.output_item", "id": row.id, "run_id": row.run_id, "eval_id": row.eval_id,
            "created_at": row.created_at, "status": row.status, "datasource_item_id": row.datasource_item_id,
            "datasource_item": row.datasource_item, "results": row.results, "sample": row.sample}


class Deleted(BaseModel):
    object: str
    deleted: bool = True
