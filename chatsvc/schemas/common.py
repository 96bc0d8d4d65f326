"""Shared schema pieces: request base (unknown fields refused), ORM-read base, paging."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Ids are opaque, but never hold anything else: the one pattern for bodies, queries, paths and topics.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)


def is_id(value: str) -> bool:
    """Whether a string has the shape of our ids (path segments are checked with this before any query)."""
    return _ID_RE.fullmatch(value) is not None


def storable(value: str | None) -> str | None:
    """Refuse text no database can store (NUL characters, lone surrogates): a 422, never a 500."""
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("The text must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("The text is not valid Unicode (lone surrogate).") from None
    return value


class Request(BaseModel):
    """A request body or query: unknown fields are a 422 (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ORM(BaseModel):
    """A response read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class PageQuery(BaseModel):
    """?limit= (1..200, default 50) and ?offset=; other query parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=2**31 - 1)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(model: type[BaseModel], rows: Iterable[Any], total: int, query: PageQuery) -> dict[str, Any]:
    """Build the list answer {items, total, limit, offset} from ORM rows."""
    return {
        "items": [model.model_validate(row).model_dump(mode="json") for row in rows],
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
    }
