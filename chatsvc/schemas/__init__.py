"""Pydantic models for every request and response; the OpenAPI spec is generated from these.

One module per resource; this package re-exports the shared pieces.
"""

from chatsvc.schemas.common import (
    ORM,
    Page,
    PageQuery,
    Request,
    page_of,
)

__all__ = ["ORM", "Page", "PageQuery", "Request", "page_of"]
