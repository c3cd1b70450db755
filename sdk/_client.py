"""``Client`` and ``AsyncClient``: the official OpenAI client pointed at openft, with extensions.

Each client wraps one ``openai.OpenAI`` (``client.openai``) and exposes its resources. Where
openft adds methods (``files``, ``fine_tuning.jobs``, ``models``) the resource is a subclass
of the official one, so every OpenAI method, its types, retries and exceptions are the
official client's own; everything else (``chat``, ``uploads``, …) is the official resource
itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import httpx2
import openai
from openai._compat import cached_property
from openai.resources import AsyncUploads, Uploads
from openai.resources.chat import AsyncChat, Chat

from sdk._config import resolve_api_key, resolve_base_url
from sdk.resources.evals import AsyncEvals, Evals
from sdk.resources.files import AsyncFiles, Files
from sdk.resources.jobs import AsyncFineTuning, AsyncJobs, FineTuning, Jobs
from sdk.resources.models import AsyncModels, Models

DEFAULT_TIMEOUT = httpx2.Timeout(600.0, connect=10.0)


OpenAIT = TypeVar("OpenAIT", openai.OpenAI, openai.AsyncOpenAI)


class _ClientBase(Generic[OpenAIT]):
    """What both clients share: the wrapped official client, built from openft's defaults."""

    _openai_class: type[OpenAIT]

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx2.Timeout | None = DEFAULT_TIMEOUT,
        default_headers: Mapping[str, str] | None = None,
        **openai_kwargs: Any,
    ) -> None:
        self.openai: OpenAIT = self._openai_class(
            base_url=resolve_base_url(base_url),
            api_key=resolve_api_key(api_key),
            timeout=timeout,
            default_headers=default_headers,
            **openai_kwargs,
        )

    @property
    def base_url(self) -> str:
        return str(self.openai.base_url)

    def __repr__(self) -> str:
        return f"<openft.{type(self).__name__} base_url={self.base_url!r}>"


class Client(_ClientBase[openai.OpenAI]):
    """Synchronous openft client.

    ``base_url`` and ``api_key`` default to ``$OPENFT_BASE_URL`` and ``$OPENFT_API_KEY`` (see
    :mod:`sdk._config`); any other keyword goes to ``openai.OpenAI`` (``max_retries``,
    ``timeout``, ``http_client``, ``_strict_response_validation``, …).

    >>> client = Client(base_url="http://127.0.0.1:8000", api_key="sk-…")
    >>> job = client.fine_tuning.jobs.create(model="tiny-chat", training_file="file-…")
    >>> client.jobs.wait(job.id, progress=True).fine_tuned_model
    """

    _openai_class = openai.OpenAI

    @cached_property
    def files(self) -> Files:
        """Files, plus ``validate_local``."""
        return Files(self.openai)

    @cached_property
    def fine_tuning(self) -> FineTuning:
        """Fine-tuning; ``fine_tuning.jobs`` adds ``wait``, ``follow``, ``history``, ``plot``."""
        return FineTuning(self.openai)

    @property
    def jobs(self) -> Jobs:
        """Shortcut for ``fine_tuning.jobs``."""
        return self.fine_tuning.jobs

    @cached_property
    def models(self) -> Models:
        """Models, plus ``export``."""
        return Models(self.openai)

    @cached_property
    def evals(self) -> Evals:
        """Evals and their runs; ``evals.runs`` adds ``wait`` (with live progress)."""
        return Evals(self.openai)

    @property
    def chat(self) -> Chat:
        """Chat completions with fine-tuned models (the official resource)."""
        return self.openai.chat

    @property
    def uploads(self) -> Uploads:
        """Multipart uploads for large files (the official resource)."""
        return self.openai.uploads

    def close(self) -> None:
        """Close the HTTP connections."""
        self.openai.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncClient(_ClientBase[openai.AsyncOpenAI]):
    """Asynchronous twin of :class:`Client` (wraps ``openai.AsyncOpenAI``)."""

    _openai_class = openai.AsyncOpenAI

    @cached_property
    def files(self) -> AsyncFiles:
        return AsyncFiles(self.openai)

    @cached_property
    def fine_tuning(self) -> AsyncFineTuning:
        return AsyncFineTuning(self.openai)

    @property
    def jobs(self) -> AsyncJobs:
        return self.fine_tuning.jobs

    @cached_property
    def models(self) -> AsyncModels:
        return AsyncModels(self.openai)

    @cached_property
    def evals(self) -> AsyncEvals:
        return AsyncEvals(self.openai)

    @property
    def chat(self) -> AsyncChat:
        return self.openai.chat

    @property
    def uploads(self) -> AsyncUploads:
        return self.openai.uploads

    async def close(self) -> None:
        await self.openai.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
