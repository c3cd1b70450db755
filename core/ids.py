"""Object ids with OpenAI's prefixes, and API key generation/hashing."""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable

_ALPHABET = string.ascii_letters + string.digits


def random_token(n: int) -> str:
    """``n`` random characters from [A-Za-z0-9]."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_id(prefix: str, n: int = 24) -> str:
    """A new id such as ``file-…`` or ``ftjob-…``; ``prefix`` includes its separator."""
    return prefix + random_token(n)


def _maker(prefix: str) -> Callable[[], str]:
    """A function returning a new id with ``prefix`` each time it is called."""
    return lambda: new_id(prefix)


file_id = _maker("file-")
upload_id = _maker("upload_")
part_id = _maker("part_")
job_id = _maker("ftjob-")
event_id = _maker("ftevent-")
checkpoint_id = _maker("ftckpt_")


def model_suffix_id() -> str:
    """The 8-character tail of an ``ft:`` model id."""
    return random_token(8)


def fine_tuned_model_id(base: str, project: str, suffix: str | None) -> str:
    """``ft:{base}:{project}:{suffix}:{8 chars}``; an absent suffix leaves ``::``."""
    return f"ft:{base}:{project}:{suffix or ''}:{model_suffix_id()}"


def api_key() -> str:
    return "sk-openft-" + random_token(40)


def hash_key(key: str) -> str:
    """Keys are stored as sha256 hex; they are long random tokens, so no salt is needed."""
    return hashlib.sha256(key.encode()).hexdigest()
