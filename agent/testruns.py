"""Test runs: what happened when test cases were executed, recorded by hand or read from JUnit XML.

A `test_run` artifact's content (validated in chatsvc/schemas/artifacts.py):
`{name?, document_version_id?, executed_at?, results: [{tc_id, status, note?, duration_s?}]}` with status
passed | failed | blocked | skipped. Coverage reads the project's latest run: a requirement **verified** has an
explicitly linked, current (not stale) test whose latest result is `passed` — the figure an auditor asks for,
beside "has a test".

JUnit XML (`<testsuites>`/`<testsuite>`/`<testcase name classname time>` with `<failure>`, `<error>`,
`<skipped>`): a testcase maps to a test case by the first `TC-…` (or another known test id) in its name or
classname, else by its name equal to a test case's title (case and spacing ignored). Unmatched testcases are
reported, never silently dropped. The parser is the standard library's expat, which refuses external
entities and bounds entity expansion; documents are size-limited by the caller.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STATUSES = ("passed", "failed", "blocked", "skipped")
MAX_RESULTS = 20_000
_PIECE_RE = re.compile(r"[A-Za-z0-9]+")
MAX_ID_PIECES = 8  # a test id is at most this many letter/digit runs ("FR-2.1-T" is four)


class JUnitProblem(ValueError):
    """The text is not JUnit XML we can read; the message says why."""


def latest_results(contents: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """tc_id -> status from test_run contents, oldest first: a later run's result replaces an earlier one."""
    results: dict[str, str] = {}
    for content in contents:
        for result in content.get("results") or ():
            tc_id, status = str(result.get("tc_id", "")), str(result.get("status", ""))
            if tc_id and status in STATUSES:
                results[tc_id] = status
    return results


def parse_junit(text: str,
                test_cases: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Read JUnit XML against the project's test cases; return (results, unmatched testcases with why)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise JUnitProblem(f"This is not well-formed XML ({exc}).") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitProblem(f"This is not JUnit XML: the root element is <{root.tag}>, not <testsuites> or "
                           "<testsuite>.")
    by_id = {_pieces(str(tc.get("id", ""))): str(tc.get("id", "")) for tc in test_cases if tc.get("id")}
    by_title = {_norm(str(tc.get("title", ""))): str(tc.get("id", "")) for tc in test_cases if tc.get("title")}
    results: list[dict[str, Any]] = []
    unmatched: list[dict[str, str]] = []
    seen: set[str] = set()
    for case in root.iter("testcase"):
        if len(results) + len(unmatched) >= MAX_RESULTS:
            raise JUnitProblem(f"More than {MAX_RESULTS} testcases: split the report.")
        name, classname = case.get("name", ""), case.get("classname", "")
        tc_id = _match(f"{name} {classname}", by_id) or by_title.get(_norm(name))
        label = f"{classname}.{name}" if classname else name
        if tc_id is None:
            unmatched.append({"testcase": label[:300], "reason": "no test case with this id or title"})
            continue
        if tc_id in seen:
            unmatched.append({"testcase": label[:300], "reason": f"a second result for {tc_id} (the first counts)"})
            continue
        seen.add(tc_id)
        results.append(_result(tc_id, case))
    if not results and not unmatched:
        raise JUnitProblem("The report holds no <testcase>.")
    return results, unmatched


def _result(tc_id: str, case: ET.Element) -> dict[str, Any]:
    status, note = "passed", ""
    for child in case:
        if child.tag in ("failure", "error"):
            status, note = "failed", child.get("message") or (child.text or "").strip()
            break
        if child.tag == "skipped":
            status, note = "skipped", child.get("message") or (child.text or "").strip()
    result: dict[str, Any] = {"tc_id": tc_id, "status": status}
    if note:
        result["note"] = note[:2000]
    try:
        seconds = float(case.get("time", ""))
    except ValueError:
        seconds = -1.0
    if 0 <= seconds < 10**9:
        result["duration_s"] = round(seconds, 3)
    return result


def _pieces(text: str) -> tuple[str, ...]:
    return tuple(piece.upper() for piece in _PIECE_RE.findall(text))


def _match(text: str, by_id: Mapping[tuple[str, ...], str]) -> str | None:
    """The first known test id in the text, whatever joins its parts there (`test_TC-LOCK_locks`,
    `x.TC-A1`): every run of up to MAX_ID_PIECES letter/digit runs is looked up, longest first."""
    pieces = _pieces(text)
    for start in range(len(pieces)):
        for end in range(min(len(pieces), start + MAX_ID_PIECES), start, -1):
            found = by_id.get(pieces[start:end])
            if found is not None:
                return found
    return None


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
