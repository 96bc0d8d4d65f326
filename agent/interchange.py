"""Test-suite interchange: import TestRail, Xray and Zephyr Scale CSV and Gherkin `.feature` files as test cases
(DESIGN §9), and export test cases in the same shapes. Pure functions over text and plain data, no I/O: callers
run them in the cpu executor. Gherkin syntax is agent.gherkin's; coverage reports are agent.coverage_export's.

Detection (no format given): a `.feature` file name, or a first meaningful line `Feature:`, is Gherkin; else
the text is CSV and its header row decides (agent.suite_csv, which also says how rows become cases and steps).

Fields of a case:
- id: the suite's own id (column, or Gherkin tag `@id:X`, `@tc:X`, `@TEST_X`, `@TC-...`; the n-th row of a
  Scenario Outline's Examples gets `X-n`) when it matches ID_PATTERN and no earlier case has it; otherwise
  `TC-` + 10 hex digits of SHA-256(format, id, title, n), the same on every import of the file (a warning
  names a replaced id).
- title: required; a case without one is skipped with its reason.
- priority: the first word known to PRIORITY_WORDS (Critical, Blocker, High, Must, P0, P1 -> high; Medium,
  Normal, P2 -> medium; Low, Minor, Trivial, P3... -> low); empty -> medium; unknown -> medium, a warning.
- type: the first word known to TYPE_WORDS (Negative, Destructive -> negative; Boundary, Edge, Limit, BVA ->
  boundary) in Type or Labels (Gherkin: tags), else functional.
- requirement_uids: References (TestRail), Requirement / Tests / Links (Xray), Coverage (Issues) (Zephyr),
  split on commas, semicolons and blanks; Gherkin tags `@req:X`, `@REQ_X`, or any id-like tag (capital
  first, a digit somewhere: `@REQ-12`, `@FR-1.2`, `@U1`). Duplicates removed, order kept; a uid over 64
  characters is dropped with a warning. `links` stay empty (a file carries no fingerprints).
- steps: CSV as agent.suite_csv reads them; Gherkin as agent.gherkin maps Given/When/Then.
- expected_result: TestRail `Expected Result`, Xray `Expected Result` (when `Result` holds the steps'), Zephyr
  `Objective`; where the file has no such column, the last step's expected result.
- section: TestRail Section, Xray Test Repository Path, Zephyr Folder, Gherkin Feature / Rule: kept in the
  artifact's top-level `sections` ({case id: section}), which the CSV exports write back.
Limits: text fields are cut at the schema's lengths (a warning); a case with over 200 steps is skipped;
over 200 requirement uids keeps the first 200 (a warning); over 5000 cases, or none, refuses the file.

Export: CSV as agent.suite_csv writes it (with the CSV-injection guard), `sections` written back; Gherkin with
tags `@id:<id>`, each requirement uid as `@UID` when it reads back as one (else `@req:UID`), `@high|@medium|@low`
and `@negative|@boundary`. Importing an export gives the same cases (`links` aside); Gherkin's two
inexpressible cases are in agent.gherkin's docstring.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from agent.gherkin import GherkinError, Scenario, format_feature, looks_like_gherkin, parse_feature
from agent.suite_csv import csv_drafts, detect_csv, export_csv, read_csv
from agent.suites import MAX_CASES, MAX_STEPS, MAX_UIDS, Draft, ImportProblem, Notes

__all__ = ["CASE_FORMATS", "ImportProblem", "ImportResult", "export_cases", "import_suite"]

CASE_FORMATS = ("testrail", "xray", "zephyr", "gherkin")
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
LIMITS = {"title": 500, "text": 5000, "uid": 64}
PRIORITY_WORDS = {
    **dict.fromkeys(("critical", "blocker", "highest", "high", "urgent", "must", "major", "p0", "p1"), "high"),
    **dict.fromkeys(("medium", "normal", "moderate", "should", "p2"), "medium"),
    **dict.fromkeys(("low", "lowest", "minor", "trivial", "could", "p3", "p4", "p5"), "low"),
}
TYPE_WORDS = {**dict.fromkeys(("negative", "destructive"), "negative"),
              **dict.fromkeys(("boundary", "edge", "limit", "limits", "bva"), "boundary")}
_ID_RE = re.compile(ID_PATTERN)
_REQ_TAG_RE = re.compile(r"[A-Z][A-Z0-9]*(?:[-_.][A-Za-z0-9]+)*")
_WORD_RE = re.compile(r"[a-z]+[0-9]*|[0-9]+")


@dataclass
class ImportResult:
    """The imported cases, their sections, and what happened on the way."""

    format: str
    detected: bool
    cases: list[dict[str, Any]]
    sections: dict[str, str]
    found: int
    notes: Notes

    def content(self, filename: str | None) -> dict[str, Any]:
        """The `test_cases` artifact content: the cases plus where they came from."""
        content: dict[str, Any] = {"test_cases": self.cases,
                                   "imported_from": {"format": self.format, "filename": filename}}
        if self.sections:
            content["sections"] = self.sections
        return content

    def summary(self, filename: str | None) -> dict[str, Any]:
        """What the import did, for the client: counts, skipped cases and warnings."""
        notes = self.notes
        return {"format": self.format, "detected": self.detected, "filename": filename, "found": self.found,
                "imported": len(self.cases), "skipped_count": notes.skipped_count, "skipped": notes.skipped,
                "warning_count": notes.warning_count, "warnings": notes.warnings}


def import_suite(text: str, fmt: str | None = None, filename: str | None = None) -> ImportResult:
    """Read a test suite (format given or detected) into schema-valid test cases; ImportProblem if impossible."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportProblem("The file is empty.")
    notes = Notes()
    detected = fmt is None
    if fmt == "gherkin" or (fmt is None and ((filename or "").lower().endswith(".feature")
                                             or looks_like_gherkin(text))):
        fmt, drafts = "gherkin", _gherkin_drafts(text, notes)
    else:
        header, rows = read_csv(text)
        fmt = fmt or detect_csv(header)
        drafts = csv_drafts(fmt, header, rows, notes)
    cases, sections = build_cases(fmt, drafts, notes)
    return ImportResult(format=fmt, detected=detected, cases=cases, sections=sections, found=len(drafts),
                        notes=notes)


# -- Gherkin -------------------------------------------------------------------------------------------------------


def _gherkin_drafts(text: str, notes: Notes) -> list[Draft]:
    try:
        scenarios, problems = parse_feature(text, MAX_CASES)
    except GherkinError as exc:
        raise ImportProblem(str(exc)) from None
    for line, message in problems:
        notes.warn(f"line {line}", message)
    return [_scenario_draft(s) for s in scenarios]


def is_requirement_tag(tag: str) -> bool:
    """Whether a bare tag names a requirement: capital first, a digit somewhere (`REQ-12`, `FR-1.2`, `U1`)."""
    return (len(tag) <= LIMITS["uid"] and any(ch.isdigit() for ch in tag) and not tag.upper().startswith("TC-")
            and tag.lower() not in PRIORITY_WORDS and _REQ_TAG_RE.fullmatch(tag) is not None)


def _scenario_draft(scenario: Scenario) -> Draft:
    """A draft from a scenario: its tags give the id, requirements, priority and type (module rules)."""
    draft = Draft(where=f"line {scenario.line}", source_id="", title=scenario.name,
                  preconditions=scenario.preconditions, steps=[[a, e] for a, e in scenario.steps],
                  expected=scenario.expected_result, section=scenario.section)
    for tag in scenario.tags:
        key, colon, value = tag.partition(":")
        key = key.lower() if colon else ""
        if key in ("id", "tc") or tag.startswith("TEST_") or tag.upper().startswith("TC-"):
            draft.source_id = draft.source_id or (value if colon else tag.removeprefix("TEST_"))
        elif key in ("req", "requirement") or tag.startswith("REQ_"):
            draft.refs.append(value if colon else tag.removeprefix("REQ_"))
        elif key == "priority" or (not colon and tag.lower() in PRIORITY_WORDS):
            draft.priority = draft.priority or (value if colon else tag)
        elif key == "type" or (not colon and tag.lower() in TYPE_WORDS):
            draft.kind = draft.kind or (value if colon else tag)
        elif is_requirement_tag(tag):
            draft.refs.append(tag)
    if draft.source_id and scenario.example:
        draft.source_id += f"-{scenario.example}"
    return draft


# -- drafts to cases -----------------------------------------------------------------------------------------------


def build_cases(fmt: str, drafts: list[Draft], notes: Notes) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Map drafts to schema-valid cases (module rules); ImportProblem when none or too many remain."""
    cases: list[dict[str, Any]] = []
    sections: dict[str, str] = {}
    ids = _Ids(fmt)
    for draft in drafts:
        case = _case(draft, ids, notes)
        if case is None:
            continue
        cases.append(case)
        if draft.section:
            sections[case["id"]] = _clip(draft.section, LIMITS["text"], "section", draft.where, notes)
    if len(cases) > MAX_CASES:
        raise ImportProblem(f"The file holds {len(cases)} test cases; an artifact holds at most {MAX_CASES}: "
                            "split the file.")
    if not cases:
        details = [{"where": s["where"], "reason": s["reason"]} for s in notes.skipped]
        raise ImportProblem("The file holds no test case that could be imported.", details)
    return cases, sections


def _case(draft: Draft, ids: _Ids, notes: Notes) -> dict[str, Any] | None:
    where = draft.where
    if not draft.title:
        notes.skip(where, "The test case has no title.", draft.source_id)
        return None
    if len(draft.steps) > MAX_STEPS:
        notes.skip(where, f"The test case has {len(draft.steps)} steps; at most {MAX_STEPS} are allowed.",
                   draft.source_id)
        return None
    text = LIMITS["text"]
    steps = [{"action": _clip(a, text, "step action", where, notes), "expected": _clip(e, text, "expected result",
                                                                                     where, notes)}
             for a, e in draft.steps]
    expected = draft.expected if draft.expected is not None else (steps[-1]["expected"] if steps else "")
    return {
        "id": ids.allocate(draft, notes),
        "title": _clip(draft.title, LIMITS["title"], "title", where, notes),
        "preconditions": _clip(draft.preconditions, text, "preconditions", where, notes),
        "steps": steps,
        "expected_result": _clip(expected, text, "expected result", where, notes),
        "priority": priority_of(draft.priority, where, notes),
        "type": type_of(draft.kind),
        "requirement_uids": _uids(draft.refs, where, notes),
        "links": [],
    }


def _clip(text: str, limit: int, what: str, where: str, notes: Notes) -> str:
    if len(text) <= limit:
        return text
    notes.warn(where, f"The {what} was cut to {limit} characters (it had {len(text)}).")
    return text[:limit - 3] + "..."


class _Ids:
    """Hands out case ids: the suite's own when valid and new, else a stable `TC-` hash (module rules)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.used: set[str] = set()
        self.salts: dict[tuple[str, str], int] = {}  # next salt per (id, title): many equal ones stay linear

    def allocate(self, draft: Draft, notes: Notes) -> str:
        sid = draft.source_id
        if sid and _ID_RE.fullmatch(sid) and sid not in self.used:
            self.used.add(sid)
            return sid
        why = "is used by an earlier case" if sid in self.used else "is not a valid test case id"
        key = (sid, draft.title)
        salt = self.salts.get(key, 0)
        while True:
            made = "TC-" + hashlib.sha256(f"{self.fmt}|{sid}|{draft.title}|{salt}".encode()).hexdigest()[:10].upper()
            salt += 1
            if made not in self.used:
                break
        self.salts[key] = salt
        self.used.add(made)
        if sid:
            notes.warn(draft.where, f"The id {sid[:80]!r} {why}; the case's id is {made}.")
        return made


def priority_of(raw: str, where: str, notes: Notes) -> str:
    """high, medium or low from a priority word (module rules)."""
    for word in _WORD_RE.findall(raw.lower()[:200]):
        if word in PRIORITY_WORDS:
            return PRIORITY_WORDS[word]
    if raw.strip():
        notes.warn(where, f"Priority {raw[:40]!r} is not one this service knows; medium is used.")
    return "medium"


def type_of(raw: str) -> str:
    """functional, negative or boundary from a type, labels or tags (module rules)."""
    for word in _WORD_RE.findall(raw.lower()[:500]):
        if word in TYPE_WORDS:
            return TYPE_WORDS[word]
    return "functional"


def _uids(refs: list[str], where: str, notes: Notes) -> list[str]:
    uids: list[str] = []
    for ref in dict.fromkeys(refs):
        if len(ref) > LIMITS["uid"]:
            notes.warn(where, f"The requirement reference {ref[:40]!r}... is over {LIMITS['uid']} characters; "
                              "dropped.")
        elif len(uids) == MAX_UIDS:
            notes.warn(where, f"Only the first {MAX_UIDS} requirement references are kept.")
            break
        else:
            uids.append(ref)
    return uids


# -- export --------------------------------------------------------------------------------------------------------


def export_cases(content: dict[str, Any], fmt: str, name: str) -> str:
    """Write a `test_cases` artifact's content as TestRail, Xray or Zephyr CSV, or a Gherkin feature."""
    cases: list[dict[str, Any]] = list(content.get("test_cases") or [])
    if fmt == "gherkin":
        return format_feature(name, [_scenario_of(case) for case in cases])
    sections = content.get("sections")
    return export_csv(fmt, cases, sections if isinstance(sections, dict) else {})


def _scenario_of(case: dict[str, Any]) -> Scenario:
    """A case as a Gherkin scenario with tags for its id, requirements, priority and type."""
    tags = [f"id:{case['id']}"] if not any(ch.isspace() for ch in case["id"]) else []
    for uid in case["requirement_uids"]:
        if is_requirement_tag(uid):
            tags.append(uid)
        elif not any(ch.isspace() for ch in uid):
            tags.append(f"req:{uid}")
    tags.append(case["priority"])
    if case["type"] != "functional":
        tags.append(case["type"])
    return Scenario(line=0, name=case["title"], section="", tags=tags, preconditions=case["preconditions"],
                    steps=[(s["action"], s["expected"]) for s in case["steps"]],
                    expected_result=case["expected_result"])
