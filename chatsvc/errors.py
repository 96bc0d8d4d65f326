"""Domain errors: what went wrong in words a client can act on, with no transport in them.

Services, authz and repositories raise these; the edges map them: `chatsvc/http_errors.py` to an HTTP status
and headers with the JSON error shape, the websocket to an error frame (`code`, `message`, `retryable`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class DomainError(Exception):
    """An error a client can act on: a stable `code`, a sentence, and optional per-field `details`."""

    code = "bad_request"
    default_message = "The request could not be understood."
    retryable = False  # the same request may succeed later without change

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 details: list[Any] | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(DomainError):
    code, default_message = "bad_request", "The request could not be understood."


class Unauthorized(DomainError):
    code, default_message = "unauthorized", "Authentication is required."


class Forbidden(DomainError):
    code, default_message = "forbidden", "You are not allowed to do this."


class NotFound(DomainError):
    code, default_message = "not_found", "Not found."


class Conflict(DomainError):
    code, default_message = "conflict", "The request conflicts with the current state."


class PayloadTooLarge(DomainError):
    code, default_message = "payload_too_large", "The request body is too large."


class UnsupportedMediaType(DomainError):
    code, default_message = "unsupported_media_type", "Send the body as application/json."


class ValidationFailed(DomainError):
    code, default_message = "validation_error", "The request is not valid."

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


class RateLimited(DomainError):
    code, default_message = "rate_limited", "Too many attempts; try again later."
    retryable = True

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DomainError):
    """A part the request needs (the event bus, a worker) is down for now; retrying later may work."""

    code, default_message = "internal", "The service is unavailable right now; retry shortly."
    retryable = True


class Busy(Unavailable):
    """Too much of one kind of work is queued (password hashing); come back after `retry_after` seconds."""

    code, default_message = "busy", "The server is busy; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: float = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def from_body(error: dict[str, Any]) -> DomainError:
    """The domain error of an error body's `error` part (as `DomainError.body` made it, e.g. in a worker)."""
    kinds = {cls.code: cls for cls in (BadRequest, Forbidden, NotFound, Conflict, ValidationFailed)}
    return kinds.get(error.get("code", ""), DomainError)(error.get("message"), code=error.get("code"),
                                                         details=error.get("details"))
