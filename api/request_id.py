"""``x-request-id`` on every response: the caller's own when it sent one, else a new ``req_…``.

A plain ASGI middleware (not ``BaseHTTPMiddleware``) so streamed request and response bodies
pass through untouched. The id is kept in ``scope["state"]["request_id"]``, where the error
handlers and logs find it as ``request.state.request_id``.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from api.http_middleware import HttpMiddleware
from core import ids
from core.logging import log_context

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return ids.new_id("req_", 32)


class RequestIdMiddleware(HttpMiddleware):
    """Adds ``x-request-id`` to every HTTP response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope.get("headers") or []).get(HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _ACCEPTABLE.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if HEADER not in headers:
                    headers[HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id):  # every log line of this request carries it
            await self.app(scope, receive, send_with_id)
