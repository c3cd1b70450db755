"""``client.files``: the official resource plus ``validate_local`` (check a JSONL file offline).

``validate_local`` runs :func:`core.validation.validate_local`, the very code the server's
``validating_files`` stage runs, so a file that passes here passes there and a file that fails
gets the same ``code``, ``param`` and message (with its line number) before anything is
uploaded. The validator lives in ``core`` (part of every ``openft`` install), imported on first
use; counting tokens with a model also needs ``transformers``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

from openai.resources import AsyncFiles as _AsyncFiles
from openai.resources import Files as _Files

if TYPE_CHECKING:
    from core.data_quality import QualityPass
    from core.settings import Settings
    from core.validation import ValidationResult

Method = Literal["supervised", "dpo"]
FileParam = Literal["training_file", "validation_file"]
P = ParamSpec("P")
R = TypeVar("R")


def base_model_name(model: str) -> str:
    """The catalog name whose tokenizer a job on ``model`` uses: ``ft:{base}:…`` -> ``base``."""
    if model.startswith("ft:"):
        parts = model.split(":")
        if len(parts) >= 2 and parts[1]:
            return parts[1]
    return model


def validate_local(
    path: str | Path,
    *,
    model: str | None = None,
    method: Method = "supervised",
    param: FileParam = "training_file",
    settings: Settings | None = None,
    quality: QualityPass | None = None,
) -> ValidationResult:
    """Check ``path`` as the server will when a job uses it, without uploading it.

    ``model`` (a catalog name such as ``tiny-chat``, or an ``ft:`` model, which uses its
    base) adds token counts with that model's tokenizer and chat template, and the number
    of examples that will be truncated; without it only the format is checked. ``param``
    picks the rules for a training (10 examples minimum) or validation file. ``settings``
    locates the model cache and catalog (default: the ``OPENFT_*`` environment).
    ``quality`` (a ``core.data_quality.QualityPass``) also gathers the data quality report the
    server writes for a job (``quality.report()``).

    Returns the :class:`core.validation.ValidationResult` (examples, tokens,
    truncation); raises :class:`core.validation.DataValidationError` (a
    ``ValueError`` with ``code``, ``param``, ``message``, ``line``) for the first problem,
    ``core.catalog.UnknownModel`` for a model the catalog does not have.
    """
    from core.validation import validate_local as _validate

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    name = base_model_name(model) if model else None
    return _validate(path, name, settings, kind=method, param=param, quality=quality)


def in_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``func`` as a coroutine function that runs it in a worker thread (for CPU-bound work)."""
    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(func, *args, **kwargs)

    return run


class Files(_Files):
    """Files (the official resource) with offline validation: ``validate_local`` is :func:`validate_local`."""

    validate_local = staticmethod(validate_local)


class AsyncFiles(_AsyncFiles):
    """Async twin of :class:`Files`: ``validate_local`` runs :func:`validate_local` in a thread."""

    validate_local = staticmethod(in_thread(validate_local))
