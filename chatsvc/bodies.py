"""Request bodies: decoding and validating a JSON body, here or, when it is big, in an agent worker process.

A body longer than an endpoint's `raw_over` (chatsvc.views) reaches its method as a RawBody, undecoded: a
4 MiB JSON body takes ~50 ms to decode, all of it holding the GIL, so such bodies are decoded by a worker
(chatsvc.services.artifact_jobs) with the same functions and the same answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from chatsvc.errors import BadRequest, ValidationFailed


@dataclass(frozen=True)
class RawBody:
    """A JSON body too big to decode on the event loop (see Endpoint.raw_over): its bytes, for a worker."""

    data: bytes


def decode_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    """Decode and validate a JSON body (BadRequest for bad JSON; the 422's locations start with 'body')."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # bad JSON or UTF-8, or an integer of more than 4300 digits
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None
    return validate_body(data, model)


def validate_body(data: Any, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, ("body",)) from None
