"""``client.models``: the official resource plus ``export`` (download a model's weights).

``GET /v1/models/{model}/content?format=adapter|merged`` answers a tar archive: the LoRA
adapter (``adapter_model.safetensors``, ``adapter_config.json``) with tokenizer and chat
template, or the base model with the adapter merged in. ``export`` streams it to disk without
holding it in memory, and can unpack it into a directory that ``peft``/``transformers`` load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Literal

import httpx2
from openai._base_client import make_request_options
from openai._constants import RAW_RESPONSE_HEADER
from openai._utils import path_template
from openai.resources import AsyncModels as _AsyncModels
from openai.resources import Models as _Models

ExportFormat = Literal["adapter", "merged"]
CHUNK = 1024 * 1024


def _content_path(model: str) -> str:
    if not model:
        raise ValueError(f"Expected a non-empty value for `model` but received {model!r}")
    return path_template("/models/{model}/content", model=model)


def _options(format: ExportFormat) -> Any:
    if format not in ("adapter", "merged"):
        raise ValueError(f"format must be 'adapter' or 'merged', not {format!r}")
    return make_request_options(extra_headers={RAW_RESPONSE_HEADER: "stream"}, extra_query={"format": format})


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
    """Models (the official resource) with ``export``."""

    def export(
        self, model: str, *, format: ExportFormat = "adapter", dest: str | Path, extract: bool = False
    ) -> Path:
        """Download ``model``'s weights as a tar to ``dest``, or unpack them into the directory
        ``dest`` with ``extract=True`` (see :func:`extract_archive`); returns ``dest``.

        The file appears only once complete (written beside it, then renamed). Raises
        ``openai.NotFoundError`` for an unknown model and ``openai.BadRequestError`` for a
        format the server cannot produce.
        """
        dest = Path(dest)
        response: httpx2.Response = self._get(
            _content_path(model), options=_options(format), cast_to=httpx2.Response, stream=True
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


class AsyncModels(_AsyncModels):
    """Async twin of :class:`Models`."""

    async def export(
        self, model: str, *, format: ExportFormat = "adapter", dest: str | Path, extract: bool = False
    ) -> Path:
        """Async twin of :meth:`Models.export` (file writes and unpacking run in a thread)."""
        dest = Path(dest)
        response: httpx2.Response = await self._get(
            _content_path(model), options=_options(format), cast_to=httpx2.Response, stream=True
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
