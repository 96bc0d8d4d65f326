"""Document versions and their extracted requirements: request bodies, queries and the JSON they answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from chatsvc.schemas.common import (
    ID_PATTERN,
    ORM,
    NonBlank,
    PageQuery,
    Request,
    StorableSchema,
    Text,
    exactly_one_of,
)
from chatsvc.schemas.common import storable as storable_text

MAX_CONTENT_BYTES = 2 * 1024 * 1024  # UTF-8 bytes of document text; beyond: 413 (inline) or 422 (file)
ExactText = Annotated[str, StringConstraints(strip_whitespace=False), StorableSchema()]  # stored as sent



class DocumentVersionCreate(Request):
    """Create a version from inline `content` or from an uploaded text file (`file_id`), exactly one of them."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of(("content", "title"), ("file_id",)))

    title: NonBlank | None = Field(None, min_length=1, max_length=300,
                                   description="required with `content`; with `file_id` it defaults to the filename")
    content: Annotated[ExactText, StorableSchema(not_blank=True)] | None = Field(
        None, description="Markdown or plain text, not blank, at most 2 MiB of UTF-8 (413 beyond)")
    file_id: str | None = Field(None, pattern=ID_PATTERN,
                                description="a file of this project holding UTF-8 text (else 422)")
    notes: Text = Field("", max_length=10000)
    make_current: StrictBool = Field(True, description="false keeps the current version (unless there is none yet)")

    @field_validator("content")
    @classmethod
    def _content(cls, value: str | None) -> str | None:
        # Not stripped (whitespace is part of the document), but blank text is surely a mistake.
        if value is not None and not value.strip():
            raise ValueError("The content must not be blank.")
        return storable_text(value)

    @model_validator(mode="after")
    def _one_source(self) -> DocumentVersionCreate:
        if (self.content is None) == (self.file_id is None):
            raise ValueError("Give exactly one of `content` or `file_id`.")
        if self.content is not None and self.title is None:
            raise ValueError("`title` is required with `content`.")
        return self


class DocumentVersionUpdate(Request):
    """Change a version's title or notes, or make it current; its content is immutable (a 422)."""

    title: NonBlank | None = Field(None, min_length=1, max_length=300)
    notes: Text | None = Field(None, max_length=10000)
    is_current: Literal[True] | None = Field(
        None, description="only `true`: another version stops being current; `false` is a 422")


class DocumentVersionSummary(ORM):
    """A version as listed (and as carried by events): everything but the content."""

    id: str
    project_id: str
    number: int = Field(description="1, 2, 3... per project")
    title: str
    notes: str
    is_current: bool
    requirement_count: int
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = Field(description="the row version, +1 on every change")


class DocumentVersionOut(DocumentVersionSummary):
    """One version with its content (single GET, /current and the create response)."""

    content: str


Modality = Literal["shall", "must", "should", "may", "will",
                   "shall not", "must not", "should not", "may not", "will not"]


class RequirementOut(ORM):
    uid: str = Field(description="the author's id, or `REQ-` + 8 hex generated from the statement's words; a "
                                 "generated uid is kept across versions when the requirement is edited")
    title: str
    statement: str
    modality: Modality
    priority: Literal["high", "medium", "low"]
    section: str
    fingerprint: str = Field(description="SHA-256 hex of the whitespace-normalised, lower-cased statement")


class RequirementQuery(PageQuery):
    """Requirements in document order, paged."""


class RequirementsPreview(ORM):
    """What a new version of a content would hold, before saving it: its requirements in document order."""

    requirements: list[RequirementOut]
    count: int


class DocumentDiffQuery(BaseModel):
    """The version to compare with; by default the one numbered just before. Other parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    against: str | None = Field(None, pattern=ID_PATTERN, description="a version of the same project (else 404); "
                                                                       "an empty `?against=` is a 422")


class RequirementChange(ORM):
    uid: str
    before: RequirementOut
    after: RequirementOut


class SuspectTest(ORM):
    tc_id: str = Field(description="a test case of the project's test_cases artifacts")
    req_uids: list[str] = Field(description="the changed requirements it refers to without their new fingerprint")


class DocumentDiff(ORM):
    """Requirements added, changed (same uid, other fingerprint) and removed between two versions."""

    from_version_id: str | None = Field(description="null when there is no earlier version: everything is added")
    to_version_id: str
    added: list[RequirementOut]
    changed: list[RequirementChange]
    removed: list[RequirementOut]
    unchanged_count: int
    suspect_tests: list[SuspectTest] = Field(description="tests to review: they refer to a changed requirement")
