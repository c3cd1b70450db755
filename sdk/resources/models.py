"""``client.models``: the official resource plus ``export`` (download a model's weights) and
``merge`` (combine fine-tunes into a new model).

``GET /v1/models/{model}/content?format=adapter|merged|gguf|ollama`` answers a tar archive (the
LoRA adapter with tokenizer and chat template; the base model with the adapter merged in; a GGUF
file with an Ollama ``Modelfile``) or, for ``gguf``, the GGUF file itself. ``export`` streams it to
disk without holding it in memory, and can unpack an archive into a directory that
``peft``/``transformers``/``ollama create`` use.

``POST /v1/models/merges`` queues a merge; ``merge`` returns the ``model.merge`` object and
``wait_merge`` polls it until it succeeds or fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import httpx2
from openai._base_client import make_request_options
from openai._constants import RAW_RESPONSE_HEADER
from openai._models import BaseModel
from openai._utils import path_template
from openai.resources import AsyncModels as _AsyncModels
from openai.resources import Models as _Models

ExportFormat = Literal["adapter", "merged", "gguf", "ollama"]
MergeMethod = Literal["linear", "ties", "dare_ties", "dare_linear", "cat"]
CHUNK = 1024 * 1024
FORMATS = ("adapter", "merged", "gguf", "ollama")


class MergeError(BaseModel):
    code: str
    message: str
    param: str | None = None


class ModelMerge(BaseModel):
    """A merge of ``ft:`` models (``object: "model.merge"``); ``fine_tuned_model`` is the model it
    creates, servable once ``status`` is ``succeeded``."""

    id: str
    object: Literal["model.merge"]
    status: Literal["queued", "running", "succeeded", "failed"]
    base_model: str
    models: list[str]
    method: str
    weights: list[float]
    density: float | None = None
    fine_tuned_model: str
    created_at: int
    finished_at: int | None = None
    error: MergeError | None = None


def _merge_body(models: Sequence[str], method: MergeMethod, weights: Sequence[float] | None,
                density: float | None, suffix: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"models": list(models), "method": method}
    for key, value in (("weights", None if weights is None else list(weights)), ("density", density),
                       ("suffix", suffix)):
        if value is not None:
            body[key] = value
    return body


def _content_path(model: str) -> str:
    if not model:
        raise ValueError(f"Expected a non-empty value for `model` but received {model!r}")
    return path_template("/models/{model}/content", model=model)


def _options(format: ExportFormat, quantization: str | None, extract: bool) -> Any:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if extract and format == "gguf":
        raise ValueError("a gguf export is one file, not an archive: drop extract")
    query = {"format": format} if quantization is None else {"format": format, "quantization": quantization}
    return make_request_options(extra_headers={RAW_RESPONSE_HEADER: "stream"}, extra_query=query)


def _partial_file(dest: Path) -> tuple[int, Path]:
    """A temporary file beside ``dest`` (same filesystem, so the final rename is atomic)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    return fd, Path(name)


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack a tar (any compression) into ``dest``; members may not escape it.

    The server's archives hold one top-level folder named after the model; it is dropped, so
    ``dest`` itself holds ``adapter_config.json`` (or ``config.json``) and can be passed to
    ``PeftModel.from_pretrained`` / ``AutoModelForCausalLM.from_pretrained`` as is.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) == 1 and any("/" in m.name for m in members):
            prefix = tops.pop() + "/"
            members = [m for m in members if m.name.startswith(prefix)]
            for member in members:
                member.name = member.name[len(prefix):]
        tar.extractall(dest, members=members, filter="data")
    return dest


def _finish(tmp: Path, dest: Path, extract: bool) -> Path:
    try:
        if extract:
            return extract_archive(tmp, dest)
        os.replace(tmp, dest)
        return dest
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class Models(_Models):
    """Models (the official resource) with ``export`` and ``merge``."""

    def export(
        self, model: str, *, format: ExportFormat = "adapter", dest: str | Path, extract: bool = False,
        quantization: str | None = None,
    ) -> Path:
        """Download ``model``'s weights as a tar (a ``.gguf`` file for ``format="gguf"``) to
        ``dest``, or unpack an archive into the directory ``dest`` with ``extract=True`` (see
        :func:`extract_archive`); returns ``dest``. ``quantization`` (``f16``, ``q8_0``, ...)
        applies to ``gguf`` and ``ollama``.

        The file appears only once complete (written beside it, then renamed). Raises
        ``openai.NotFoundError`` for an unknown model and ``openai.BadRequestError`` for a
        format the server cannot produce.
        """
        dest = Path(dest)
        response: httpx2.Response = self._get(
            _content_path(model), options=_options(format, quantization, extract), cast_to=httpx2.Response,
            stream=True,
        )
        fd, tmp = _partial_file(dest)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        return _finish(tmp, dest, extract)

    def merge(self, models: Sequence[str], *, method: MergeMethod = "linear", weights: Sequence[float] | None = None,
              density: float | None = None, suffix: str | None = None) -> ModelMerge:
        """Queue a merge of ``models`` (``ft:`` models of one base) into a new ``ft:`` model.

        ``weights``: one per model (default equal); ``density``: share of each adapter's delta kept
        by ``ties``/``dare_*``. Raises ``openai.BadRequestError``/``NotFoundError`` naming the param.
        """
        return self._post("/models/merges", body=_merge_body(models, method, weights, density, suffix),
                          cast_to=ModelMerge)

    def retrieve_merge(self, merge_id: str) -> ModelMerge:
        """The merge ``merge_id`` and its status."""
        return self._get(path_template("/models/merges/{merge_id}", merge_id=merge_id), cast_to=ModelMerge)

    def wait_merge(self, merge_id: str, *, poll_interval: float = 1.0, timeout: float | None = None) -> ModelMerge:
        """Poll the merge until it succeeds or fails (or ``timeout`` seconds pass); the last object."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            merge = self.retrieve_merge(merge_id)
            if merge.status in ("succeeded", "failed") or (deadline is not None and time.monotonic() >= deadline):
                return merge
            time.sleep(poll_interval)


class AsyncModels(_AsyncModels):
    """Async twin of :class:`Models`."""

    async def export(
        self, model: str, *, format: ExportFormat = "adapter", dest: str | Path, extract: bool = False,
        quantization: str | None = None,
    ) -> Path:
        """Async twin of :meth:`Models.export` (file writes and unpacking run in a thread)."""
        dest = Path(dest)
        response: httpx2.Response = await self._get(
            _content_path(model), options=_options(format, quantization, extract), cast_to=httpx2.Response,
            stream=True,
        )
        fd, tmp = _partial_file(dest)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            await response.aclose()
        return await asyncio.to_thread(_finish, tmp, dest, extract)

    async def merge(self, models: Sequence[str], *, method: MergeMethod = "linear",
                    weights: Sequence[float] | None = None, density: float | None = None,
                    suffix: str | None = None) -> ModelMerge:
        """Async twin of :meth:`Models.merge`."""
        return await self._post("/models/merges", body=_merge_body(models, method, weights, density, suffix),
                                cast_to=ModelMerge)

    async def retrieve_merge(self, merge_id: str) -> ModelMerge:
        """Async twin of :meth:`Models.retrieve_merge`."""
        return await self._get(path_template("/models/merges/{merge_id}", merge_id=merge_id), cast_to=ModelMerge)

    async def wait_merge(self, merge_id: str, *, poll_interval: float = 1.0,
                         timeout: float | None = None) -> ModelMerge:
        """Async twin of :meth:`Models.wait_merge`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            merge = await self.retrieve_merge(merge_id)
            if merge.status in ("succeeded", "failed") or (deadline is not None and time.monotonic() >= deadline):
                return merge
            await asyncio.sleep(poll_interval)
