"""``cosine`` similarity with the embedding model the operator configures.

Either a local sentence-transformers directory (``OPENFT_GRADER_EMBEDDINGS_MODEL_DIR``; needs the
``sentence-transformers`` package) or an OpenAI-compatible ``/embeddings`` endpoint
(``OPENFT_GRADER_EMBEDDINGS_URL`` + ``OPENFT_GRADER_EMBEDDINGS_MODEL``, optional
``OPENFT_GRADER_EMBEDDINGS_API_KEY``). Without either, a cosine grader is refused with a 400.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import math
from pathlib import Path
from typing import Any

from core.graders.spec import GraderSpecError
from core.settings import Settings

_HOW = ("cosine similarity needs an embedding model: set OPENFT_GRADER_EMBEDDINGS_MODEL_DIR to a local "
        "sentence-transformers directory, or OPENFT_GRADER_EMBEDDINGS_URL (an OpenAI-compatible …/v1 base "
        "URL) and OPENFT_GRADER_EMBEDDINGS_MODEL")


def require_embeddings(settings: Settings) -> None:
    """Raise :class:`GraderSpecError` (param ``evaluation_metric``) unless an embedding model is configured."""
    if settings.grader_embeddings_model_dir is None and not (
        settings.grader_embeddings_url and settings.grader_embeddings_model
    ):
        raise GraderSpecError(f"This server cannot compute 'cosine': {_HOW}.", "evaluation_metric")
    if settings.grader_embeddings_model_dir is not None and importlib.util.find_spec("sentence_transformers") is None:
        raise GraderSpecError("This server cannot compute 'cosine': OPENFT_GRADER_EMBEDDINGS_MODEL_DIR is set but the "
                              "sentence-transformers package is not installed (pip install sentence-transformers).",
                              "evaluation_metric")


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return max(-1.0, min(1.0, dot / norm)) if norm else 0.0


@functools.cache
def _local_model(path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", trust_remote_code=False)


async def embed(settings: Settings, texts: list[str]) -> list[list[float]]:
    """Embeddings of ``texts`` from the configured model."""
    require_embeddings(settings)
    if settings.grader_embeddings_model_dir is not None:
        model = await asyncio.to_thread(_local_model, settings.grader_embeddings_model_dir)
        vectors = await asyncio.to_thread(model.encode, texts)
        return [list(map(float, v)) for v in vectors]
    import openai

    key = settings.grader_embeddings_api_key
    async with openai.AsyncOpenAI(base_url=settings.grader_embeddings_url,
                                  api_key=key.get_secret_value() if key else "none", max_retries=1) as client:
        reply = await client.embeddings.create(model=settings.grader_embeddings_model or "", input=texts)
    return [d.embedding for d in sorted(reply.data, key=lambda d: d.index)]


async def cosine(settings: Settings, text: str, reference: str) -> float:
    """Cosine similarity of the two texts' embeddings (1.0 for identical texts)."""
    if text == reference:
        return 1.0
    a, b = await embed(settings, [text, reference])
    return _cos(a, b)
