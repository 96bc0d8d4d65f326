"""The HTTP edge of the domain errors: status and headers per error class, and the middleware that answers
every failure (ours, aiohttp's, unexpected ones) in the one JSON error shape of DESIGN.md."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from chatsvc import keys
from chatsvc.audit import security_event
from chatsvc.errors import (
    BadRequest,
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

log = logging.getLogger("chatsvc.errors")
# Refusals worth a line in the security log (chatsvc/audit.py), by status.
AUDITED = {401: "unauthorized", 403: "forbidden", 429: "rate_limited", 503: "busy"}

HTTP_STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    RateLimited: 429,
    Unavailable: 503,
    Busy: 503,
}

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


def http_status(exc: DomainError) -> int:
    """The status of the nearest mapped class (a subclass answers like its parent)."""
    for cls in type(exc).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 400


def http_headers(exc: DomainError) -> dict[str, str]:
    """Headers the status calls for: how to authenticate, when to come back."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited | Busy):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def error_response(status: int, code: str, message: str, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """Build a JSON error response in the one shape."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


def domain_error_response(exc: DomainError) -> web.Response:
    """Answer a domain error over HTTP."""
    return error_response(http_status(exc), exc.code, exc.message, exc.details, http_headers(exc))


def _audit_refusal(request: web.Request, status: int, code: str) -> None:
    if status in AUDITED:
        principal = request.get(keys.PRINCIPAL)
        security_event(AUDITED[status], code=code, status=status, method=request.method, path=request.path,
                       user_id=principal.user_id if principal else None, ip=request.remote)


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
    """Render domain errors, aiohttp's HTTP errors and unexpected exceptions as the JSON error shape."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except DomainError as exc:
        response = domain_error_response(exc)
        _audit_refusal(request, response.status, exc.code)
        return response
    except ValidationError as exc:  # a schema used outside the view helpers
        return domain_error_response(ValidationFailed.from_pydantic(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "internal" if exc.status >= 500 else "bad_request")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        _audit_refusal(request, exc.status, code)
        return error_response(exc.status, code, _message_for(exc), headers=headers)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("Unhandled error %s on %s %s", error_id, request.method, request.path)
        return error_response(500, "internal", f"Something went wrong on our side (error id {error_id}).")
