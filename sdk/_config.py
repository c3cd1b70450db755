"""Where the SDK finds its server and key: arguments first, then the environment.

The SDK is a client of openft, not part of the server, so it does not load the server's
``Settings``; it reads exactly two variables of its own:

- ``OPENFT_BASE_URL`` (default ``http://127.0.0.1:8000/v1``, the address ``openft serve`` uses)
- ``OPENFT_API_KEY`` (the same variable that bootstraps the server's admin key, so one exported
  value serves both sides on a laptop)

A base URL without a path gets ``/v1`` appended: ``http://host:8000`` and
``http://host:8000/v1`` mean the same server.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import openai

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
BASE_URL_ENV = "OPENFT_BASE_URL"
API_KEY_ENV = "OPENFT_API_KEY"


def resolve_base_url(base_url: str | None) -> str:
    """``base_url`` or ``$OPENFT_BASE_URL`` or the default, with ``/v1`` when no path is given."""
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1")
    return urlunsplit(parts)


def resolve_api_key(api_key: str | None) -> str:
    """``api_key`` or ``$OPENFT_API_KEY``; raises :class:`openai.OpenAIError` when neither is set."""
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise openai.OpenAIError(
            f"no API key: pass api_key=... or set {API_KEY_ENV} (create one with `openft keys create`)"
        )
    return key
