"""Eval definitions: create, read, rename, delete; testing criteria and their pass rules.

An eval holds a ``custom`` data source config (the JSON schema every item of its runs must
match) and testing criteria: graders of any type ``core.graders`` parses, each with its pass
rule (:func:`passes`). Runs live in :mod:`api.services.evals_runs`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from api.errors import InvalidRequest
from api.inference.server import ModelServer
from api.pagination import Order, paginate
from api.schemas.evals import EvalCreate, EvalUpdate
from api.services import graders
from api.services.graders import ProjectJudge
from api.services.owned import get_owned
from api.state import AppState
from core import ids
from core.graders import Grader, GraderSpecError, parse_grader
from core.settings import Settings
from core.tables import Eval, EvalJobHook, EvalOutputItem, EvalRun, now

CRITERIA_TYPES = ("label_model", "string_check", "text_similarity", "python", "score_model")
#: The sample namespace a run fills when it samples a model (``include_sample_schema``).
SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"model": {"type": "string"}, "choices": {"type": "array"},
                   "output_text": {"type": "string"}, "output_json": {"type": "object"}},
    "required": ["model", "choices"],
}


# --- testing criteria -----------------------------------------------------------------------
def _grader_part(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The grader of a criterion: the criterion without its ``pass_threshold``."""
    return {k: v for k, v in spec.items() if k != "pass_threshold"}


def parse_criterion(spec: Any, param: str, settings: Settings | None = None) -> Grader:
    """The grader of one testing criterion; 400 naming ``param`` (e.g. ``testing_criteria[0]``).

    With ``settings`` it also checks that this service can run the grader (an embedding model
    for ``cosine``, a sandbox for ``python``).
    """
    if not isinstance(spec, Mapping):
        raise InvalidRequest(f"{param} must be a grader object.", param=param, code="invalid_value")
    kind = spec.get("type")
    if kind not in CRITERIA_TYPES:
        raise InvalidRequest(f"Invalid testing criterion type {kind!r}; expected one of "
                             f"{', '.join(CRITERIA_TYPES)}.", param=f"{param}.type", code="invalid_value")
    threshold = spec.get("pass_threshold")
    if kind in ("string_check", "label_model") and "pass_threshold" in spec:
        raise InvalidRequest(f"A {kind} criterion takes no pass_threshold: it passes on "
                             f"{'a match' if kind == 'string_check' else 'a passing label'}.",
                             param=f"{param}.pass_threshold", code="invalid_value")
    if kind == "text_similarity" and threshold is None:
        raise InvalidRequest("A text_similarity criterion needs a pass_threshold.",
                             param=f"{param}.pass_threshold", code="missing_required_parameter")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise InvalidRequest("pass_threshold must be a number.", param=f"{param}.pass_threshold",
                             code="invalid_value")
    try:
        return parse_grader(_grader_part(spec), settings)
    except GraderSpecError as exc:
        inner = f"{param}.{exc.param}" if exc.param else param
        raise InvalidRequest(exc.message, param=inner, code="invalid_value") from exc


def parse_criteria(raw: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The criteria as stored and returned: each checked, and named (a criterion without a name
    is known by its grader's name, its type); names must be unique, as results are per name."""
    out, seen = [], set()
    for i, spec in enumerate(raw):
        grader = parse_criterion(spec, f"testing_criteria[{i}]", settings)
        if grader.name in seen:
            raise InvalidRequest(f"Two testing criteria are named {grader.name!r}; names must be unique.",
                                 param=f"testing_criteria[{i}].name", code="invalid_value")
        seen.add(grader.name)
        out.append({**spec, "name": grader.name})
    return out


def passes(spec: Mapping[str, Any], reward: float) -> bool:
    """Whether ``reward`` passes the criterion ``spec``.

    string_check passes at reward 1 (a match), label_model on a passing label (reward 1);
    the others at ``pass_threshold``, which defaults to the middle of a score_model's
    ``range`` (``[0, 1]`` by default) and to 0.5 for a python grader.
    """
    kind = spec["type"]
    if kind in ("string_check", "label_model"):
        return reward >= 1.0
    threshold = spec.get("pass_threshold")
    if threshold is None:
        low, high = spec.get("range") or (0.0, 1.0)
        threshold = (low + high) / 2 if kind == "score_model" else 0.5
    return reward >= float(threshold)


async def check_judges(state: AppState, server: ModelServer, project_id: str, raw: list[dict[str, Any]]) -> None:
    """400 naming ``testing_criteria[i].model`` when a criterion's judge model cannot be served."""
    judge = ProjectJudge(state, server, project_id)
    for i, spec in enumerate(raw):
        await graders.check_judges(judge, parse_criterion(spec, f"testing_criteria[{i}]"), f"testing_criteria[{i}]")


# --- data source config ---------------------------------------------------------------------
def data_source_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The stored (and returned) config for a ``custom`` request config; 400 for others."""
    kind = raw.get("type")
    if kind in ("logs", "stored_completions"):
        raise InvalidRequest(f"data_source_config type {kind!r} is not supported: this server keeps no "
                             "completion logs. Use 'custom' with an item_schema.",
                             param="data_source_config.type", code="unsupported_value")
    if kind != "custom":
        raise InvalidRequest(f"Invalid data_source_config type {kind!r}; expected 'custom'.",
                             param="data_source_config.type", code="invalid_value")
    unknown = set(raw) - {"type", "item_schema", "include_sample_schema"}
    if unknown:
        raise InvalidRequest(f"Unknown field(s) in data_source_config: {', '.join(sorted(unknown))}.",
                             param=f"data_source_config.{sorted(unknown)[0]}", code="unknown_parameter")
    schema = raw.get("item_schema")
    if not isinstance(schema, dict):
        raise InvalidRequest("data_source_config.item_schema must be a JSON schema object.",
                             param="data_source_config.item_schema", code="invalid_value")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequest(f"data_source_config.item_schema is not a valid JSON schema: {exc.message}",
                             param="data_source_config.item_schema", code="invalid_value") from exc
    include_sample = raw.get("include_sample_schema", False)
    if not isinstance(include_sample, bool):
        raise InvalidRequest("data_source_config.include_sample_schema must be a boolean.",
                             param="data_source_config.include_sample_schema", code="invalid_value")
    properties: dict[str, Any] = {"item": schema}
    if include_sample:
        properties["sample"] = SAMPLE_SCHEMA
    return {"type": "custom", "schema": {"type": "object", "properties": properties,
                                         "required": list(properties)}}


def item_schema(row: Eval) -> dict[str, Any]:
    """The JSON schema each data source item of ``row``'s runs must match."""
    schema: dict[str, Any] = row.data_source_config["schema"]["properties"]["item"]
    return schema


# --- CRUD -----------------------------------------------------------------------------------
def create_eval(session: Session, settings: Settings, project_id: str, req: EvalCreate) -> Eval:
    """Record a new eval; 400 naming the bad param of the config or a criterion."""
    config = data_source_config(req.data_source_config)
    criteria = parse_criteria(req.testing_criteria, settings)
    row = Eval(id=ids.new_id("eval_", 32), project_id=project_id, name=req.name or "",
               data_source_config=config, testing_criteria=criteria, metadata_=req.metadata)
    session.add(row)
    session.flush()
    return row


def get_eval(session: Session, project_id: str, eval_id: str) -> Eval:
    """The caller's eval, or 404 (another project's eval reads as missing)."""
    return get_owned(session, Eval, project_id, eval_id, kind="Eval", param="eval_id")


def list_evals(session: Session, project_id: str, *, after: str | None, limit: int, order: Order,
               order_by: str) -> tuple[list[Eval], bool]:
    """A page of the project's evals, by ``created_at`` or ``updated_at``."""
    stmt = select(Eval).where(Eval.project_id == project_id)
    sort = ((col(Eval.updated_at), col(Eval.updated_seq)) if order_by == "updated_at"
            else (col(Eval.created_at), col(Eval.seq)))
    return paginate(session, stmt, Eval, sort=sort, after=after, limit=limit, order=order)


def update_eval(session: Session, project_id: str, eval_id: str, req: EvalUpdate) -> Eval:
    """Rename the eval and/or replace its metadata."""
    row = get_eval(session, project_id, eval_id)
    if req.name is not None:
        row.name = req.name
    if "metadata" in req.model_fields_set:
        row.metadata_ = req.metadata
    row.updated_at, row.updated_seq = now(), time.time_ns()
    return row


def delete_eval(session: Session, project_id: str, eval_id: str) -> None:
    """Delete the eval with its runs and their output items (a running run stops at its next item)."""
    row = get_eval(session, project_id, eval_id)
    run_ids = select(EvalRun.id).where(EvalRun.eval_id == eval_id)
    session.exec(delete(EvalOutputItem).where(col(EvalOutputItem.run_id).in_(run_ids)))
    session.exec(delete(EvalRun).where(col(EvalRun.eval_id) == eval_id))
    session.exec(delete(EvalJobHook).where(col(EvalJobHook.eval_id) == eval_id))
    session.delete(row)
