"""The ApiError hierarchy and the middleware that renders every error in one JSON shape."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

log = logging.getLogger("chatsvc.errors")


class ApiError(Exception):
    """An error a client can act on; rendered as {"error": {code, message, details}}."""

    status = 400
    code = "bad_request"
    default_message = "The request could not be understood."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ApiError):
    status, code, default_message = 400, "bad_request", "The request could not be understood."


class Unauthorized(ApiError):
    status, code, default_message = 401, "unauthorized", "Authentication is required."

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status, code, default_message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    status, code, default_message = 404, "not_found", "Not found."


class Conflict(ApiError):
    status, code, default_message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code, default_message = 415, "unsupported_media_type", "Send the body as application/json."


class ValidationFailed(ApiError):
    status, code, default_message = 422, "validation_error", "The request is not valid."

    @classmethod
    def from_pydantic(cls, exc: ValidationError, prefix: tuple[str, ...] = ()) -> ValidationFailed:
        """Turn a pydantic error into details with loc and msg per field."""
        details = [
            {"loc": [*prefix, *(str(p) for p in err["loc"])], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        return cls(details=details)

    @classmethod
    def field(cls, loc: list[str], msg: str) -> ValidationFailed:
        """Report one bad field."""
        return cls(details=[{"loc": loc, "msg": msg, "type": "value_error"}])


class RateLimited(ApiError):
    status, code, default_message = 429, "rate_limited", "Too many attempts; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = max(1, int(retry_after))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Build a JSON error response in the one shape."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _message_for(exc: web.HTTPException) -> str:
    if exc.status == 404:
        return "No such resource."
    if exc.status == 405:
        return f"Method {exc.method if hasattr(exc, 'method') else ''} is not allowed here.".replace("  ", " ")
    if exc.status == 413:
        return "The request body is too large."
    return exc.reason or "Request failed."


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Render ApiError, aiohttp's HTTP errors and unexpected exceptions as the JSON error shape."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except ValidationError as exc:  # a schema used outside the view helpers
        err = ValidationFailed.from_pydantic(exc)
        return error_response(err.status, err.code, err.message, err.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "internal" if exc.status >= 500 else "bad_request")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, code, _message_for(exc), headers=headers)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("Unhandled error %s on %s %s", error_id, request.method, request.path)
        return error_response(
            500, "internal", f"Something went wrong on our side (error id {error_id}).",
        )
