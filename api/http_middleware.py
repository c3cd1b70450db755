"""The base of our plain ASGI middlewares (not ``BaseHTTPMiddleware``, so streamed bodies pass untouched)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Wraps ``app``; HTTP requests go through :meth:`handle`, anything else (lifespan, websockets) passes by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request, calling ``self.app`` on the way."""
        raise NotImplementedError
