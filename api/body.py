"""Reading request bodies safely: tracking whether a body was fully read, and draining it.

When a handler refuses a large body before reading it all (bad key, bad purpose found in the
first part), answering at once and closing would make the client's send fail with a reset
before it reads our answer, and the official client would retry a connection error. So the
error path reads and discards the rest of a body of acceptable size before answering
(:func:`drain_body`); bodies declared larger than the cap are refused without reading them.

:class:`BodyTracker` is the ASGI middleware that records in ``scope["state"]["body_done"]``
whether the last body message was received.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from api.http_middleware import HttpMiddleware

OVERHEAD = 1024 * 1024  # multipart headers and boundaries around the largest accepted payload


class BodyTracker(HttpMiddleware):
    """Marks ``scope["state"]["body_done"]`` once the request body has been received in full."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        state["body_done"] = False

        async def tracking_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" or (
                message["type"] == "http.request" and not message.get("more_body", False)
            ):
                state["body_done"] = True
            return message

        await self.app(scope, tracking_receive, send)


def declared_length(request: Request) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    value = request.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def drain_body(request: Request, cap: int) -> None:
    """Read and discard what is left of the body, up to ``cap`` bytes (no-op once it is read)."""
    if request.scope.get("state", {}).get("body_done", True):
        return
    length = declared_length(request)
    if length is not None and length > cap:
        return
    seen = 0
    while seen <= cap:
        message = await request.receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
