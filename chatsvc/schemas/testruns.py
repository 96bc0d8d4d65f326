"""Test runs: the JUnit import's body and answer (the content model is chatsvc.schemas.artifacts.TestRunContent)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.schemas.common import ID_PATTERN, Request, storable
from chatsvc.schemas.documents import ExactText

MAX_JUNIT_BYTES = 2 * 1024 * 1024


class JUnitImport(Request):
    """A JUnit XML report to record as a `test_run` artifact."""

    content: ExactText = Field(min_length=1, description="the report's XML text, at most 2 MiB of UTF-8 (413 beyond)")
    name: str | None = Field(None, min_length=1, max_length=300, pattern=r"\S", description="defaults to 'JUnit run'")
    document_version_id: str | None = Field(None, pattern=ID_PATTERN,
                                            description="the document version the run tested (same project)")

    check_text = field_validator("content", "name")(storable)


class UnmatchedTestcase(BaseModel):
    testcase: str = Field(description="classname.name of the JUnit testcase")
    reason: str


class RunSummary(BaseModel):
    results: int = Field(description="testcases recorded (matched to a test case)")
    passed: int
    failed: int
    skipped: int
    unmatched: list[UnmatchedTestcase] = Field(description="testcases not recorded, and why (at most 200)")
    unmatched_count: int


class TestRunImportOut(ArtifactOut):
    """The created `test_run` artifact and what the import did."""

    __test__ = False  # not a pytest class

    import_summary: RunSummary
