"""Artifact work an agent worker process does for the server: a big create body decoded and checked (job
`artifact_body`), a content replaced (job `artifact_update`: the body checked, compared with the stored content
and, for test cases, each case's revision made), a test suite imported (job `import_suite`) and a JUnit report
recorded as a test run (job `junit`). Exports are agent/jobs.py's `export`.

Each is Python-heavy on big inputs (a 4 MiB body, a 2 MiB CSV of thousands of cases), and Python-heavy work on
a thread of the server process starves its loop through the GIL. The worker runs the server's own functions,
so the answers are those the server would give: the same validation, the same 422 details. Inputs arrive as
spool files; the checked content's JSON text goes to a spool file that the server stores as it is
(storage.rawjson) and answers spliced into the artifact's JSON (chatsvc.views.artifact_response).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from agent import spool
from agent.coverage import merge_test_cases
from agent.interchange import ImportProblem, import_suite
from agent.testruns import JUnitProblem, parse_junit
from chatsvc.bodies import decode_body
from chatsvc.errors import DomainError, ValidationFailed
from chatsvc.schemas.artifacts import ArtifactCreate, ArtifactUpdate, validate_content
from chatsvc.services.case_edits import ROWS_PER_LINE, diff_rows

NO_MATCH = ("No testcase of the report matches a test case of this project (by a test id such as TC-… in its "
            "name, or its title).")
RAW_BODY_BYTES = 64 * 1024  # a create body longer than this is decoded in a worker (~1 ms of decoding here)


def checked_content(artifact_type: str, content: Any) -> Any:
    """The content to store for a type (validate_content), or a 422 located under body.content."""
    try:
        return validate_content(artifact_type, content)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, ("body", "content")) from None
    except ValueError as exc:
        raise ValidationFailed.field(["body", "content"], str(exc)) from None


def _refusal(exc: DomainError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}


def _stored(content: Any, args: dict[str, Any]) -> Any:
    """Write checked content's JSON text to spool file `out`; return the content itself when it is at most
    `embed_limit` characters (events carry it), else None."""
    text = spool.dumps(content)
    spool.write_text(args["out"], [text])
    return content if len(text) <= args["embed_limit"] else None


def create_body(args: dict[str, Any]) -> dict[str, Any]:
    """Job `artifact_body`: the create body in spool file `body`, decoded and checked. Answers the artifact's
    type, name, document_version_id and (when small) content; a refusal answers `{"error": {code, message,
    details}}`, as the server would have refused the body."""
    with open(args["body"], "rb") as fh:
        raw = fh.read()
    try:
        body = decode_body(raw, ArtifactCreate)
        assert isinstance(body, ArtifactCreate)
        content = checked_content(body.type, body.content)
    except DomainError as exc:
        return _refusal(exc)
    return {"type": body.type, "name": body.name, "document_version_id": body.document_version_id,
            "content": _stored(content, args)}


def update_body(args: dict[str, Any]) -> dict[str, Any]:
    """Job `artifact_update`: a PATCH body (spool file `body`) for an artifact of type `type` whose stored
    content is spool file `old`. Without content it answers the name only (`content_given` False). Otherwise the
    content is checked for the type and compared with the stored one: `changed` False when they are equal;
    else its JSON text goes to `out` and, for test cases, the revision rows of the replacement (each case
    created, edited or deleted, from the cases' current `revisions`) to `rows` as JSON lines. A refusal
    answers `{"error": {code, message, details}}`, as the server would have refused the body."""
    with open(args["body"], "rb") as fh:
        raw = fh.read()
    try:
        body = decode_body(raw, ArtifactUpdate)
        assert isinstance(body, ArtifactUpdate)
        if body.content is None:
            return {"name": body.name, "content_given": False}
        content = checked_content(args["type"], body.content)
    except DomainError as exc:
        return _refusal(exc)
    old = json.loads(spool.read_text(args["old"]))
    if content == old:
        return {"name": body.name, "content_given": True, "changed": False}
    rows = diff_rows(old, content, args["revisions"]) if args["type"] == "test_cases" else []
    spool.write_lines(args["rows"], rows, ROWS_PER_LINE)
    return {"name": body.name, "content_given": True, "changed": True, "content": _stored(content, args)}


def imported(args: dict[str, Any]) -> dict[str, Any]:
    """Job `import_suite`: the suite's text in spool file `text` read as `fmt` (None: detected), its cases
    checked as a test_cases content. Answers the format and the import's summary (and the content when small);
    a file that cannot be imported answers `{"problem": {message, details}}` (its row-by-row reasons)."""
    try:
        result = import_suite(spool.read_text(args["text"]), args["fmt"], args["filename"])
    except ImportProblem as exc:
        return {"problem": {"message": str(exc), "details": exc.details}}
    try:
        content = checked_content("test_cases", result.content(args["filename"]))
    except DomainError as exc:
        return _refusal(exc)
    return {"format": result.format, "summary": result.summary(args["filename"]),
            "content": _stored(content, args)}


def junit(args: dict[str, Any]) -> dict[str, Any]:
    """Job `junit`: the JUnit XML report in spool file `report` matched to the test cases of the contents files
    `contents` (oldest artifact first), as a test_run content named `name`. Answers the import's summary (with
    at most `shown` unmatched testcases listed) and the content when small; a report that is not JUnit, or
    that matches no case, is a 422 on body.content."""
    cases = merge_test_cases(json.loads(spool.read_text(path)) for path in args["contents"])
    try:
        results, unmatched = parse_junit(spool.read_text(args["report"]), cases)
        if not results:
            raise ValidationFailed.field(["body", "content"], NO_MATCH)
        content = checked_content("test_run", {"name": args["name"], "results": results})
    except JUnitProblem as exc:
        return _refusal(ValidationFailed.field(["body", "content"], str(exc)))
    except DomainError as exc:
        return _refusal(exc)
    counts = {status: sum(1 for r in results if r["status"] == status) for status in ("passed", "failed", "skipped")}
    summary = {"results": len(results), **counts, "unmatched": unmatched[:args["shown"]],
               "unmatched_count": len(unmatched)}
    return {"summary": summary, "content": _stored(content, args)}
