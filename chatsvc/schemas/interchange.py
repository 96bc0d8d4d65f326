"""Test-suite import and export: the import body, the export query, and the import's answer.

The rules of reading and writing each format are agent.interchange's (test cases) and
agent.coverage_export's (coverage reports); these models are the HTTP edge that validates and documents them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chatsvc.schemas.artifacts import ArtifactOut
from chatsvc.schemas.common import ID_PATTERN, NonBlank, Request, exactly_one_of, storable
from chatsvc.schemas.documents import ExactText

CaseFormat = Literal["testrail", "xray", "zephyr", "gherkin"]
ReportFormat = Literal["csv", "markdown", "html"]
# What each export format is served as, and the file name's extension.
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "testrail": ("text/csv", "csv"), "xray": ("text/csv", "csv"), "zephyr": ("text/csv", "csv"),
    "gherkin": ("text/plain", "feature"), "csv": ("text/csv", "csv"), "markdown": ("text/markdown", "md"),
    "html": ("text/html", "html"),
}


class ArtifactImport(Request):
    """A test suite to import as a new `test_cases` artifact: its text (`content`) or an uploaded file (`file_id`)."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of(("content",), ("file_id",)))

    content: ExactText | None = Field(
        None, description="the file's text: CSV or Gherkin, at most 2 MiB of UTF-8 (413 beyond)")
    file_id: str | None = Field(None, pattern=ID_PATTERN,
                                description="a file of this project holding UTF-8 text (else 422)")
    format: CaseFormat | None = Field(None, description="detected from the file name and content when absent")
    filename: NonBlank | None = Field(None, min_length=1, max_length=255,
                                 description="the file's name (a `.feature` name means Gherkin); defaults to "
                                             "the uploaded file's name")
    name: NonBlank | None = Field(None, min_length=1, max_length=300,
                             description="the artifact's name; defaults to the file name")
    document_version_id: str | None = Field(None, pattern=ID_PATTERN,
                                            description="a document version of the same project (else 422)")

    check_text = field_validator("content")(storable)

    @model_validator(mode="after")
    def _one_source(self) -> ArtifactImport:
        if (self.content is None) == (self.file_id is None):
            raise ValueError("Give exactly one of `content` or `file_id`.")
        return self


class ExportQuery(BaseModel):
    """?format= for GET /artifacts/{id}/export; other query parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    format: CaseFormat | ReportFormat = Field(
        description="testrail, xray, zephyr or gherkin for test_cases; csv, markdown or html for coverage_report")


class SkippedCase(BaseModel):
    where: str = Field(description="`row N` (spreadsheet row, the header is row 1) or `line N` (Gherkin)")
    source_id: str = Field(description="the case's id in the file, if it had one")
    reason: str


class ImportWarning(BaseModel):
    where: str = Field(description="`header`, `row N` or `line N`")
    message: str


class ImportSummary(BaseModel):
    """What an import read, kept and skipped; lists hold the first 200, the counts everything."""

    format: CaseFormat
    detected: bool = Field(description="whether the format was detected rather than given")
    filename: str | None
    found: int = Field(description="test cases found in the file")
    imported: int
    skipped_count: int
    skipped: list[SkippedCase]
    warning_count: int
    warnings: list[ImportWarning]


class ArtifactImportOut(ArtifactOut):
    """The created `test_cases` artifact (as POST /projects/{id}/artifacts answers it) and the import summary."""

    import_summary: ImportSummary
