"""The full check of a stored fine-tune file, before any job: the job's own validator, on demand.

``POST /v1/files`` only runs the light JSONL check; this runs ``core.validation.validate_stream``
(formats, example counts, tokens with the base model's tokenizer and chat template, truncation
at its max length), exactly what a job's ``validating_files`` step runs, and reports the first
problem with its line number instead of failing a job.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from api.errors import InvalidRequest
from api.services.files import get_file
from core.catalog import get_catalog
from core.formats import Method
from core.protocol import file_key
from core.settings import Settings
from core.store import Store
from core.tokens import TokenCounter
from core.validation import DataValidationError, validate_stream

METHODS: tuple[Method, ...] = ("supervised", "dpo", "reinforcement")


def validate_file(session: Session, settings: Settings, store: Store, project_id: str, file_id: str,
                  model: str, method: str) -> dict[str, Any]:
    """``{"object": "file.validation", "valid", "error", "stats"}`` for the caller's file.

    ``error`` is ``{"code", "message", "param", "line"}`` (``line`` 1-based, None for whole-file
    problems); ``stats`` the counts of a valid file. Raises NotFound (file) or InvalidRequest
    (unknown ``model`` or ``method``). Blocking (tokenizes): call it off the event loop.
    """
    row = get_file(session, project_id, file_id)
    base = get_catalog(settings).get(model)
    if base is None:
        raise InvalidRequest(f"Model {model!r} is not a base model this server fine-tunes.", param="model",
                             code="model_not_available")
    if method not in METHODS:
        raise InvalidRequest(f"Invalid method {method!r}: expected one of {', '.join(METHODS)}.", param="method")
    out: dict[str, Any] = {"object": "file.validation", "file_id": row.id, "model": model, "method": method,
                           "valid": True, "error": None, "stats": None}
    try:
        result = validate_stream(store.iter_bytes(file_key(row.id)), kind=method,
                                 counter=TokenCounter.for_model(model, settings), max_length=base.max_length,
                                 model_name=model)
    except DataValidationError as exc:
        out.update(valid=False, error={"code": exc.code, "message": exc.message, "param": exc.param, "line": exc.line})
        return out
    out["stats"] = {k: v for k, v in result.to_dict().items() if k != "sha256"}
    return out
