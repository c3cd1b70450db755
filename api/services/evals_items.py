"""A run's data source: parsing it, and reading its items (inline content or a JSONL file).

Each item is ``{"item": {...}, "sample": {...} | None}``. A JSONL file holds one such object
per line, as on OpenAI; a line without an ``item`` key is taken as the item itself. Items are
checked against the eval's item schema when the run is created, so a bad item is a 400 that
names it, not a failed run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError
from sqlmodel import Session

from api.errors import InvalidRequest
from api.schemas.evals import CompletionsDataSource, FileContentSource, JsonlDataSource
from api.services.files import find_file
from core.protocol import file_key
from core.store import ObjectNotFound, Store

_UNSUPPORTED = {"responses": "data_source type 'responses' is not supported; use 'completions'.",
                "stored_completions": "source type 'stored_completions' is not supported: this server keeps "
                                      "no completion logs. Use 'file_content' or 'file_id'."}
# discriminator values pydantic puts into error locations; the param names skip them
_UNIONS = {"source", "input_messages"}
_TAGS = {"file_content", "file_id", "template", "item_reference"}


def _param(loc: Sequence[Any]) -> str:
    out, prev = "data_source", None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (prev in _UNIONS and part in _TAGS):  # the union member's tag is no param
            out += f".{part}"
        prev = part
    return out


def parse_data_source(raw: Mapping[str, Any]) -> JsonlDataSource | CompletionsDataSource:
    """The typed data source; 400 naming the param (``data_source.source.content[2].item``…)."""
    kind = raw.get("type")
    source = raw.get("source")
    for value, param in ((kind, "data_source.type"),
                         (source.get("type") if isinstance(source, dict) else None, "data_source.source.type")):
        if value in _UNSUPPORTED:
            raise InvalidRequest(_UNSUPPORTED[value], param=param, code="unsupported_value")
    if kind not in ("jsonl", "completions"):
        raise InvalidRequest(f"Invalid data_source type {kind!r}; expected 'jsonl' or 'completions'.",
                             param="data_source.type", code="invalid_value")
    try:
        model = JsonlDataSource if kind == "jsonl" else CompletionsDataSource
        parsed: JsonlDataSource | CompletionsDataSource = model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = _param(error["loc"])
        if error["type"] == "missing":
            raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                                 code="missing_required_parameter") from exc
        raise InvalidRequest(f"Invalid value for '{param}': {error['msg']}.", param=param,
                             code="invalid_value") from exc
    if isinstance(parsed, CompletionsDataSource):
        _check_sampling(parsed)
    return parsed


def _check_sampling(ds: CompletionsDataSource) -> None:
    if ds.input_messages.type == "item_reference" and not ds.input_messages.item_reference.startswith("item."):
        raise InvalidRequest("item_reference must name a field of the item namespace, e.g. 'item.messages'.",
                             param="data_source.input_messages.item_reference", code="invalid_value")
    params = ds.sampling_params
    if params is None:
        return
    fmt = (params.response_format or {}).get("type")
    if fmt not in (None, "text"):
        raise InvalidRequest(f"response_format type {fmt!r} is not supported by this server.",
                             param="data_source.sampling_params.response_format", code="unsupported_value")
    if params.tools:
        raise InvalidRequest("tools are not supported in eval sampling by this server.",
                             param="data_source.sampling_params.tools", code="unsupported_value")


def _jsonl_rows(data: bytes, param: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise InvalidRequest(f"Line {n} of the data source file is not valid JSON.", param=param,
                                 code="invalid_file") from None
        if not isinstance(obj, dict):
            raise InvalidRequest(f"Line {n} of the data source file is not a JSON object.", param=param,
                                 code="invalid_file")
        if isinstance(obj.get("item"), dict):
            sample = obj.get("sample")
            rows.append({"item": obj["item"], "sample": sample if isinstance(sample, dict) else None})
        else:
            rows.append({"item": obj, "sample": None})
    return rows


def load_items(session: Session, store: Store, project_id: str,
               ds: JsonlDataSource | CompletionsDataSource) -> list[dict[str, Any]]:
    """The data source's items in order; 400 for a missing file or a bad line."""
    source = ds.source
    if isinstance(source, FileContentSource):
        return [row.model_dump() for row in source.content]
    if find_file(session, project_id, source.id) is None:  # missing, deleted or another project's
        raise InvalidRequest(f"No such File object: {source.id}", param="data_source.source.id",
                             code="invalid_value")
    try:
        data = store.read_bytes(file_key(source.id))
    except ObjectNotFound:
        raise InvalidRequest(f"The content of file {source.id} is missing.", param="data_source.source.id",
                             code="invalid_value") from None
    rows = _jsonl_rows(data, "data_source.source.id")
    if not rows:
        raise InvalidRequest(f"File {source.id} holds no items.", param="data_source.source.id",
                             code="invalid_file")
    return rows


def check_items(rows: list[dict[str, Any]], schema: dict[str, Any], ds: JsonlDataSource | CompletionsDataSource,
                max_items: int) -> None:
    """400 when there are too many items or one does not match the eval's item schema."""
    inline = isinstance(ds.source, FileContentSource)
    param = "data_source.source.content" if inline else "data_source.source.id"
    if len(rows) > max_items:
        raise InvalidRequest(f"The data source has {len(rows)} items; at most {max_items} are allowed.",
                             param=param, code="invalid_value")
    validator = Draft202012Validator(schema)
    for i, row in enumerate(rows):
        error = next(iter(validator.iter_errors(row["item"])), None)
        if error is not None:
            where = f"{param}[{i}].item" if inline else param
            what = f"item {i}" if inline else f"line {i + 1}"
            raise InvalidRequest(f"The {what} does not match the eval's item_schema: {error.message}",
                                 param=where, code="invalid_value")
