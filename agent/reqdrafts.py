"""Blocks turned into draft requirements: sections, id headings, nested content, table rows and sentences.

The reading rules of agent/requirements.py's docstring that need context across blocks: the nearest heading is
a requirement's section; an id heading gives its id and title to the block under it (or is a group heading);
nested lists, paragraphs, tables and acceptance criteria are appended to the requirement that owns them; a
paragraph is one requirement when it starts with an id, is a user story or a field block, else it is read
sentence by sentence; a table row through its columns. The document's mode (RFC capitals, tagged with ids)
decides which untagged sentences count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.reqblocks import Block
from agent.reqids import STRONG_ID, TAG, TRAILING_ID, lead_id, tag_id, valid_id
from agent.reqmodality import (
    IDS_FOR_TAGGED_MODE,
    PRIORITY_WORDS,
    STORY,
    Mode,
    modality_of,
    uses_rfc_capitals,
)
from agent.reqtables import Table, only_ids, read_fields, row_priority, row_text, row_title
from agent.reqtext import bold_open, clean_markdown, sentences, split_title, strip_meta

SECTION_MAX = 300

_CRITERIA_START = re.compile(r"\W{0,4}(?:acceptance criteria|scenario(?: outline)?\s*:|given)\b", re.IGNORECASE)
_CRITERIA_MORE = re.compile(r"\W{0,4}(?:when|then|and|but)\b", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{1,3}){0,6}\.?\s+")


@dataclass
class Draft:
    """A requirement being read: nested content may still be appended to its statement."""

    uid: str | None
    statement: str  # the requirement's own text (titles come from it)
    section: str
    modality: str
    priority: str | None = None
    title: str | None = None
    indent: int = -1  # the list item's indent; -1 for a paragraph or row
    explicit: bool = False
    story: bool = False
    list_indent: int | None = None  # indent of the first absorbed list item
    criteria: bool = False  # an "Acceptance criteria" label was absorbed
    absorbed: str = ""  # kind of the last absorbed block
    table: Table | None = None
    nested: list[str] = field(default_factory=list)  # appended nested content, each with its separator
    weak: bool = False  # an id heading's id came from a trailing `(ID)`: its block needs a modal verb

    def append(self, piece: str) -> None:
        """Append nested text to the statement, keeping a separator readable."""
        piece = clean_markdown(piece)
        if piece:
            last = self.nested[-1] if self.nested else self.statement
            self.nested.append((" " if last.endswith((".", ":", ";", ",", "!", "?")) else "; ") + piece)

    def text(self) -> str:
        """Return the whole statement: the requirement's own text and its nested content (joined once: linear)."""
        return self.statement + "".join(self.nested)


def document_mode(text: str, blocks: list[Block]) -> Mode:
    """Decide the document's mode: RFC capitals in use, explicit ids in use (module docstring)."""
    ids = 0
    for block in blocks:
        if block.lead is not None or block.ident is not None or (
                block.kind in ("para", "item") and tag_id(block.text) is not None) or (
                block.kind == "heading" and lead_id(_SECTION_NUMBER.sub("", block.text.strip(), count=1))):
            ids += 1
            if ids >= IDS_FOR_TAGGED_MODE:
                break
    return Mode(rfc=uses_rfc_capitals(text), tagged=ids >= IDS_FOR_TAGGED_MODE)


class _Reader:
    """Turn blocks into drafts: sections, id headings, nested content, rows and sentences."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.drafts: list[Draft] = []
        self.headings: list[tuple[int, str]] = []
        self.pending: Draft | None = None  # an id heading waiting for its statement
        self.owner: Draft | None = None  # the requirement nested content would belong to

    def section(self) -> str:
        """Return the nearest heading's text."""
        return self.headings[-1][1] if self.headings else ""

    def feed(self, block: Block) -> None:
        """Read one block."""
        if block.kind == "heading":
            self.owner = None
            self.finish_pending()
            self.heading(block)
            return
        if self.owner is not None and self.absorb(self.owner, block):
            return
        self.owner = None
        if block.kind == "row":
            if block.ident is not None and self.pending is not None:
                self.pending = None  # a group heading over a table of ids
            self.row(block)
        elif block.kind in ("para", "item"):
            if self.pending is not None and self.pending_statement(block):
                return
            self.paragraph(block)

    def heading(self, block: Block) -> None:
        """Open a section; a heading with an id waits for its statement."""
        while self.headings and self.headings[-1][0] >= block.level:
            self.headings.pop()
        text = _SECTION_NUMBER.sub("", block.text.strip(), count=1)
        lead = lead_id(text)
        trailing = TRAILING_ID.fullmatch(text) if lead is None and len(text) <= 300 else None
        if trailing is not None and valid_id(trailing.group(2)):
            lead = (trailing.group(2), trailing.group(1))  # "### Login (FR-4)"
        if lead is not None:
            title, rest = split_title(lead[1])
            self.pending = Draft(lead[0], "", self.section(), "shall", title=title or clean_markdown(rest),
                                 explicit=True, weak=trailing is not None)
        self.headings.append((block.level, clean_markdown(block.text)[:SECTION_MAX]))

    def finish_pending(self) -> None:
        """An id heading without a statement is a requirement whose statement is its title."""
        if self.pending is not None and self.pending.title and not self.pending.weak:
            self.pending.statement = self.pending.title
            self.pending.modality = modality_of(self.pending.title) or "shall"
            self.drafts.append(self.pending)
        self.pending = None

    def pending_statement(self, block: Block) -> bool:
        """Give an id heading its statement; return False when the block belongs to no heading."""
        pending = self.pending
        assert pending is not None
        rest, priority = strip_meta(block.text)
        pending.priority = priority or pending.priority
        if not rest.strip():
            return True
        joined = " ".join(rest.split())
        lead = lead_id(joined)
        self.pending = None
        if lead is not None and lead[0] != pending.uid:
            return False  # a group heading: its children carry their own ids
        statement = lead[1] if lead is not None else joined
        if pending.weak and modality_of(statement) is None and not STORY.match(statement):
            return False  # "## Changes (PR-12)" over prose: a trailing id needs a requirement under it
        self.emit(pending.uid, statement, block, pending.priority, pending.title or None)
        assert self.owner is not None
        self.owner.section = pending.section  # an id heading's requirement lies in the enclosing section
        return True

    def emit(self, uid: str | None, statement: str, block: Block, priority: str | None = None,
             title: str | None = None, modality: str | None = None) -> Draft:
        """Record a requirement read from a block; it becomes the owner of nested content."""
        statement = clean_markdown(statement)
        story = STORY.match(statement) is not None
        if modality is None:
            modality = "shall" if story else (modality_of(statement) or "shall")
        draft = Draft(uid, statement, self.section(), modality, priority, title,
                      indent=block.indent if block.kind == "item" else -1, explicit=uid is not None, story=story)
        self.drafts.append(draft)
        self.owner = draft
        return draft

    def paragraph(self, block: Block) -> None:
        """Read a paragraph or list item: an id or a story makes it one requirement, else sentence by sentence."""
        text, priority = strip_meta(block.text)
        fields = None if block.plain_lead else read_fields(text)
        if fields is not None and fields[1]:
            if fields[0] is not None or modality_of(fields[1], explicit=False, mode=self.mode) is not None:
                self.emit(fields[0], fields[1], block, priority, fields[2])
            return
        joined = " ".join(text.split())
        lead = block.lead if block.plain_lead and text == block.text else lead_id(joined)
        if lead is not None and lead[1].rstrip().endswith("?"):
            return  # "Q1: Can it export?" asks, it does not require
        if lead is not None and (STRONG_ID.fullmatch(lead[0]) or joined.startswith(("**", "__", "["))
                                 or modality_of(lead[1]) is not None or STORY.match(lead[1])):
            title, rest = split_title(lead[1], bold_open(joined, lead[0]))
            if title is not None and title.lower() in PRIORITY_WORDS:
                priority, title = priority or PRIORITY_WORDS[title.lower()], None  # "REQ-1 (High): ..."
            self.emit(lead[0], rest, block, priority, title)
            return
        if STORY.match(clean_markdown(joined)):
            self.emit(None, joined, block, priority)
            return
        owner = None
        for sentence in sentences(joined):
            owner = None
            tag = tag_id(sentence)
            cleaned = clean_markdown(sentence)
            if tag is not None:
                untagged = re.sub(r"\s+([.,;:!?])", r"\1", TAG.sub("", sentence))
                if modality_of(clean_markdown(untagged)) is not None:
                    owner = self.emit(tag[0], untagged, block, priority)
            elif not sentence.rstrip().endswith("?"):
                modality = modality_of(cleaned, explicit=False, mode=self.mode)
                if modality is not None:
                    owner = self.emit(None, sentence, block, priority, modality=modality)
        self.owner = owner  # only a requirement that ends the block can own what follows

    def row(self, block: Block) -> None:
        """Read one table row: an id makes it explicit; else a normative text cell is a generated requirement."""
        cells, table = block.cells, block.table
        if all(not c for c in cells):
            return
        ident = block.ident
        skip = {table.id_col, table.priority_col, table.title_col} if table is not None else set()
        text_cells = [c for i, c in enumerate(cells) if c and i not in skip and c.lower() not in PRIORITY_WORDS
                      and not only_ids(c)]
        statement = ""
        if table is not None and table.text_col is not None and table.text_col < len(cells):
            statement = "" if only_ids(cells[table.text_col]) else cells[table.text_col]
        explicit = ident is not None
        if not statement:
            statement = next((c for c in text_cells if (modality_of(c, explicit=explicit, mode=self.mode)
                                                         or STORY.match(c)) and not c.endswith("?")), "")
        if not statement and explicit:
            statement = max(text_cells, key=len, default="")
        if explicit and len(statement.split()) < 4 and modality_of(statement) is None:
            return  # "| REP-2 | Summary |" is a summary row
        if not statement:
            return
        modality = None
        if not explicit and not STORY.match(statement):
            modality = modality_of(statement, explicit=False, mode=self.mode)
            if modality is None or statement.endswith("?"):
                return
        self.emit(ident, statement, block, row_priority(cells, table), row_title(cells, table), modality)
        self.owner = None  # rows own no nested content

    def absorb(self, owner: Draft, block: Block) -> bool:
        """Append nested content to its owner; return False when the block is not nested (module docstring)."""
        if block.lead is not None or block.ident is not None or (
                block.kind in ("para", "item") and tag_id(block.text) is not None):
            return False
        kind = block.kind
        text = clean_markdown(strip_meta(block.text)[0])
        if (kind == "item" and 0 <= block.indent <= owner.indent) or STORY.match(text):
            return False  # a sibling item or another story
        opens = (owner.absorbed == "" and owner.indent < 0 and kind in ("item", "row", "header")
                 and (owner.statement.endswith(":") or (owner.explicit and block.tight)))
        nested = (
            opens
            or (kind in ("item", "para") and 0 <= owner.indent < block.indent)
            or (kind == "item" and owner.list_indent is not None and block.indent >= owner.list_indent)
            or (kind in ("row", "header") and owner.absorbed in ("row", "header"))
            or (kind in ("para", "item") and _criteria(owner, kind, text))
        )
        if not nested:
            return False
        if kind == "header":
            owner.table = block.table
        elif kind == "row":
            owner.append(row_text(block.cells, owner.table))
        else:
            if kind == "item" and owner.list_indent is None and block.indent > owner.indent:
                owner.list_indent = block.indent
            owner.criteria = owner.criteria or _CRITERIA_START.match(text) is not None
            owner.append(_criteria_lines(strip_meta(block.text)[0]) if owner.criteria else text)
        owner.absorbed = kind
        return True


def _criteria(owner: Draft, kind: str, text: str) -> bool:
    """Say whether a paragraph or item is acceptance criteria of the requirement above it.

    Any requirement takes an "Acceptance criteria:" label; a user story also takes Given/Scenario lines; once
    criteria have started, list items and Given/When/Then/And/But lines follow them.
    """
    if text.lower().startswith("acceptance criteria"):
        return True
    if owner.criteria and (kind == "item" or _CRITERIA_MORE.match(text) is not None):
        return True
    return (owner.story or owner.criteria) and _CRITERIA_START.match(text) is not None


def _criteria_lines(text: str) -> str:
    """Keep Given/When/Then lines apart with '; ' so they do not run into each other."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    out = lines[:1]
    for line in lines[1:]:
        glue = "; " if _CRITERIA_MORE.match(line) or _CRITERIA_START.match(line) else " "
        out.append((glue if not out[-1].endswith((".", ";", ",", ":")) else " ") + line)
    return "".join(out)


def read_drafts(blocks: list[Block], mode: Mode) -> list[Draft]:
    """Return the draft requirements of a document's blocks, in document order."""
    reader = _Reader(mode)
    for block in blocks:
        reader.feed(block)
    reader.finish_pending()
    return reader.drafts
