"""Domain errors and the one place that renders them as OpenAI error bodies.

Exception tree (services raise these; they never raise HTTP exceptions)::

    APIError                      any status, type, param, code
    ├── InvalidRequest            400 invalid_request_error
    ├── Unauthorized              401 invalid_request_error, code invalid_api_key
    ├── PermissionDenied          403 permission_error
    ├── NotFound                  404 invalid_request_error
    ├── TooLarge                  413 invalid_request_error, code file_too_large
    └── ServiceUnavailable        503 server_error            (a dependency is down)

Every error body is ``{"error": {"message", "type", "param", "code"}}`` with all four keys,
``code`` a string or null. Request validation becomes 400 naming the offending parameter,
unknown routes 404, wrong methods 405, all in that shape. An unexpected exception is a 500 with
``x-should-retry: false`` on writes: the official client retries 5xx without an idempotency key,
and a crash after a create committed must not create the object twice. Reads keep the default
(retry), which is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from api.body import OVERHEAD, drain_body
from api.http_middleware import HttpMiddleware

log = logging.getLogger("openft.api")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class APIError(Exception):
    """An error the API answers with ``status`` and an OpenAI error body."""

    status: int = 400
    type: str = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI returns for this error."""
        return error_body(self.message, self.type, self.param, self.code)


class InvalidRequest(APIError):
    """400: the request is malformed or asks for an illegal state change."""

    status = 400


class Unauthorized(APIError):
    """401: missing or wrong API key."""

    status = 401
    code = "invalid_api_key"


class PermissionDenied(APIError):
    """403: the key is valid but may not do this."""

    status = 403
    type = "permission_error"


class NotFound(APIError):
    """404: no such object (or it belongs to another project, which reads the same)."""

    status = 404

    @classmethod
    def object(cls, kind: str, object_id: str, param: str = "id") -> NotFound:
        """``No such File object: file-…`` as OpenAI words it."""
        return cls(f"No such {kind} object: {object_id}", param=param)


class TooLarge(APIError):
    """413: the body or declared size is over a configured limit."""

    status = 413
    code = "file_too_large"


class ServiceUnavailable(APIError):
    """503: a dependency (database, store) is unreachable; nothing was changed."""

    status = 503
    type = "server_error"


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(
    status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
    code: str | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in OpenAI's shape."""
    return JSONResponse(error_body(message, type, param, code), status_code=status, headers=headers)


def _param_name(loc: Sequence[Any]) -> str | None:
    """``("body", "expires_after", "seconds")`` -> ``expires_after[seconds]``."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "cookie")]
    if not parts:
        return None
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    settings = request.app.state.openft.settings
    await drain_body(request, max(settings.max_file_bytes, settings.max_part_bytes) + OVERHEAD)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    param = _param_name(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return error_response(400, "We could not parse the JSON body of your request.", param=None)
    msg = str(first.get("msg", "invalid request"))
    if first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'." if param else "This request needs a JSON body."
        return error_response(400, message, param=param, code="missing_required_parameter")
    message = f"Invalid value for '{param}': {msg}." if param else f"Invalid request: {msg}."
    return error_response(400, message, param=param, code="invalid_value")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
        return error_response(404, message, headers=headers)
    if exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}"
        return error_response(405, message, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    type_ = "server_error" if exc.status_code >= 500 else "invalid_request_error"
    return error_response(exc.status_code, detail, type=type_, headers=headers)


def _internal_error(method: str, request_id: str | None) -> JSONResponse:
    headers = {} if method in _SAFE_METHODS else {"x-should-retry": "false"}
    if request_id:
        headers["x-request-id"] = request_id
    return error_response(
        500, "The server had an error while processing your request.", type="server_error", headers=headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Reached only for errors outside UnhandledErrors (i.e. in the outer middlewares).
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _internal_error(request.method, getattr(request.state, "request_id", None))


class UnhandledErrors(HttpMiddleware):
    """Turns an exception escaping a handler into the 500 above, and keeps the connection.

    Starlette's outermost error middleware would answer too, but then re-raises, so the server
    logs it twice and drops the keep-alive connection (the client's next request on it fails).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:
                raise  # half a response went out; only closing the connection can signal it
            request_id = scope.get("state", {}).get("request_id")
            await _internal_error(scope["method"], request_id)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error path of ``app`` through the OpenAI error shape.

    Call before adding other middleware: :class:`UnhandledErrors` must be the innermost.
    """
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(UnhandledErrors)
