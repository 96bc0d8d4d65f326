"""A big artifact create body, decoded and checked in an agent worker process (job `artifact_body`).

The server never decodes such a body (chatsvc.bodies): the worker decodes it, validates it as
ArtifactCreate and its content by type (DESIGN §9) with the same functions and the same answers as the
server for a small body, and writes the checked content's JSON text to a spool file, which the server stores
as it is (storage.rawjson) and answers spliced into the artifact's JSON (schemas.artifacts.artifact_text).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from agent import spool
from chatsvc.bodies import decode_body
from chatsvc.errors import DomainError, ValidationFailed
from chatsvc.schemas.artifacts import ArtifactCreate, validate_content

RAW_BODY_BYTES = 64 * 1024  # a create body longer than this is decoded in a worker (~1 ms of decoding here)


def checked_content(artifact_type: str, content: Any) -> Any:
    """The content to store for a type (validate_content), or a 422 located under body.content."""
    try:
        return validate_content(artifact_type, content)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, ("body", "content")) from None
    except ValueError as exc:
        raise ValidationFailed.field(["body", "content"], str(exc)) from None


def spooled(args: dict[str, Any]) -> dict[str, Any]:
    """Job `artifact_body`, in a worker: the create body in spool file `body`, decoded and checked. Answers the
    artifact's type, name and document_version_id, and the checked content itself when its JSON is at most
    `embed_limit` characters (events carry it); its JSON text goes to `out`. A refusal answers
    `{"error": {code, message, details}}`, as the server would have refused the body."""
    with open(args["body"], "rb") as fh:
        raw = fh.read()
    try:
        body = decode_body(raw, ArtifactCreate)
        assert isinstance(body, ArtifactCreate)
        content = checked_content(body.type, body.content)
    except DomainError as exc:
        return {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    text = spool.dumps(content)
    spool.write_text(args["out"], [text])
    return {"type": body.type, "name": body.name, "document_version_id": body.document_version_id,
            "content": content if len(text) <= args["embed_limit"] else None}
