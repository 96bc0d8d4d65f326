"""Artifacts: request bodies, queries, the JSON they answer, and the validated content of typed artifacts.

`TestCasesContent` and `CoverageReport` are the contract of DESIGN §9; generation and coverage code build
them (or plain dicts that validate against them). `validate_content(type, content)` is what the REST
handlers apply on create and on every content change.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chatsvc.schemas.common import ID_PATTERN, NO_NUL_PATTERN, ORM, NonBlank, PageQuery, Request

TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
FINGERPRINT_PATTERN = r"^[0-9a-f]{64}$"
Priority = Literal["high", "medium", "low"]
TestResultStatus = Literal["passed", "failed", "blocked", "skipped"]
Uid = str


MAX_DEPTH = 32
# What json_problem allows, as OpenAPI components (the depth limit is not expressed): StorableJson is any such
# value, StorableJsonValue any but null. A field marks itself with STORABLE_JSON_MARK (pydantic cannot hold a
# $ref to a schema it did not make); chatsvc.openapi turns the mark into the reference: "any" or "not_null".
STORABLE_JSON_MARK = "x-storable-json"
STORABLE_JSON_REFS = {"any": "#/components/schemas/StorableJson",
                      "not_null": "#/components/schemas/StorableJsonValue"}
STORABLE_JSON_SCHEMAS: dict[str, dict[str, Any]] = {
    "StorableJson": {
        "description": "Any JSON value without NUL characters in its strings and keys, without NaN or Infinity, "
                       f"nested at most {MAX_DEPTH} levels deep",
        "anyOf": [{"type": "null"}, {"$ref": STORABLE_JSON_REFS["not_null"]}],
    },
    "StorableJsonValue": {
        "description": "A StorableJson value other than null",
        "anyOf": [
            {"type": "string", "pattern": NO_NUL_PATTERN},
            {"type": ["number", "boolean"]},
            {"type": "array", "items": {"$ref": STORABLE_JSON_REFS["any"]}},
            {"type": "object", "propertyNames": {"pattern": NO_NUL_PATTERN},
             "additionalProperties": {"$ref": STORABLE_JSON_REFS["any"]}},
        ],
    },
}


class Strict(BaseModel):
    """Content models refuse unknown fields, so a typo is an error rather than silently ignored data."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def json_problem(value: Any) -> str | None:
    """Say why a decoded JSON value cannot be stored everywhere (PostgreSQL too), or None when it can.

    Refused: nesting deeper than 32, NaN/Infinity, and strings or keys with NUL or lone surrogates.
    Iterative, so hostile nesting cannot exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"The content is nested more than {MAX_DEPTH} levels deep."
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            return "The content must not contain NaN or Infinity."
        elif isinstance(item, str):
            if "\x00" in item:
                return "The content must not contain NUL characters."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "The content is not valid Unicode (lone surrogate)."
    return None


class TestStep(Strict):
    __test__ = False  # not a pytest class
    action: str = Field(min_length=1, max_length=5000)
    expected: str = Field(max_length=5000)


class RequirementLink(Strict):
    req_uid: Uid = Field(min_length=1, max_length=64)
    fingerprint: str | None = Field(None, pattern=FINGERPRINT_PATTERN,
                                    description="the requirement's fingerprint when linked; a different one is stale")
    origin: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="e.g. manual, generated, llm")


class TestCase(Strict):
    __test__ = False
    id: str = Field(min_length=1, max_length=64, description="e.g. TC-1a2b3c4d; unique within the artifact")
    title: str = Field(min_length=1, max_length=500)
    preconditions: str = Field(max_length=5000)
    steps: list[TestStep] = Field(max_length=200)
    expected_result: str = Field(max_length=5000)
    priority: Priority
    type: Literal["functional", "negative", "boundary"]
    requirement_uids: list[Uid] = Field(max_length=200)
    links: list[RequirementLink] = Field(default_factory=list, max_length=200)
    source: Literal["model", "offline"] | None = Field(
        None, exclude_if=lambda value: value is None,
        description="who wrote a generated case: the model, or the offline generator (also as the model's fallback)")
    rejected_uids: list[Uid] = Field(
        default_factory=list, max_length=200, exclude_if=lambda value: not value,
        description="requirements a reviewer said this test does not verify: coverage never infers them")

    @field_validator("requirement_uids")
    @classmethod
    def _uids(cls, value: list[str]) -> list[str]:
        if any(not uid or len(uid) > 64 for uid in value):
            raise ValueError("Each requirement uid must be 1 to 64 characters.")
        return value


class TestCasesContent(BaseModel):
    """Content of a `test_cases` artifact: `{"test_cases": [...]}`; other top-level keys are kept as metadata."""

    __test__ = False
    model_config = ConfigDict(extra="allow")

    test_cases: list[TestCase] = Field(max_length=5000)

    @model_validator(mode="after")
    def _unique_ids(self) -> TestCasesContent:
        seen: set[str] = set()
        for case in self.test_cases:
            if case.id in seen:
                raise ValueError(f"Test case id {case.id!r} is used twice.")
            seen.add(case.id)
        return self


class CoverageSummary(Strict):
    requirements_total: int = Field(ge=0)
    covered: int = Field(ge=0)
    inferred: int = Field(ge=0)
    stale: int = Field(ge=0)
    uncovered: int = Field(ge=0)
    tests_total: int = Field(ge=0)
    orphan_count: int = Field(ge=0)
    coverage_pct: float = Field(ge=0, le=100)
    coverage_pct_with_inferred: float = Field(ge=0, le=100)
    verified: int = Field(0, ge=0, description="requirements with an explicit, current test that passed in the "
                                                "project's latest test runs (0 in a report made before test runs)")
    coverage_pct_verified: float = Field(0.0, ge=0, le=100, description="verified / total × 100")


class CoveringTest(Strict):
    tc_id: str = Field(min_length=1, max_length=64)
    origin: str = Field(min_length=1, max_length=40, description="explicit, inferred or stale")
    score: float | None = None
    result: TestResultStatus | None = Field(None, exclude_if=lambda value: value is None,
                                            description="its latest test-run result (omitted when never run)")


class CoverageRow(Strict):
    req_uid: Uid = Field(min_length=1, max_length=64)
    title: str
    priority: Priority
    status: Literal["covered", "inferred", "stale", "uncovered"]
    tests: list[CoveringTest]
    verified: bool = Field(False, description="an explicit, current test of it passed in the latest test runs")


class TestResult(Strict):
    __test__ = False  # not a pytest class

    tc_id: str = Field(min_length=1, max_length=64)
    status: TestResultStatus
    note: str = Field("", max_length=2000, pattern=r"^[^\x00]*$", exclude_if=lambda value: not value)
    duration_s: float | None = Field(None, ge=0, exclude_if=lambda value: value is None)


class TestRunContent(Strict):
    """Content of a `test_run` artifact: what happened when test cases ran (agent/testruns.py)."""

    __test__ = False

    name: str = Field("", max_length=300, pattern=r"^[^\x00]*$")
    executed_at: dt.datetime | None = None
    results: list[TestResult] = Field(max_length=20_000)


class DanglingRef(Strict):
    tc_id: str = Field(min_length=1, max_length=64)
    ref: str = Field(min_length=1, max_length=64)


class PriorityCoverage(Strict):
    total: int = Field(ge=0)
    covered: int = Field(ge=0)
    pct: float = Field(ge=0, le=100)


class CoverageReport(Strict):
    """Content of a `coverage_report` artifact (DESIGN §9)."""

    summary: CoverageSummary
    rows: list[CoverageRow]
    uncovered: list[Uid]
    orphan_tests: list[str]
    suspect_tests: list[str] = Field(
        default_factory=list, exclude_if=lambda value: not value,  # an older report's content stays as sent
        description="tests whose only links are stale: their requirement changed (omitted when none)")
    dangling_refs: list[DanglingRef]
    by_priority: dict[Priority, PriorityCoverage]
    method: dict[str, Any] = Field(description="algorithm name and thresholds, so the report is reproducible")
    document_version_id: str | None
    generated_at: dt.datetime


CONTENT_MODELS: dict[str, type[BaseModel]] = {"test_cases": TestCasesContent, "coverage_report": CoverageReport,
                                               "test_run": TestRunContent}


def validate_content(artifact_type: str, content: Any) -> Any:
    """Return the content to store for a type: validated and normalised for typed artifacts, as given otherwise.

    Raises ValueError when the JSON cannot be stored (see json_problem), and pydantic's ValidationError
    (locations relative to the content) for bad typed content. CPU-bound on large content: handlers run it
    in the cpu executor.
    """
    problem = json_problem(content)
    if problem:
        raise ValueError(problem)
    model = CONTENT_MODELS.get(artifact_type)
    if model is None:
        return content
    field = SLICED_LISTS.get(model)
    if field is not None and isinstance(content, dict) and isinstance(content.get(field), list) \
            and len(content[field]) > ITEMS_PER_SLICE:
        return _in_slices(model, field, content)
    return model.model_validate(content).model_dump(mode="json")


ITEMS_PER_SLICE = 200
SLICED_LISTS: dict[type[BaseModel], str] = {TestCasesContent: "test_cases", TestRunContent: "results"}


def _in_slices(model: type[BaseModel], field: str, content: dict[str, Any]) -> dict[str, Any]:
    """A large content validated ITEMS_PER_SLICE items of its big list per pydantic call, with the same result
    and the same error locations as one call. Pydantic holds the GIL for a whole call: 5000 test cases took
    ~50 ms on an idle machine and ~0.9 s on a loaded one, all that time on a thread the event loop could not
    run beside (the test suite's loop guard caught it); between slices the loop gets the GIL back."""
    items = content[field]
    limit = next(m.max_length for m in model.model_fields[field].metadata if hasattr(m, "max_length"))
    if len(items) > limit:
        raise ValueError(f"At most {limit} items in {field}; this content has {len(items)}.")
    out: dict[str, Any] | None = None
    errors: list[Any] = []
    for start in range(0, len(items), ITEMS_PER_SLICE):
        try:
            part = model.model_validate({**content, field: items[start:start + ITEMS_PER_SLICE]})
        except ValidationError as exc:
            errors.extend(_shifted(exc, field, start))
            continue
        dumped = part.model_dump(mode="json")
        if out is None:
            out = dumped
        else:
            out[field].extend(dumped[field])
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)
    assert out is not None
    if model is TestCasesContent:  # its check across the whole list (TestCasesContent._unique_ids)
        seen: set[str] = set()
        for case in out[field]:
            if case["id"] in seen:
                raise ValueError(f"Test case id {case['id']!r} is used twice.")
            seen.add(case["id"])
    return out


def _shifted(exc: ValidationError, field: str, start: int) -> list[Any]:
    """A slice's errors with the item indexes of the whole list."""
    details: list[Any] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if len(loc) > 1 and loc[0] == field and isinstance(loc[1], int):
            loc[1] += start
        details.append({key: value for key, value in error.items() if key != "msg"} | {"loc": tuple(loc)})
    return details


class ArtifactCreate(Request):
    type: str = Field(pattern=TYPE_PATTERN,
                      description="test_cases, coverage_report, note, or any [a-z][a-z0-9_]{0,39}")
    name: NonBlank = Field(min_length=1, max_length=300)
    content: Any = Field(description="JSON, not null; validated for test_cases and coverage_report (DESIGN §9)",
                         json_schema_extra={STORABLE_JSON_MARK: "not_null"})
    document_version_id: str | None = Field(None, pattern=ID_PATTERN,
                                            description="a document version of the same project (else 422)")

    @field_validator("content")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("The content must not be null.")
        return value  # checked by validate_content, off the event loop


class ArtifactUpdate(Request):
    """Rename or replace the content (re-validated by the artifact's type); the type never changes."""

    name: NonBlank | None = Field(None, min_length=1, max_length=300)
    content: Any = Field(None, description="JSON; null or absent leaves the content unchanged",
                         json_schema_extra={STORABLE_JSON_MARK: "any"})


class ArtifactQuery(PageQuery):
    """Filters; leave one out for all (an empty `?type=` matches no pattern: a 422, as the schema says)."""

    type: str | None = Field(None, pattern=TYPE_PATTERN)
    document_version_id: str | None = Field(None, pattern=ID_PATTERN)


class ArtifactTypeQuery(PageQuery):
    """?type= narrows the list to one type; leave it out for all (empty is a 422)."""

    type: str | None = Field(None, pattern=TYPE_PATTERN)


class ArtifactOut(ORM):
    id: str
    project_id: str
    document_version_id: str | None
    type: str
    name: str
    content: Any
    created_by: str | None
    task_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def without_content(artifact: Any, **changes: Any) -> ArtifactOut:
    """An artifact (a row read without its content, or an ArtifactOut) with content None and `changes` applied."""
    fields = {name: getattr(artifact, name) for name in ArtifactOut.model_fields if name != "content"}
    return ArtifactOut.model_construct(**{**fields, "content": None, **changes})


def artifact_parts(artifact: Any, **extra: Any) -> tuple[str, str]:
    """An artifact's API JSON (with `extra` fields after its own) as the text before its content's value and the
    text after it: the content goes between as its stored JSON text, never decoded (a suite of thousands of
    cases would hold the loop for tens of ms both ways). `artifact`: a row read without its content, or an
    ArtifactOut."""
    head = json.dumps({**without_content(artifact).model_dump(mode="json"), **extra}, separators=(",", ":"))
    # A string's quotes are escaped in JSON, so `"content":null` occurs once: as the key and its null.
    before, after = head.split('"content":null', 1)
    return before + '"content":', after


def artifact_json(artifact: Any) -> dict[str, Any]:
    """An artifact (ORM row) as its API JSON: the one definition events, REST and tasks share."""
    return ArtifactOut.model_validate(artifact).model_dump(mode="json")
