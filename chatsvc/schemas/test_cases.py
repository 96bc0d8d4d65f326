"""Editing the cases of a `test_cases` artifact one by one, and a case's history: request bodies and answers.

The fields follow DESIGN §9's test case (chatsvc.schemas.artifacts.TestCase), with the same limits; request
text may not hold NUL characters, and a case's id is path-safe (it is the URL of its edits and history).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictInt, field_validator, model_validator

from chatsvc.schemas.artifacts import FINGERPRINT_PATTERN, Priority, TestCase
from chatsvc.schemas.common import ID_PATTERN, ORM, NonBlank, Request, Text, not_null

CaseType = Literal["functional", "negative", "boundary"]
Action = Literal["created", "edited", "deleted"]
EDITABLE = ("title", "preconditions", "steps", "expected_result", "priority", "type", "requirement_uids", "links")
MAX_IDS = 5000
RequirementUid = Annotated[NonBlank, Field(min_length=1, max_length=64)]
CaseId = Annotated[Text, Field(min_length=1, max_length=64)]  # as stored: matched exactly, never stripped
RESERVED_ID = "delete"  # /artifacts/{id}/test-cases/delete is the bulk delete, not a case


def _new_id_schema(schema: dict[str, Any]) -> None:
    """An id given for a new case: a string (not null), not the reserved one."""
    not_null(schema)
    schema["not"] = {"const": RESERVED_ID}


class StepIn(Request):
    action: NonBlank = Field(min_length=1, max_length=5000)
    expected: Text = Field(max_length=5000)


class LinkIn(Request):
    req_uid: RequirementUid
    fingerprint: str | None = Field(None, pattern=FINGERPRINT_PATTERN,
                                    description="the requirement's fingerprint when linked; a different one is stale")
    origin: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="e.g. manual, generated, accepted")


class TestCaseCreate(Request):
    """A case added by hand: the title is required, the rest has defaults."""

    __test__ = False  # not a pytest class

    id: str | None = Field(None, pattern=ID_PATTERN, json_schema_extra=_new_id_schema,
                           description="absent: the server picks TC- and 8 hex digits; one the artifact has: 409; "
                                       "not `delete` (the URL of the bulk delete)")
    title: NonBlank = Field(min_length=1, max_length=500)
    preconditions: Text = Field("", max_length=5000)
    steps: list[StepIn] = Field(default_factory=list, max_length=200)
    expected_result: Text = Field("", max_length=5000)
    priority: Priority = "medium"
    type: CaseType = "functional"
    requirement_uids: list[RequirementUid] = Field(default_factory=list, max_length=200)
    links: list[LinkIn] = Field(default_factory=list, max_length=200)

    @field_validator("id", mode="before")
    @classmethod
    def _id_allowed(cls, value: object) -> object:
        if value is None:
            raise ValueError("Leave the id out to have one made; it may not be null.")
        if value == RESERVED_ID:
            raise ValueError(f"A test case may not be called {RESERVED_ID!r}: its URL is the bulk delete's.")
        return value

    def fields(self) -> dict[str, Any]:
        """The case's fields (all but the id), as a content stores them."""
        return self.model_dump(mode="json", include=set(EDITABLE))


class TestCaseEdit(Request):
    """Some fields of a case; those left out stay as they are (none may be null). `{}` changes nothing."""

    __test__ = False

    title: NonBlank | None = Field(None, min_length=1, max_length=500, json_schema_extra=not_null)
    preconditions: Text | None = Field(None, max_length=5000, json_schema_extra=not_null)
    steps: list[StepIn] | None = Field(None, max_length=200, json_schema_extra=not_null)
    expected_result: Text | None = Field(None, max_length=5000, json_schema_extra=not_null)
    priority: Priority | None = Field(None, json_schema_extra=not_null)
    type: CaseType | None = Field(None, json_schema_extra=not_null)
    requirement_uids: list[RequirementUid] | None = Field(
        None, max_length=200, json_schema_extra=not_null,
        description="links to requirements no longer listed are dropped; a uid added here is explicit (no link)")
    links: list[LinkIn] | None = Field(None, max_length=200, json_schema_extra=not_null)
    base_revision: StrictInt | None = Field(
        None, ge=1, le=2**31 - 1,
        description="the case's revision this edit starts from: 409 when it changed since (null or absent: no check)")

    @model_validator(mode="after")
    def _no_nulls(self) -> TestCaseEdit:
        nulls = [name for name in EDITABLE if name in self.model_fields_set and getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may not be null (leave a field out to keep it)")
        return self

    def fields(self) -> dict[str, Any]:
        """The fields sent, as a content stores them."""
        return self.model_dump(mode="json", include=set(EDITABLE) & self.model_fields_set)


class TestCaseDelete(Request):
    """The ids of the cases to delete, exactly as the cases have them (not stripped)."""

    __test__ = False
    model_config = ConfigDict(str_strip_whitespace=False)

    ids: list[CaseId] = Field(min_length=1, max_length=MAX_IDS, json_schema_extra={"uniqueItems": True})

    @field_validator("ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("Each id may be listed once.")
        return value


class TestCaseOut(ORM):
    """A case after a write, with the artifact's version and the case's revision after it."""

    __test__ = False

    artifact_id: str
    artifact_version: int = Field(description="the artifact's version after the write")
    revision: int = Field(description="the case's revision, counted from 1")
    test_case: TestCase


class TestCasesDeleted(ORM):
    __test__ = False

    deleted: list[str] = Field(description="ids removed (all of them in one write)")
    missing: list[str] = Field(description="ids the artifact does not have")


class FieldChange(ORM):
    """A field's value before and after (null: the case did not have the field, or no longer has it)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class TestCaseRevisionOut(ORM):
    """One revision of a case."""

    __test__ = False

    revision: int
    action: Action
    changed_at: dt.datetime
    changed_by: str | None = Field(description="a user id; null once that user is deleted")
    changed_by_name: str | None = Field(description="their username; null once that user is deleted")
    changes: dict[str, FieldChange]
    snapshot: TestCase | None = Field(description="the case after this revision; null when deleted")
