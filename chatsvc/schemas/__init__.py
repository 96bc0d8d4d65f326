"""Pydantic models for every request and response; the OpenAPI spec is generated from these.

One module per resource; this package re-exports the shared pieces.
"""

from chatsvc.schemas.common import (  # noqa: F401
    ORM,
    Page,
    PageQuery,
    Request,
    page_of,
)
