"""Coverage report export: a `coverage_report` artifact's content (DESIGN §9) as CSV, Markdown or an HTML page.

Pure functions over the validated content, no I/O. CSV: one row per requirement (Requirement, Title, Priority,
Status, Tests), each test as `id (origin)` or `id (inferred 0.42)`, with the CSV-injection guard of
agent.suite_csv. Markdown and HTML: the summary, coverage by priority, the requirement matrix, then the
uncovered requirements, suspect tests (when the report has them), orphan tests and dangling references.
Markdown escapes every character that could start markup, and turns line breaks in cells into spaces; the HTML
page is complete and standalone (inline style, no script, nothing fetched) with every value escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from agent.suite_csv import csv_text

REPORT_FORMATS = ("csv", "markdown", "html")
CSV_HEADER = ("Requirement", "Title", "Priority", "Status", "Tests")
SUMMARY = (("requirements_total", "Requirements"), ("covered", "Covered (explicit links)"),
           ("inferred", "Inferred only"), ("stale", "Stale links only"), ("uncovered", "Uncovered"),
           ("tests_total", "Test cases"), ("orphan_count", "Orphan test cases"))
_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]<>|~&])")
_MD_BLOCK_START_RE = re.compile(r"[#+-]|(\d{1,9})([.)])")
STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;"
         "margin:1rem 0}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;vertical-align:top}"
         "th{background:#f2f2f2}.uncovered{background:#fde2e2}.stale{background:#fff1cc}"
         ".inferred{background:#e8f0fe}.covered{background:#e6f4ea}")


def export_report(content: dict[str, Any], fmt: str, name: str) -> str:
    """Write a coverage report as `csv`, `markdown` or `html` (ValueError for another format)."""
    if fmt == "csv":
        return csv_text(CSV_HEADER, ([row["req_uid"], row["title"], row["priority"], row["status"],
                                      _tests(row["tests"])] for row in content.get("rows", [])))
    if fmt == "markdown":
        return markdown(content, name)
    if fmt == "html":
        return html_page(content, name)
    raise ValueError(f"Unknown report format {fmt!r}.")


def _tests(tests: Iterable[dict[str, Any]]) -> str:
    """`TC-1 (explicit), TC-2 (inferred 0.4213)`."""
    out = []
    for test in tests:
        score = test.get("score")
        extra = f" {score:g}" if test.get("origin") == "inferred" and isinstance(score, int | float) else ""
        out.append(f"{test['tc_id']} ({test['origin']}{extra})")
    return ", ".join(out)


def _summary_rows(content: dict[str, Any]) -> list[tuple[str, str]]:
    summary = content.get("summary", {})
    rows = [(label, str(summary.get(key, 0))) for key, label in SUMMARY]
    rows.append(("Coverage (explicit)", f"{summary.get('coverage_pct', 0)} %"))
    rows.append(("Coverage with inferred links", f"{summary.get('coverage_pct_with_inferred', 0)} %"))
    return rows


def _priority_rows(content: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    by_priority = content.get("by_priority", {})
    return [(p, str(by_priority[p]["total"]), str(by_priority[p]["covered"]), f"{by_priority[p]['pct']} %")
            for p in ("high", "medium", "low") if p in by_priority]


def _lists(content: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The titled id lists after the matrix (suspect tests only when the report carries them)."""
    lists = [("Uncovered requirements", [str(x) for x in content.get("uncovered", [])])]
    if "suspect_tests" in content:
        lists.append(("Suspect test cases (linked only to changed requirements)",
                      [str(x) for x in content.get("suspect_tests") or []]))
    lists.append(("Orphan test cases", [str(x) for x in content.get("orphan_tests", [])]))
    lists.append(("Dangling references", [f"{d['tc_id']} -> {d['ref']}" for d in content.get("dangling_refs", [])]))
    return lists


def _generated(content: dict[str, Any]) -> str:
    version = content.get("document_version_id")
    return f"Generated {content.get('generated_at', '')}" + (f" for document version {version}." if version else ".")


# -- Markdown ------------------------------------------------------------------------------------------------------


def md_escape(text: str, *, block_start: bool = False) -> str:
    """Escape Markdown (and inline HTML) markup in a value; line breaks become spaces. At the start of a list
    item (`block_start`) a leading `#`, `+`, `-` or `1.` would start a block: it is escaped too."""
    escaped = _MD_SPECIAL_RE.sub(r"\\\1", " ".join(str(text).split()))
    m = _MD_BLOCK_START_RE.match(escaped) if block_start else None
    if m is None:
        return escaped
    if m.group(1):
        return f"{m.group(1)}\\{m.group(2)}{escaped[m.end():]}"
    return "\\" + escaped


def _md_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.extend("| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in rows)
    return lines


def markdown(content: dict[str, Any], name: str) -> str:
    """The report as a Markdown document."""
    out = [f"# Coverage report: {md_escape(name)}", "", md_escape(_generated(content)), ""]
    out += _md_table(("Measure", "Value"), _summary_rows(content)) + ["", "## Coverage by priority", ""]
    out += _md_table(("Priority", "Requirements", "Covered", "Coverage"), _priority_rows(content))
    out += ["", "## Requirements", ""]
    out += _md_table(CSV_HEADER, ([r["req_uid"], r["title"], r["priority"], r["status"], _tests(r["tests"])]
                                  for r in content.get("rows", [])))
    for title, items in _lists(content):
        out += ["", f"## {title}", ""]
        out += [f"- {md_escape(item, block_start=True)}" for item in items] or ["None."]
    return "\n".join(out) + "\n"


# -- HTML ----------------------------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: Iterable[str], rows: Iterable[Iterable[str]], status_col: int | None = None) -> list[str]:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = list(row)
        css = f' class="{_e(cells[status_col])}"' if status_col is not None else ""
        out.append(f"<tr{css}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return out


def html_page(content: dict[str, Any], name: str) -> str:
    """The report as a complete, standalone HTML page."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>Coverage report: {_e(name)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>Coverage report: {_e(name)}</h1>", f"<p>{_e(_generated(content))}</p>"]
    out += _html_table(("Measure", "Value"), _summary_rows(content))
    out += ["<h2>Coverage by priority</h2>"]
    out += _html_table(("Priority", "Requirements", "Covered", "Coverage"), _priority_rows(content))
    out += ["<h2>Requirements</h2>"]
    out += _html_table(CSV_HEADER, ([r["req_uid"], r["title"], r["priority"], r["status"], _tests(r["tests"])]
                                    for r in content.get("rows", [])), status_col=3)
    for title, items in _lists(content):
        out.append(f"<h2>{_e(title)}</h2>")
        out.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>" if items else "<p>None.</p>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
