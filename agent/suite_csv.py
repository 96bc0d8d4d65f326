"""The CSV shapes of test-suite interchange: TestRail, Xray and Zephyr Scale, read into drafts and written back.

Pure functions over text; agent.interchange maps drafts to test cases (its docstring has the field rules).

Detection (a CSV with no format given): the header row decides: Zephyr Scale (`Test Script (Step-by-Step) -
...`, `Objective`, `Coverage (Issues)`, or `Key` with `Name`), Xray (`Issue Key`, `Test Key`, `TCID`, `Issue
Id`, or `Summary`), TestRail (`Title`). Anything else is refused (ImportProblem, a 422), naming the columns
seen and those expected.

Reading: UTF-8 with or without BOM; Excel's `sep=;` first line; otherwise the delimiter (`,` `;` tab `|`) most
frequent in the header line outside quotes. Quoted cells may hold delimiters, quotes and line breaks; a
malformed file (a quote never closed, a cell over 128 KiB) is refused with its row. Header names match
COLUMNS case-insensitively, blanks collapsed; each column serves one field (the first field listing it);
columns that serve none are named in the warnings. Cells are trimmed, line breaks become `\\n`, and a cell
starting with `'` before `= + - @`, a tab, a CR or another such `'` loses that one `'` (the export's guard).

Rows: a row continues the case above (adds a step) when its id and title cells are empty, or its id is the
case's own and its title empty or the same (Xray repeats the key on each step row); otherwise it starts a
case. Blank rows are ignored; a step row before any case is skipped with its reason. Step columns give one
step per row; a text Steps column (TestRail's text template, Zephyr's plain-text script) is split at numbered
lines (`1. ...`, `2) ...`); a Data cell joins its action as `Test data: ...`; a step with an expected result
and no action gets the action "(no action given)" and a warning. More than 5000 cases refuse the file early.

Writing: EXPORT_COLUMNS per format, one row per step (the case's fields on its first row; Xray repeats the
key; a case without steps is one row); priorities as High/Medium/Low (Zephyr: Normal for medium); the type in
Type (TestRail) or Labels. CSV-injection guard: a cell starting with `= + - @`, a tab or a CR, or `'` followed
by those, gets a leading `'`. RFC 4180 output: commas, CRLF, quotes where needed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from agent.suites import MAX_CASES, Draft, ImportProblem, Notes

CSV_FORMATS = ("testrail", "xray", "zephyr")
NO_ACTION = "(no action given)"
DATA_PREFIX = "Test data: "
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "testrail": {
        "id": ("id", "case id"), "title": ("title",), "section": ("section", "section hierarchy", "section path"),
        "priority": ("priority",), "type": ("type", "case type"),
        "preconditions": ("preconditions", "precondition", "pre-conditions"),
        "step": ("steps (step)", "step"), "step_expected": ("steps (expected result)", "steps (expected)"),
        "steps_text": ("steps", "steps (text)"), "expected": ("expected result", "expected"),
        "refs": ("references", "refs", "reference"),
    },
    "xray": {
        "id": ("issue key", "test key", "tcid", "issue id", "key", "id"), "title": ("summary", "test summary", "title"),
        "priority": ("priority", "test priority"), "type": ("labels", "label", "type"),
        "section": ("test repository path", "repository path", "folder"),
        "preconditions": ("precondition", "pre-condition", "preconditions", "pre-conditions"),
        "step": ("action", "step", "step action"), "data": ("data", "test data", "step data"),
        "step_expected": ("result", "step result", "expected result"), "expected": ("expected result",),
        "refs": ("requirement", "requirements", "tests", "link tests", 'link "tests"', "links", "covers"),
    },
    "zephyr": {
        "id": ("key", "test case key"), "title": ("name", "test case name", "title"), "expected": ("objective",),
        "preconditions": ("precondition", "preconditions"), "section": ("folder", "folder path"),
        "priority": ("priority",), "type": ("labels", "label", "type"),
        "refs": ("coverage (issues)", "coverage", "issues"),
        "step": ("test script (step-by-step) - step", "test script (step by step) - step", "step"),
        "data": ("test script (step-by-step) - test data", "test script (step by step) - test data", "test data"),
        "step_expected": ("test script (step-by-step) - expected result",
                          "test script (step by step) - expected result", "expected result"),
        "steps_text": ("test script (plain text)", "plain text"),
    },
}
EXPORT_COLUMNS = {
    "testrail": ("ID", "Title", "Section", "Type", "Priority", "References", "Preconditions", "Steps (Step)",
                 "Steps (Expected Result)", "Expected Result"),
    "xray": ("Issue Key", "Summary", "Priority", "Labels", "Test Repository Path", "Precondition", "Requirement",
             "Action", "Data", "Result", "Expected Result"),
    "zephyr": ("Key", "Name", "Objective", "Precondition", "Folder", "Priority", "Labels", "Coverage (Issues)",
               "Test Script (Step-by-Step) - Step", "Test Script (Step-by-Step) - Test Data",
               "Test Script (Step-by-Step) - Expected Result"),
}
PRIORITY_OUT = {"testrail": {"high": "High", "medium": "Medium", "low": "Low"},
                "xray": {"high": "High", "medium": "Medium", "low": "Low"},
                "zephyr": {"high": "High", "medium": "Normal", "low": "Low"}}

_NUMBERED_RE = re.compile(r"[ \t]{0,8}\d{1,3}[.)][ \t]+")
_SEP_LINE_RE = re.compile(r'"?sep=(.)"?[ \t]*', re.I)
_SPLIT_REFS_RE = re.compile(r"[\s,;]+")


def read_csv(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split CSV text into its header and (spreadsheet row number, cells) per later row."""
    first, _, rest = text.partition("\n")
    sep = _SEP_LINE_RE.fullmatch(first.strip())
    offset = 1
    if sep:
        delimiter, text, offset = sep.group(1), rest, 2
    else:
        delimiter = sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for number, cells in enumerate(reader, start=offset):
            records.append((number, cells))
    except csv.Error as exc:
        row = len(records) + offset
        hint = " (a quote that is never closed?)" if "larger than field limit" in str(exc) else ""
        raise ImportProblem(f"Row {row}: the CSV is malformed: {exc}{hint}.") from None
    while records and not any(cell.strip() for cell in records[0][1]):
        records.pop(0)
    if not records:
        raise ImportProblem("The file has no header row.")
    return records[0][1], records[1:]


def sniff_delimiter(line: str) -> str:
    """The candidate delimiter seen most often outside quotes in a header line (`,` on a tie or none)."""
    counts = dict.fromkeys(",;\t|", 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _norm(name: str) -> str:
    return " ".join(name.split()).lower()


def detect_csv(header: list[str]) -> str:
    """Name the CSV shape of a header row, or refuse the file naming the columns it has."""
    names = {_norm(h) for h in header}
    if (any(n.startswith("test script") for n in names) or names & {"objective", "coverage (issues)"}
            or {"key", "name"} <= names):
        return "zephyr"
    if names & {"issue key", "test key", "tcid", "issue id", "summary"}:
        return "xray"
    if "title" in names:
        return "testrail"
    if "name" in names:
        return "zephyr"
    seen = ", ".join(h.strip()[:40] for h in header[:12] if h.strip()) or "none"
    raise ImportProblem(
        "The file is not a test suite this service can read: no TestRail (ID, Title, Steps, Expected Result, "
        "References), Xray (Issue Key, Summary, Action, Data, Result, Requirement), Zephyr Scale (Key, Name, "
        "Objective, Test Script (Step-by-Step) - Step, Coverage (Issues)) or Gherkin (Feature:) header. "
        f"Columns found: {seen}.")


def resolve_columns(fmt: str, header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Map each field of the format to a column index; return that and the names of unused columns."""
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(_norm(name), i)
    fields: dict[str, int] = {}
    used: set[int] = set()
    for name, aliases in COLUMNS[fmt].items():
        for alias in aliases:
            col = index.get(alias)
            if col is not None and col not in used:
                fields[name] = col
                used.add(col)
                break
    unused = [h.strip() for i, h in enumerate(header) if i not in used and h.strip()]
    return fields, unused


def csv_drafts(fmt: str, header: list[str], rows: list[tuple[int, list[str]]], notes: Notes) -> list[Draft]:
    """Group CSV rows into drafts (a case's first row, then its step rows)."""
    cols, unused = resolve_columns(fmt, header)
    if "title" not in cols:
        wanted = " or ".join(a.title() for a in COLUMNS[fmt]["title"])
        raise ImportProblem(f"The {fmt} file has no title column ({wanted}).")
    if unused:
        notes.warn("header", "Columns not imported: " + ", ".join(unused) + ".")
    drafts: list[Draft] = []
    current: Draft | None = None
    titled = 0
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        where = f"row {number}"
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            notes.warn(where, "The row has more cells than the header has columns; the extra cells are ignored.")

        def get(name: str, cells: list[str] = cells) -> str:
            i = cols.get(name)
            return clean_cell(cells[i]) if i is not None and i < len(cells) else ""

        rid, title = get("id"), get("title")
        same_case = rid == current.source_id and title in ("", current.title) if current else False
        if current is not None and ((not rid and not title) or same_case):
            _add_step(current, get("step"), get("data"), get("step_expected"), where, notes)
            continue
        if not rid and not title:
            notes.skip(where, "A step row with no test case before it.")
            continue
        current = _first_row(get, cols, rid, title, where, notes)
        drafts.append(current)
        titled += bool(title)
        if titled > MAX_CASES:
            raise ImportProblem(f"The file holds more than {MAX_CASES} test cases; an artifact holds at most "
                                f"{MAX_CASES}: split the file.")
    return drafts


def _first_row(get: Callable[[str], str], cols: dict[str, int], rid: str, title: str, where: str,
               notes: Notes) -> Draft:
    """Start a draft from a case's first row."""
    draft = Draft(where=where, source_id=rid, title=title, preconditions=get("preconditions"),
                  expected=get("expected") if "expected" in cols else None, priority=get("priority"),
                  kind=get("type"), refs=split_refs(get("refs")), section=get("section"))
    text = get("steps_text")
    if text:
        for action in split_numbered(text):
            _add_step(draft, action, "", "", where, notes)
    _add_step(draft, get("step"), get("data"), get("step_expected"), where, notes)
    return draft


def clean_cell(cell: str) -> str:
    """Trim a cell, normalise its line breaks, and undo the export's CSV-injection guard."""
    cell = cell.replace("\r\n", "\n").replace("\r", "\n").strip()
    if cell.startswith("'") and cell.lstrip("'").startswith(TRIGGERS):
        return cell[1:]
    return cell


def _add_step(draft: Draft, action: str, data: str, expected: str, where: str, notes: Notes) -> None:
    if data:
        action = f"{action}\n{DATA_PREFIX}{data}" if action else f"{DATA_PREFIX}{data}"
    if not action and not expected:
        return
    if not action:
        action = NO_ACTION
        notes.warn(where, f"A step has an expected result but no action; its action reads {NO_ACTION!r}.")
    draft.steps.append([action, expected])


def split_numbered(text: str) -> list[str]:
    """Split a text of numbered lines (`1. ...`, `2) ...`) into steps; unnumbered text is one step."""
    lines = text.split("\n")
    if not any(_NUMBERED_RE.match(line) for line in lines):
        return [text]
    steps: list[str] = []
    for line in lines:
        m = _NUMBERED_RE.match(line)
        if m:
            steps.append(line[m.end():].strip())
        elif steps:
            steps[-1] = (steps[-1] + "\n" + line.strip()).strip()
        elif line.strip():
            steps.append(line.strip())
    return [s for s in steps if s]


def split_refs(text: str) -> list[str]:
    return [ref for ref in _SPLIT_REFS_RE.split(text) if ref]


def guard_cell(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would run as a formula (the CSV-injection guard)."""
    if cell.startswith(TRIGGERS) or (cell.startswith("'") and cell.lstrip("'").startswith(TRIGGERS)):
        return "'" + cell
    return cell


def csv_text(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """Write guarded CSV (RFC 4180: commas, CRLF, quotes where needed)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([guard_cell(h) for h in header])
    writer.writerows([guard_cell(str(cell)) for cell in row] for row in rows)
    return buf.getvalue()


def export_csv(fmt: str, cases: list[dict[str, Any]], sections: dict[str, Any]) -> str:
    """Write test cases (schema-valid dicts) as TestRail, Xray or Zephyr CSV; `sections` maps case id -> section."""
    rows: list[list[str]] = []
    for case in cases:
        section = sections.get(case["id"])
        rows.extend(case_rows(fmt, case, section if isinstance(section, str) else ""))
    return csv_text(EXPORT_COLUMNS[fmt], rows)


def case_rows(fmt: str, case: dict[str, Any], section: str) -> list[list[str]]:
    """One row per step of a case, its own fields on the first row (module rules)."""
    prio = PRIORITY_OUT[fmt][case["priority"]]
    refs = ", ".join(case["requirement_uids"])
    kind = case["type"]
    first: dict[str, str] = {
        "testrail": {"ID": case["id"], "Title": case["title"], "Section": section, "Type": kind.title(),
                     "Priority": prio, "References": refs, "Preconditions": case["preconditions"],
                     "Expected Result": case["expected_result"]},
        "xray": {"Issue Key": case["id"], "Summary": case["title"], "Priority": prio, "Labels": kind,
                 "Test Repository Path": section, "Precondition": case["preconditions"], "Requirement": refs,
                 "Expected Result": case["expected_result"]},
        "zephyr": {"Key": case["id"], "Name": case["title"], "Objective": case["expected_result"],
                   "Precondition": case["preconditions"], "Folder": section, "Priority": prio, "Labels": kind,
                   "Coverage (Issues)": refs},
    }[fmt]
    step_cols = {"testrail": ("Steps (Step)", "Steps (Expected Result)"), "xray": ("Action", "Result"),
                 "zephyr": ("Test Script (Step-by-Step) - Step", "Test Script (Step-by-Step) - Expected Result")}
    action_col, expected_col = step_cols[fmt]
    rows: list[list[str]] = []
    for i, step in enumerate(case["steps"] or [{"action": "", "expected": ""}]):
        cells = dict(first) if i == 0 else ({"Issue Key": case["id"]} if fmt == "xray" else {})
        cells[action_col], cells[expected_col] = step["action"], step["expected"]
        rows.append([cells.get(col, "") for col in EXPORT_COLUMNS[fmt]])
    return rows
