"""Shared schema pieces: request base (unknown fields refused), ORM-read base, paging, and the text rules
(`Text`: no NUL; `NonBlank`: no NUL, not only whitespace) stated in the OpenAPI document as they are enforced."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


# What `storable` enforces, said in the schema (JSON Schema cannot say "no lone surrogate"; no client sends one).
NO_NUL_PATTERN = r"^[^\u0000]*$"
BLANK_PATTERN = r"^\s*$"


class StorableSchema:
    """Adds to a string's JSON schema what its validators enforce, so the OpenAPI document states the rule:
    no NUL character, and with `not_blank` not only whitespace (request strings are stripped before their
    min_length is checked, so "   " is as empty as "")."""

    def __init__(self, *, not_blank: bool = False) -> None:
        self.not_blank = not_blank

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("pattern", NO_NUL_PATTERN)
        if self.not_blank:
            schema["not"] = {"pattern": BLANK_PATTERN}
        return schema


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("The text must not be blank.")
    return value


# Request text a database stores: no NUL, no lone surrogate (422). NonBlank also refuses only-whitespace text.
Text = Annotated[str, AfterValidator(storable), StorableSchema()]
NonBlank = Annotated[str, AfterValidator(storable), AfterValidator(_not_blank), StorableSchema(not_blank=True)]


def exactly_one_of(*groups: tuple[str, ...]) -> dict[str, Any]:
    """The JSON schema of "exactly one of these fields is given (not null)", for a model's json_schema_extra.

    Each group is a field and the fields it needs with it (a document's `content` needs a `title`); the model
    validator that enforces the rule stays the authority, this only lets clients and fuzzers read it.
    """
    return {"oneOf": [
        {"required": list(group), "properties": {name: {"not": {"type": "null"}} for name in group}}
        for group in groups
    ]}


def not_null(schema: dict[str, Any]) -> None:
    """json_schema_extra of an optional field that may be left out but not sent as null: drop the null branch."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    schema.pop("default", None)


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
