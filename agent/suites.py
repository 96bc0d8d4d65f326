"""Shared pieces of test-suite interchange: what a reader produces (Draft), what it reports (Notes), how it
refuses a file (ImportProblem), and the limits. Used by agent.suite_csv, agent.interchange and their callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CASES = 5000  # an artifact's limit (chatsvc.schemas.artifacts.TestCasesContent)
MAX_STEPS = 200
MAX_UIDS = 200
MAX_NOTES = 200  # listed skips and warnings each; the counts say how many there were


class ImportProblem(ValueError):
    """The file as a whole cannot be imported: a sentence for the user and per-problem details."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


@dataclass
class Notes:
    """What the import skipped and warned about; never more than MAX_NOTES listed of each, all counted."""

    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    warning_count: int = 0

    def skip(self, where: str, reason: str, source_id: str = "") -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_NOTES:
            self.skipped.append({"where": where, "source_id": source_id, "reason": reason})

    def warn(self, where: str, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_NOTES:
            self.warnings.append({"where": where, "message": message})


@dataclass
class Draft:
    """One test case as read from the file, before it is mapped to the schema."""

    where: str
    source_id: str
    title: str
    preconditions: str = ""
    steps: list[list[str]] = field(default_factory=list)
    expected: str | None = None  # None: the file has no such column, use the last step's
    priority: str = ""
    kind: str = ""
    refs: list[str] = field(default_factory=list)
    section: str = ""
