"""Requirement extraction from Markdown or plain text (DESIGN §9): one pure function, no I/O.

`extract_requirements(text)` returns `{uid, title, statement, modality, priority, section, fingerprint}` dicts
in document order. Rules a client can rely on (tests/corpus/ holds labelled examples of each; `python -m
agent.evaluate` scores them):

Structure
- Blocks are headings, paragraphs, list items, table rows and block quotes; fenced code, HTML comments and YAML
  front matter are ignored; a heading alone is never a requirement.
- Markdown: ATX and setext headings; indented code (4+ columns after a blank line, outside a list) is ignored.
- Plain text (a document without `#` headings or code fences): a line standing alone between blank lines is a
  heading when it is numbered (`3.  Protocol Overview`, `5.4. Fragmentation`, `Appendix A.`, `A.1 Terms`) and
  reads like a title (capitalised, at most 12 words, no modal verb, no final punctuation); level = depth of the
  number. When most lines are indented (RFC layout), an unindented such line is a heading too (`Abstract`).
  Text indented up to 6 columns is a paragraph; 7+ columns after a blank line is a figure (ignored). RFC page
  furniture (`... [Page 3]`, running headers) is skipped.
- List markers `-`, `*`, `+`, `•`, `o` (RFC style), `1.`, `1)` and multi-level numbers (`2.1.3 The ...`) are
  removed. A line starting with `|` is a table row; a line with pipes but without a leading one is one when a
  `---|---` delimiter follows the header. The header row is never a requirement, and it names the columns:
  id (`ID`, `#`, `Ref`, `Req ID`, ...), text (`Requirement`, `Description`, `User Story`, ...), title (`Title`,
  `Name`, ...) and priority (`Priority`, `MoSCoW`, ...).
- Nested content belongs to the requirement above it and is appended to its statement: list items and
  paragraphs indented deeper than a requirement's list item; the list or table right after a requirement that
  ends with ':'; the list or table directly under (no blank line) a requirement with an explicit id; and
  acceptance criteria: an `Acceptance criteria:` label with the list or Given/When/Then lines after it (under any
  requirement), and for a user story also `Given`/`Scenario:` lines without a label. Content with an id of its
  own, a sibling list item and another story are never absorbed.

Ids
- Explicit ids: `REQ-12`, `FR-1.2`, `NFR-PR1`, `ISF-CMDS-001`, `SRS-001`, `R-33`, `BR-3201`, `SYS_REQ_7` (letters,
  then `-`/`_` segments, the last ending in digits, optional `.n` parts) anywhere an id is expected; short ids such
  as `U1`, `S12`, `UC3.1` only where position makes them ids: a table's id column, a line prefix with a separator
  (`U1: ...`, `U1 - ...`) or a bold/bracket tag (`**U1**`, `[U1]`). Never ids: `UTF-8`, `SHA-256`, `AES-256`,
  `COVID-19`, `ISO 9001`, `H2` without separator, versions, dates.
- A block starting with an id (`REQ-1: ...`, `[AUTH-3] ...`, `**SEC-1** ...`, `FR-1.2 The ...`; such a line also
  starts a new block) is one requirement, modal verb or not (a short id as a line prefix needs one; a block that
  ends with '?' is a question, not a requirement). `BR-3201 (Level Progression): ...` and `**FR-1 Login** ...` give
  the title; `REQ-1 (High): ...` gives the priority. In a sentence with a modal verb, a tag `[REQ-7]`, `**REQ-7**`
  or a final `(REQ-7)` defines REQ-7 (a bare `REQ-7` is a reference).
- `## REQ-4: Title` (or `## Title (REQ-4)`, then the block needs a modal verb) gives id and title to the first
  block under it, unless that block (or a table row under it) has an id of its own: then it is a group heading.
- A field block (`ID: FR-1` / `Title: ...` / `Description: ...` / `Fit criterion: ...`, one field a line) is one
  requirement: id, title, the text field and its criteria; with a bare number as id (`Requirement #: 75`) it gets a
  generated uid and needs a modal verb.
- A table row takes its id from the id column (else from a cell holding an explicit id), its statement from the text
  column (else the cell with a modal verb, else the longest cell); a row whose statement has fewer than 4 words and
  no modal verb (a summary) or no statement (traceability) is skipped.
- Other requirements get uid `REQ-` + 8 upper-case hex of SHA-256 over the statement's lower-cased words:
  deterministic, stable under edits elsewhere, never matching the explicit pattern. The same sentence again in
  the same section is skipped; in another section it is kept as `<uid>_2`, `_3`...
- Duplicate explicit ids: the first keeps the id; a repeat with the same statement is skipped, one with a
  different statement is kept as `<ID>_2`, `_3`... (visible, never silently lost).

What is a requirement (sentences without an id)
- A sentence (not a question) with shall/must/should/may (any case), or an upper-case RFC 2119 keyword
  (REQUIRED, RECOMMENDED, OPTIONAL, with NOT), unless one of the rules below makes it descriptive. Modal
  words in quotes (`"shall"`) do not count.
- Descriptive, never a requirement: lower-case "will" (fact or intent: "this section will describe"); a
  sentence whose subject is the document (`This document/section/chapter/specification ...`); lower-case
  "may" in a document that defines 3+ explicit ids (authors tag what they require), and elsewhere "may" after
  we/you/I/they/readers, before a verb of perception or chance (see, notice, find, vary, take, occur, ...) or
  in a sentence about the future ("in the future", "future versions").
- In a document that uses upper-case RFC 2119 keywords (3 or more outside quotes), only upper-case keywords
  are normative in untagged prose (RFC 8174).
- User stories ("As a <role>, I want <goal>[, so that <benefit>]") are requirements, one per block, with their
  acceptance criteria in the statement; modality shall, priority medium unless a Priority is given.

Fields
- Modality: the first counted modal verb, negation kept: shall|must|should|may|will or shall not|must not|
  should not|may not|will not; REQUIRED is must, RECOMMENDED should, OPTIONAL may. An explicit requirement
  counts every modal verb (any case) and is shall without one. Priority: shall/must high, should medium,
  may/will low (a negation has its verb's priority); a `Priority: high|medium|low` line (in the block or
  after an id heading) or a priority cell (also MoSCoW Must/Should/Could/Won't) overrides it.
- Rationale:/Note:/Comment:/Example:/Parent:/Status:/Tags: lines are not normative and are dropped.
- section: the nearest heading (Markdown stripped, whitespace collapsed, <= 300 chars), "" before any. title:
  the table's title cell, the id heading's, parenthesised or bold label, a user story's goal ("Pre-order a
  basket"), the text before ': ' when it is a short label (8 words or fewer, no modal verb), else the
  statement cut at ~80 chars on a word boundary; always from the requirement's own text, not nested content.
  fingerprint: SHA-256 hex of the whitespace-normalised, lower-cased statement (nested content included).
Every pattern is linear-time on hostile input (bounded repeats, no nested scans).

The rules are implemented, one job a module, in agent/reqblocks.py (text to blocks), agent/reqtables.py (tables
and field blocks), agent/reqids.py (ids), agent/reqmodality.py (modal verbs, descriptive sentences, priorities),
agent/reqtext.py (sentences, meta lines, titles) and agent/reqdrafts.py (blocks to draft requirements); this
module keeps the public names and turns drafts into the final list (uids, duplicates, titles, fingerprints).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from agent.reqblocks import Block, read_blocks
from agent.reqdrafts import SECTION_MAX, Draft, document_mode, read_drafts
from agent.reqids import ID, ID_MAX, ID_RE, NOT_IDS, SHORT_ID, lead_id
from agent.reqmodality import (
    IDS_FOR_TAGGED_MODE,
    PRIORITY_OF,
    RFC_KEYWORDS_FOR_RFC_MODE,
    Mode,
    modality_of,
)
from agent.reqtables import MAX_CELLS, Table, read_fields, row_id, row_text, split_cells
from agent.reqtext import TITLE_MAX, clean_markdown, short_title, story_title

__all__ = [
    "ID", "ID_MAX", "ID_RE", "IDS_FOR_TAGGED_MODE", "MAX_CELLS", "NOT_IDS", "PRIORITY_OF", "RFC_KEYWORDS_FOR_RFC_MODE",
    "SECTION_MAX", "SHORT_ID", "TITLE_MAX", "Block", "Draft", "Mode", "Table", "clean_markdown", "document_mode",
    "extract_requirements", "fingerprint", "lead_id", "modality_of", "read_fields", "row_id", "row_text",
    "short_title", "split_cells", "story_title",
]

_WORDS = re.compile(r"[a-z0-9]+")


def fingerprint(statement: str) -> str:
    """Return the SHA-256 hex of the whitespace-normalised, lower-cased statement."""
    return hashlib.sha256(" ".join(statement.split()).lower().encode("utf-8")).hexdigest()


class _Collector:
    """Accumulates requirements, enforcing uid uniqueness and the duplicate rules."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.seen: dict[str, str] = {}  # uid -> fingerprint
        self.placed: set[tuple[str, str]] = set()  # (generated uid, section) already taken

    def add(self, draft: Draft) -> None:
        """Add a finished requirement (or skip it as a repeat)."""
        statement = " ".join(draft.text().split())  # cleaned piece by piece already
        if len(statement) < 3:
            return
        print_ = fingerprint(statement)
        uid = draft.uid
        if uid is None:
            words = " ".join(_WORDS.findall(statement.lower()))
            uid = "REQ-" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:8].upper()
            if (uid, draft.section) in self.placed:
                return  # the same sentence again in the same section
            self.placed.add((uid, draft.section))
        elif self.seen.get(uid) == print_:
            return  # an explicit requirement repeated word for word
        base, n = uid, 1
        while uid in self.seen:
            n += 1
            uid = f"{base}_{n}"
        self.seen[uid] = print_
        default_priority = "medium" if draft.story else PRIORITY_OF[draft.modality.split()[0]]
        title = draft.title or (story_title(statement) if draft.story else None)
        self.items.append({
            "uid": uid, "title": clean_markdown(title) if title else short_title(draft.statement or statement),
            "statement": statement, "modality": draft.modality, "priority": draft.priority or default_priority,
            "section": draft.section, "fingerprint": print_,
        })


def extract_requirements(text: str) -> list[dict[str, Any]]:
    """Extract requirements from Markdown or plain text, in document order (see the module docstring)."""
    blocks = read_blocks(text)
    out = _Collector()
    for draft in read_drafts(blocks, document_mode(text, blocks)):
        out.add(draft)
    return out.items
