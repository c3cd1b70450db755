"""Standard Webhooks signing, which ``openai`` (``client.webhooks.unwrap``) verifies.

The signature is ``v1,`` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))
where the key is the base64 part of the ``whsec_...`` secret. Several space-separated
signatures are sent while an old secret is still honoured after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes, base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_hint(secret: str) -> str:
    """``whsec_****abcd``: enough to tell two secrets apart, never enough to sign."""
    return "whsec_****" + secret[-4:]


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for one secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(secrets_: list[str], webhook_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The ``webhook-id``/``webhook-timestamp``/``webhook-signature`` headers of one attempt."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(signature(s, webhook_id, ts, body) for s in secrets_),
        "content-type": "application/json",
        "user-agent": "openft-webhooks/1",
    }
