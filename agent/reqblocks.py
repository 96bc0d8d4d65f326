"""Document structure: text turned into blocks (headings, paragraphs, list items, table headers and rows).

The rules are the "Structure" part of agent/requirements.py's docstring: Markdown (ATX and setext headings,
fences, indented code, block quotes, lists, tables with or without outer pipes) and plain text (numbered or
RFC-style headings standing alone, figures indented 7+ columns, page furniture skipped). Fenced code, HTML
comments and YAML front matter are dropped here. A block records what later rules need: its indent, whether a
blank line precedes it, a leading id, a row's cells, table and id. Every pattern has bounded repeats: linear on
hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.reqids import cell_id, lead_id, tag_id
from agent.reqmodality import MODAL
from agent.reqtables import Table, field_id, is_delimiter, row_id, split_cells

_QUOTE_MARK = re.compile(r"^\s{0,3}(?:>\s?)+")
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:\s|$)")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_SETEXT_EQ = re.compile(r"^\s{0,3}={3,}\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^(\s*)(?:[-*+\u2022]|o(?=\s)|\d{1,9}[.)]|\d{1,3}(?:\.\d{1,3}){1,6}\.?(?=\s+[A-Z(\"']))"
                   r"\s+(?:\[[ xX]\]\s+)?(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_NUMBERED_HEADING = re.compile(
    r"(?:(?P<num>\d{1,3}(?:\.\d{1,3}){0,6})\.?|(?:Appendix|Annex)\s+(?P<app>[A-Z](?:\.\d{1,3}){0,6})\.?"
    r"|(?P<let>[A-Z](?:\.\d{1,3}){1,6})\.?)(?:\s+(?P<title>\S.{0,150}))?")
_MONTH_YEAR = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|November|"
                         r"December)\s+\d{4}$")


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """Remove HTML comments from a line; return the rest and whether a comment is still open."""
    kept: list[str] = []
    pos = 0
    while pos <= len(line):
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                break
            pos, in_comment = end + 3, False
        else:
            start = line.find("<!--", pos)
            kept.append(line[pos:] if start < 0 else line[pos:start])
            if start < 0:
                break
            pos, in_comment = start + 4, True
    return "".join(kept), in_comment


@dataclass
class Block:
    """One structural unit of the document."""

    kind: str  # heading | para | item | row | header
    text: str
    level: int = 0  # heading level
    indent: int = 0  # column of the list marker or of the paragraph's first line
    tight: bool = False  # no blank line between this block and the one before
    cells: list[str] = field(default_factory=list)
    table: Table | None = None
    lead: tuple[str, str] | None = None  # (id, rest) when the block starts with an id (or an id field)
    plain_lead: bool = True  # the lead comes from lead_id on the block's text, not from an id field
    ident: str | None = None  # a row's id


def _lines(text: str) -> list[str]:
    """Normalise line ends, tabs and form feeds; drop YAML front matter."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "").expandtabs(4).split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                return lines[end + 1:]
    return lines


def _is_plain(lines: list[str]) -> bool:
    """Say whether a document is plain text: no `#` heading and no code fence."""
    return not any(_ATX.match(line) or _FENCE.match(line) or _SETEXT_EQ.match(line) for line in lines)


def _indented_body(lines: list[str]) -> bool:
    """Say whether most text lines are indented by 2 to 8 columns (RFC layout)."""
    text = [line for line in lines if line.strip()]
    indented = sum(1 for line in text if 2 <= len(line) - len(line.lstrip(" ")) <= 8)
    return bool(text) and indented * 2 > len(text)


def _page_furniture(line: str) -> bool:
    """Say whether a plain-text line is a page footer or running header (`... [Page 3]`, `RFC ...  May 2026`)."""
    stripped = line.strip()
    if re.search(r"\[Page \d{1,5}\]$", stripped):
        return True
    return not line.startswith(" ") and len(re.split(r" {3,}", stripped)) >= 3 and bool(_MONTH_YEAR.search(stripped))


def _plain_heading(stripped: str, indent: int, indented_body: bool) -> tuple[int, str] | None:
    """Return (level, text) when a standalone plain-text line is a heading (module docstring)."""
    if indent > 3 or len(stripped) > 160:
        return None
    text = " ".join(stripped.split())
    numbered = _NUMBERED_HEADING.fullmatch(text)
    if numbered is not None:
        title = numbered.group("title") or ""
        if not title and numbered.group("app") is None:
            return None
        number = numbered.group("num") or numbered.group("let") or ""
        level = number.count(".") + 1 if number else (numbered.group("app") or "").count(".") + 1
    elif indented_body and indent == 0:
        title, level = text, 1
    else:
        return None
    if title and (not title[0].isupper() or len(title.split()) > 12 or title[-1] in ".,;:!?"
                  or MODAL.search(title)):
        return None
    return level, text


class _BlockReader:
    """Split a document into blocks, line by line (see the module docstring for what each line becomes)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.plain = _is_plain(lines)
        self.indented_body = self.plain and _indented_body(lines)
        self.code_indent = 7 if self.plain else 4
        self.blocks: list[Block] = []
        self.current: list[str] = []
        self.kind = ""
        self.indent = 0
        self.tight = False
        self.table: Table | None = None
        self.in_table = False
        self.current_lead: tuple[str, str] | None = None  # the open paragraph's leading id

    def flush(self) -> None:
        """Close the paragraph or list item being collected."""
        if self.current:
            text = "\n".join(self.current)
            lead = lead_id(" ".join(text.split()))
            plain_lead = lead is not None
            if lead is None and (field := field_id(self.current[0])) and (ident := cell_id(field, True)) == field:
                lead = (ident, "")
            self.blocks.append(Block(self.kind, text, indent=self.indent, tight=self.tight, lead=lead,
                                     plain_lead=plain_lead))
        self.current, self.kind = [], ""

    def start(self, kind: str, text: str, indent: int, tight: bool) -> None:
        """Open a new paragraph or list item."""
        self.flush()
        self.current, self.kind, self.indent, self.tight = [text], kind, indent, tight
        self.current_lead = lead_id(text.strip()) if kind == "para" else None

    def read(self) -> list[Block]:
        """Return the blocks of the document."""
        fence = ""
        in_comment = in_code = in_list = False
        blank_before = True
        for i, raw in enumerate(self.lines):
            if fence:
                if raw.strip().startswith(fence) and set(raw.strip()) == {fence[0]}:
                    fence = ""
                continue
            raw, in_comment = _strip_comments(raw, in_comment)
            if self.plain and _page_furniture(raw):
                continue
            indent = len(raw) - len(raw.lstrip(" "))
            indented = indent >= self.code_indent
            if in_code and (indented or not raw.strip()):
                continue
            in_code = False
            if blank_before and indented and raw.strip() and not in_list:
                in_code = True  # an indented code block (a figure in plain text)
                continue
            if blank_before and raw.strip() and not indented and not _ITEM.match(raw):
                in_list = False
            fence_match = _FENCE.match(raw)
            if fence_match:
                self.flush()
                fence, in_list = fence_match.group(1), False
                continue
            tight = not blank_before
            blank_before = not raw.strip()
            in_list = self.line(raw, i, tight, in_list)
        self.flush()
        return self.blocks

    def line(self, raw: str, i: int, tight: bool, in_list: bool) -> bool:
        """Read one line that is not code; return whether a list is open."""
        line = _QUOTE_MARK.sub("", raw) if ">" in raw else raw
        stripped = line.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if not stripped:
            self.flush()
            self.table, self.in_table = None, False
            return in_list
        if self.table_line(stripped, i, indent, tight):
            return in_list
        heading = _ATX.match(line)
        if heading:
            self.flush()
            self.blocks.append(Block("heading", line[heading.end():].strip().rstrip("#").rstrip(),
                                     level=len(heading.group(1))))
            return in_list
        setext = _SETEXT.match(line)
        if setext and self.kind == "para" and len(self.current) == 1:
            self.blocks.append(Block("heading", self.current[0].strip(), level=1 if setext.group(1)[0] == "=" else 2))
            self.current, self.kind = [], ""
            return in_list
        if _RULE.match(line):
            self.flush()
            return in_list
        if self.plain and not tight and (i + 1 >= len(self.lines) or not self.lines[i + 1].strip()):
            plain_heading = _plain_heading(stripped, indent, self.indented_body)
            if plain_heading is not None:
                self.flush()
                self.blocks.append(Block("heading", plain_heading[1], level=plain_heading[0]))
                return in_list
        item = _ITEM.match(line)
        if item:
            self.start("item", item.group(2), len(item.group(1)), tight)
            return True
        if self.current and lead_id(stripped) is None and not self.other_tag(stripped):
            self.current.append(stripped)
        else:
            self.start("para", stripped, indent, tight)
        return in_list

    def other_tag(self, stripped: str) -> bool:
        """Say whether a line tags another id than the explicit block it would continue."""
        if self.kind != "para" or not self.current or self.current_lead is None:
            return False
        tag = tag_id(stripped)
        return tag is not None and tag[0] != self.current_lead[0]

    def table_line(self, stripped: str, i: int, indent: int, tight: bool) -> bool:
        """Read a table header, delimiter or row; return False when the line is not part of a table."""
        if "|" not in stripped:
            self.table, self.in_table = None, False
            return False
        if is_delimiter(stripped):
            if self.in_table or stripped.startswith("|"):
                self.in_table = True
                return True
            return False
        header = i + 1 < len(self.lines) and is_delimiter(self.lines[i + 1])
        if not (header or self.in_table or stripped.startswith("|")):
            return False
        self.flush()
        cells = split_cells(stripped)
        if header:
            self.table, self.in_table = Table.from_header(cells), True
            self.blocks.append(Block("header", stripped, indent=indent, tight=tight, cells=cells, table=self.table))
        else:
            self.blocks.append(Block("row", stripped, indent=indent, tight=tight, cells=cells, table=self.table,
                                     ident=row_id(cells, self.table)))
        return True


def read_blocks(text: str) -> list[Block]:
    """Return the blocks of a Markdown or plain-text document, in order."""
    return _BlockReader(_lines(text)).read()
