"""Records with named parts: table rows under a header, and field blocks (`ID: FR-1` / `Description: ...`).

Both name their parts the same way, so one set of header patterns says which column or field holds the id
(`ID`, `#`, `Ref`, `Req ID`, ...), the text (`Requirement`, `Description`, `User Story`, ...), the title
(`Title`, `Name`, ...) and the priority (`Priority`, `MoSCoW`, ...); the rules are the table and field-block
parts of agent/requirements.py's docstring. Every pattern has bounded repeats: linear on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.reqids import ANY_ID, cell_id
from agent.reqmodality import PRIORITY_WORDS
from agent.reqtext import clean_markdown

MAX_CELLS = 64  # table cells read per row

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_IDS_ONLY = re.compile(rf"{ANY_ID}|[\s,;/&]|\band\b")
_FIELD = re.compile(r"([A-Za-z][A-Za-z #./]{0,30}?)\s{0,3}:\s*(.*)")
_CRITERIA_FIELD = re.compile(r"fit criteri(?:on|a)|acceptance(?: criteri(?:on|a))?|verification criteri(?:on|a)",
                             re.IGNORECASE)
_ID_HEAD = re.compile(r"#|no\.?|nr\.?|num(?:ber)?|ids?|uid|key|ref\.?|reference|identifier|tag|code|"
                      r"(?:req(?:uirement)?|story|us|rule|br|item|feature|test)\.?\s*(?:id|#|no\.?|ref|key)",
                      re.IGNORECASE)
_TEXT_HEAD = re.compile(r"requirements?(?: text| statement)?|description|statement|text|rule|(?:user )?story|"
                        r"shall statement|details?|specification", re.IGNORECASE)
_TITLE_HEAD = re.compile(r"title|name|summary|short name|heading|feature|subject|label", re.IGNORECASE)
_PRIORITY_HEAD = re.compile(r"priority|prio|moscow|importance|criticality|rank", re.IGNORECASE)


@dataclass
class Table:
    """A table's header: column names and which column holds the id, text, title and priority."""

    headers: list[str]
    id_col: int | None = None
    text_col: int | None = None
    title_col: int | None = None
    priority_col: int | None = None

    @classmethod
    def from_header(cls, cells: list[str]) -> Table:
        """Name the columns from a header row's cells (the first match of each kind wins)."""
        table = cls(headers=cells)
        for i, cell in enumerate(cells):
            name = cell.strip(" *_:")
            for attr, pattern in (("id_col", _ID_HEAD), ("text_col", _TEXT_HEAD), ("title_col", _TITLE_HEAD),
                                  ("priority_col", _PRIORITY_HEAD)):
                if getattr(table, attr) is None and pattern.fullmatch(name):
                    setattr(table, attr, i)
                    break
        return table


def split_cells(row: str) -> list[str]:
    """Split a table row into cleaned cells (escaped pipes stay in the cell)."""
    return [clean_markdown(c) for c in _CELL_SPLIT.split(row.strip().strip("|"), maxsplit=MAX_CELLS)]


def is_delimiter(line: str) -> bool:
    """Say whether a line is a table's header delimiter (`---|:--:`), with or without outer pipes."""
    stripped = line.strip()
    if "|" not in stripped or "-" not in stripped:
        return False
    cells = stripped.strip("|").split("|", MAX_CELLS)
    return all(re.fullmatch(r"\s{0,50}:?-{1,200}:?\s{0,50}", cell) for cell in cells)


def row_id(cells: list[str], table: Table | None) -> str | None:
    """Return a row's id: the id column's cell, or (without an id column) the first cell with an explicit id."""
    if table is not None and table.id_col is not None:
        return cell_id(cells[table.id_col], True) if table.id_col < len(cells) else None
    return next((ident for c in cells if (ident := cell_id(c, False))), None)


def only_ids(cell: str) -> bool:
    """Say whether a cell lists ids only (a traceability cell), not text."""
    return not _IDS_ONLY.sub("", cell)


def row_text(cells: list[str], table: Table | None) -> str:
    """Render a nested table row for its owner's statement: `Header: cell, ...`."""
    headers = table.headers if table is not None else []
    parts = [f"{headers[i]}: {c}" if i < len(headers) and headers[i] else c for i, c in enumerate(cells) if c]
    return ", ".join(parts)


def row_priority(cells: list[str], table: Table | None) -> str | None:
    """Return the priority a row states: its priority column, else any cell that is a priority word."""
    if table is not None and table.priority_col is not None and table.priority_col < len(cells):
        word = PRIORITY_WORDS.get(cells[table.priority_col].lower().strip(" .*"))
        if word is not None:
            return word
    return next((PRIORITY_WORDS[c.lower()] for c in cells if c.lower() in PRIORITY_WORDS), None)


def row_title(cells: list[str], table: Table | None) -> str | None:
    """Return a row's title cell, when its table has a title column."""
    if table is None or table.title_col is None or table.title_col >= len(cells):
        return None
    return cells[table.title_col] or None


def field_id(first_line: str) -> str | None:
    """Return the value of an id field line (`ID: FR-1`, `Requirement #: 75`), or None for another line."""
    field_match = _FIELD.fullmatch(clean_markdown(first_line))
    if field_match is None or not _ID_HEAD.fullmatch(field_match.group(1).strip()):
        return None
    return field_match.group(2).strip(" .")


def read_fields(text: str) -> tuple[str | None, str, str | None] | None:
    """Read a field block (`ID: FR-1` / `Title: Login` / `Description: The system shall ...`).

    Return (id, statement, title): the id when the id field holds one (`Requirement #: 75` gives None: a
    bare number is not kept as a uid), the text field (Description, Requirement, ...; else the longest other
    field) followed by acceptance criteria or fit criterion fields, and the title field. None unless the first
    line is an id field.
    """
    lines = text.split("\n")
    value = field_id(lines[0]) if lines else None
    if value is None:
        return None
    ident = cell_id(value, True)
    ident = ident if ident == value else None
    fields: list[list[str]] = []
    for line in lines[1:]:
        cleaned = clean_markdown(line)
        field_match = _FIELD.fullmatch(cleaned)
        if field_match is not None:
            fields.append([field_match.group(1).strip(), field_match.group(2)])
        elif fields and cleaned:
            fields[-1][1] = f"{fields[-1][1]} {cleaned}".strip()
    title = next((value for label, value in fields if _TITLE_HEAD.fullmatch(label) and value), None)
    text_fields = [value for label, value in fields if _TEXT_HEAD.fullmatch(label) and value]
    criteria = [value for label, value in fields if _CRITERIA_FIELD.fullmatch(label) and value]
    others = [value for label, value in fields if not _TITLE_HEAD.fullmatch(label) and value]
    statement = text_fields[0] if text_fields else max(others, key=len, default="")
    return ident, " ".join([statement] + [c for c in criteria if c != statement]), title
