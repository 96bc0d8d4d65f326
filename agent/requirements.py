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
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

# An explicit id: letters, optional inner segments, a last segment ending in digits, optional .n parts.
ID = r"[A-Z][A-Z0-9]{0,9}(?:[-_][A-Z][A-Z0-9]{0,9}){0,3}[-_][A-Z0-9]{0,9}\d(?:\.\d{1,4}){0,4}"
SHORT_ID = r"[A-Z]{1,4}\d{1,4}(?:\.\d{1,4}){0,3}"
_ANY_ID = rf"(?:{ID}|{SHORT_ID})"
_END = r"(?![\w-]|\.\d)"
ID_RE = re.compile(rf"(?<![\w.-]){ID}{_END}")
_STRONG_FULL = re.compile(ID)
NOT_IDS = frozenset({"UTF", "UTC", "GMT", "SHA", "MD", "AES", "RSA", "DES", "ISO", "IEC", "IEEE", "RFC", "TLS",
                     "SSL", "HTTP", "HTTPS", "CVE", "CWE", "COVID", "PEP", "ECMA", "WCAG", "OWASP", "IPV", "EN",
                     "EAN", "UPC", "CRC", "WPA", "MPEG", "ISBN", "ISSN", "PBKDF", "ANSI", "NIST", "FIPS", "PCI",
                     "DIN", "BCP", "CCSDS", "NPR", "MIL", "STD", "HL", "SP"})
PRIORITY_OF = {"shall": "high", "must": "high", "should": "medium", "may": "low", "will": "low"}
ID_MAX = 40  # longer "ids" are not ids (the uid column holds 64 characters, with room for a `_n` suffix)
TITLE_MAX = 80
SECTION_MAX = 300
MAX_CELLS = 64  # table cells read per row
IDS_FOR_TAGGED_MODE = 3  # explicit ids that make a document "tagged" (untagged "may" is then descriptive)
RFC_KEYWORDS_FOR_RFC_MODE = 3  # upper-case RFC 2119 keywords that make only upper-case ones normative

_MODAL = re.compile(r"\b(shall|must|should|may|will|required|recommended|optional)\b(\s+not\b)?", re.IGNORECASE)
_RFC_WORD = re.compile(r"(?<![\"'\u201c\u2018\w])(?:MUST|SHALL|SHOULD|MAY|REQUIRED|RECOMMENDED)"
                       r"(?![\"'\u201d\u2019\w])")
_NORMALISED = {"required": "must", "recommended": "should", "optional": "may"}
_QUOTES = "\"'\u201c\u201d\u2018\u2019`"
_DOC_SUBJECT = re.compile(r"\W{0,3}(?:this|the|these)\s+(?:document|section|chapter|specification|spec|appendix|"
                          r"memo|paper|guide|page)s?\b", re.IGNORECASE)
_CHANCE_VERBS = frozenset({"see", "notice", "find", "observe", "experience", "feel", "vary", "differ", "take",
                           "occur", "happen", "appear", "seem", "become", "want", "wish", "like", "prefer", "need",
                           "wonder", "encounter"})
_ADVERBS = frozenset({"also", "still", "typically", "usually", "often", "sometimes", "occasionally", "probably",
                      "possibly", "perhaps", "eventually", "even", "well", "then", "not"})
_PRONOUNS = frozenset({"we", "you", "i", "they", "readers", "reader"})
_FUTURE = re.compile(r"\b(?:in the future|future (?:releases?|versions?))\b", re.IGNORECASE)
_STORY = re.compile(r"\W{0,4}as\s+an?\s+[^,.;\n]{1,80}?,?\s+I\s+(?:want|need|would\s+like|wish|can|expect)\b",
                    re.IGNORECASE)
_STORY_GOAL = re.compile(r"\bI\s+(?:want|need|would\s+like|wish|can|expect)\s+(?:to\s+|that\s+)?"
                         r"([^.;\n]{3,200}?)(?:,?\s+so\s+that\b|[.;]|$)", re.IGNORECASE)
_CRITERIA_START = re.compile(r"\W{0,4}(?:acceptance criteria|scenario(?: outline)?\s*:|given)\b", re.IGNORECASE)
_CRITERIA_MORE = re.compile(r"\W{0,4}(?:when|then|and|but)\b", re.IGNORECASE)
_LEAD = re.compile(
    rf"^(?P<open>\*\*|__|\[)?\s*(?P<id>{_ANY_ID}){_END}\s*(?P<sep>[:.)\-\u2013\u2014])?\s*"
    r"(?P<close>\*\*|__|\])?\s*(?P<sep2>[:.\-\u2013\u2014])?\s*"
)
_TAG = re.compile(rf"\[\s*({_ANY_ID})\s*\](?![(\[])|\*\*\s*({_ANY_ID})\s*:?\s*\*\*|\(\s*({ID})\s*\)(?=\W{{0,3}}$)")
_BOLD_TITLE = re.compile(r"([^*\n]{1,80})\*\*\s*[:.\-\u2013\u2014]?\s*")
_FIELD = re.compile(r"([A-Za-z][A-Za-z #./]{0,30}?)\s{0,3}:\s*(.*)")
_CRITERIA_FIELD = re.compile(r"fit criteri(?:on|a)|acceptance(?: criteri(?:on|a))?|verification criteri(?:on|a)",
                             re.IGNORECASE)
_PAREN_TITLE = re.compile(r"\(([^()\n]{1,80})\)\s*(?:\*\*|__)?\s*[:.\-\u2013\u2014]?\s*")
_TRAILING_ID = re.compile(rf"([^\n]{{1,200}}?)\s*[(\[]\s*({ID})\s*[)\]]")
_LABEL = re.compile(r"([^:\n]{1,80}):\s")
_META = re.compile(r"^\s*(?:\*\*|__)?(priority|rationale|notes?|comment|example|parent|status|tags?)(?:\*\*|__)?"
                   r"\s*:(?:\*\*|__)?\s*(.*)$", re.IGNORECASE)
_PRIORITY_WORDS = {"high": "high", "critical": "high", "p1": "high", "medium": "medium", "normal": "medium",
                   "p2": "medium", "low": "low", "minor": "low", "p3": "low", "must": "high", "must have": "high",
                   "should": "medium", "should have": "medium", "could": "low", "could have": "low",
                   "won't": "low", "won't have": "low", "wont": "low"}
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_LETTERS = re.compile(r"[A-Z]+")
_SECTION_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{1,3}){0,6}\.?\s+")
_STARTS_LIKE_TEXT = re.compile(r"[A-Z(\[\"'*_]")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_QUOTE_MARK = re.compile(r"^\s{0,3}(?:>\s?)+")
_WORDS = re.compile(r"[a-z0-9]+")
_IDS_ONLY = re.compile(rf"{_ANY_ID}|[\s,;/&]|\band\b")
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
_BOUNDARY = re.compile(r"([.!?])([\"')\]]*)\s+(?=[\"'(\[*_]*[A-Z0-9])")
_ABBREV = frozenset({"e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "no", "fig", "mr", "mrs", "ms", "dr",
                     "st", "sec", "min", "max", "resp", "ca", "al", "eg", "ie"})
_UNITS = frozenset({"ms", "min", "sec", "s", "h", "m"})
_ID_HEAD = re.compile(r"#|no\.?|nr\.?|num(?:ber)?|ids?|uid|key|ref\.?|reference|identifier|tag|code|"
                      r"(?:req(?:uirement)?|story|us|rule|br|item|feature|test)\.?\s*(?:id|#|no\.?|ref|key)",
                      re.IGNORECASE)
_TEXT_HEAD = re.compile(r"requirements?(?: text| statement)?|description|statement|text|rule|(?:user )?story|"
                        r"shall statement|details?|specification", re.IGNORECASE)
_TITLE_HEAD = re.compile(r"title|name|summary|short name|heading|feature|subject|label", re.IGNORECASE)
_PRIORITY_HEAD = re.compile(r"priority|prio|moscow|importance|criticality|rank", re.IGNORECASE)


def fingerprint(statement: str) -> str:
    """Return the SHA-256 hex of the whitespace-normalised, lower-cased statement."""
    return hashlib.sha256(" ".join(statement.split()).lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Mode:
    """What the whole document tells about untagged prose: RFC keywords in capitals, explicit ids."""

    rfc: bool = False
    tagged: bool = False


def _descriptive_may(statement: str, match: re.Match[str]) -> bool:
    """Say whether a lower-case "may" states a possibility, not a permission (module docstring)."""
    before = statement[max(0, match.start() - 30):match.start()].lower().split()
    if before and before[-1] in _PRONOUNS:
        return True
    for word in statement[match.end(1):match.end(1) + 60].lower().split():
        word = word.strip(",.;:()")
        if word not in _ADVERBS:
            return word in _CHANCE_VERBS
    return False


def modality_of(statement: str, *, explicit: bool = True, mode: Mode = Mode()) -> str | None:
    """Return the first counted modal verb of a statement (lower case, negation kept), or None.

    With explicit=False the sentence has no id and the descriptive rules of the module docstring apply.
    """
    if not explicit and _DOC_SUBJECT.match(statement):
        return None
    future: bool | None = None  # searched once, on the first lower-case "may" (linear on "may may may ...")
    for match in _MODAL.finditer(statement):
        word = match.group(1)
        lower, upper = word.lower(), word.isupper()
        start, end = match.start(1), match.end(1)
        if (start and statement[start - 1] in _QUOTES) or statement[end:end + 1] in _QUOTES:
            continue  # 'Requirements use "shall" for ...' talks about the word
        if lower in _NORMALISED and not upper:
            continue
        if word == "May" and (re.match(r"\s+\d", statement[end:end + 4]) or
                              re.search(r"\d\s*$", statement[max(0, start - 4):start])):
            continue  # May 2024 is a month
        if not explicit and not upper:
            if mode.rfc or lower == "will":
                continue
            if lower == "may":
                if future is None:
                    future = _FUTURE.search(statement) is not None
                if mode.tagged or future or _descriptive_may(statement, match):
                    continue
        negated = bool(match.group(2)) or (lower == "recommended" and statement[max(0, start - 4):start] == "NOT ")
        base = _NORMALISED.get(lower, lower)
        return f"{base} not" if negated else base
    return None


def clean_markdown(text: str) -> str:
    """Strip inline Markdown (emphasis, code ticks, links, images, <br>) and collapse whitespace."""
    # Bounded repeats: unbalanced brackets in hostile text must not make these quadratic.
    if "](" in text:
        text = re.sub(r"!\[[^\][\n]{0,500}\]\([^()\s]{0,2000}\)", "", text)
        text = re.sub(r"\[([^\][\n]{1,500})\]\([^()\s]{0,2000}\)", r"\1", text)
    if "<" in text:
        text = _BR.sub(" ", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    if "*" in text:
        text = _EMPHASIS.sub(r"\1", text)
    return " ".join(text.split())


def short_title(statement: str) -> str:
    """Return the text before ': ' when it is a short label, else the statement cut to about 80 characters."""
    label = _LABEL.match(statement)
    if label is not None:
        head = label.group(1).strip()
        if head and len(head.split()) <= 8 and modality_of(head) is None and not ID_RE.fullmatch(head):
            return head
    if len(statement) <= TITLE_MAX:
        return statement.rstrip(". :;")
    cut = statement[:TITLE_MAX].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return (cut or statement[:TITLE_MAX]) + "\u2026"


def _valid_id(ident: str) -> bool:
    """Reject names that look like ids (UTF-8, SHA-256, MD5) by their letter prefix, and overlong ones."""
    letters = _LETTERS.match(ident)
    return letters is not None and letters.group(0) not in NOT_IDS and len(ident) <= ID_MAX


def lead_id(text: str) -> tuple[str, str] | None:
    """Return (id, rest) when the text starts with an explicit requirement id, else None."""
    match = _LEAD.match(text)
    if match is None:
        return None
    ident, opened, closed = match.group("id"), match.group("open"), match.group("close")
    if not _valid_id(ident) or (opened and not closed and opened != "**" and opened != "__"):
        return None
    rest = text[match.end():].strip()
    separated = bool(match.group("sep") or match.group("sep2"))
    if not _STRONG_FULL.fullmatch(ident):
        return (ident, rest) if separated or (opened and closed) else None  # "H2 is used" names a thing
    if opened is None and not separated and rest and not _STARTS_LIKE_TEXT.match(rest):
        return None  # "SHA-256 hashes shall..." names a thing; "REQ-1 The system shall..." defines one
    return ident, rest


def _field_id(first_line: str) -> str | None:
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
    value = _field_id(lines[0]) if lines else None
    if value is None:
        return None
    ident = _cell_id(value, True)
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


def _tag_id(sentence: str) -> tuple[str, re.Match[str]] | None:
    """Return the id a `[ID]` or `**ID**` tag in a sentence defines, with the tag match."""
    tag = _TAG.search(sentence)
    if tag is None:
        return None
    ident = tag.group(1) or tag.group(2) or tag.group(3)
    return (ident, tag) if _valid_id(ident) else None


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


# --- tables ---------------------------------------------------------------------------------------------------


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


def _is_delimiter(line: str) -> bool:
    """Say whether a line is a table's header delimiter (`---|:--:`), with or without outer pipes."""
    stripped = line.strip()
    if "|" not in stripped or "-" not in stripped:
        return False
    cells = stripped.strip("|").split("|", MAX_CELLS)
    return all(re.fullmatch(r"\s{0,50}:?-{1,200}:?\s{0,50}", cell) for cell in cells)


def _cell_id(cell: str, short_ok: bool) -> str | None:
    """Return the id a cell holds when the whole cell is one (short ids only where short_ok)."""
    match = re.fullmatch(rf"\W{{0,4}}({_ANY_ID})\W{{0,4}}", cell)
    if match is None or not _valid_id(match.group(1)):
        return None
    return match.group(1) if short_ok or _STRONG_FULL.fullmatch(match.group(1)) else None


def row_id(cells: list[str], table: Table | None) -> str | None:
    """Return a row's id: the id column's cell, or (without an id column) the first cell with an explicit id."""
    if table is not None and table.id_col is not None:
        return _cell_id(cells[table.id_col], True) if table.id_col < len(cells) else None
    return next((ident for c in cells if (ident := _cell_id(c, False))), None)


def _only_ids(cell: str) -> bool:
    """Say whether a cell lists ids only (a traceability cell), not text."""
    return not _IDS_ONLY.sub("", cell)


def row_text(cells: list[str], table: Table | None) -> str:
    """Render a nested table row for its owner's statement: `Header: cell, ...`."""
    headers = table.headers if table is not None else []
    parts = [f"{headers[i]}: {c}" if i < len(headers) and headers[i] else c for i, c in enumerate(cells) if c]
    return ", ".join(parts)


# --- blocks ---------------------------------------------------------------------------------------------------


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
                  or _MODAL.search(title)):
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
            if lead is None and (field := _field_id(self.current[0])) and (ident := _cell_id(field, True)) == field:
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
        tag = _tag_id(stripped)
        return tag is not None and tag[0] != self.current_lead[0]

    def table_line(self, stripped: str, i: int, indent: int, tight: bool) -> bool:
        """Read a table header, delimiter or row; return False when the line is not part of a table."""
        if "|" not in stripped:
            self.table, self.in_table = None, False
            return False
        if _is_delimiter(stripped):
            if self.in_table or stripped.startswith("|"):
                self.in_table = True
                return True
            return False
        header = i + 1 < len(self.lines) and _is_delimiter(self.lines[i + 1])
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


def _abbreviation(text: str, begin: int, end: int) -> bool:
    """Say whether the word ending at `end` is an abbreviation or an initial (a unit after a number is not)."""
    word = re.search(r"([A-Za-z.]+)$", text[begin:end])
    if word is None:
        return False
    name = word.group(1)
    if name in _UNITS and re.search(r"\d\s?$", text[max(0, begin + word.start(1) - 2):begin + word.start(1)]):
        return False  # "within 500 ms. A sensor ..."
    return name.lower().strip(".") in _ABBREV or len(name) == 1


def _sentences(text: str) -> list[str]:
    """Split a block into sentences, keeping abbreviations (e.g., i.e., etc.) and initials together."""
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group(1) == ".":
            if _abbreviation(text, max(start, match.start(1) - 12), match.start(1)):
                continue
        out.append(text[start:match.end(2)].strip())
        start = match.end()
    out.append(text[start:].strip())
    merged: list[str] = []
    for sentence in out:
        if merged and _TAG.fullmatch(sentence):
            merged[-1] = f"{merged[-1]} {sentence}"  # "... attempts. [SEC-2]" tags the sentence before
        elif sentence:
            merged.append(sentence)
    return merged


def _strip_meta(text: str) -> tuple[str, str | None]:
    """Drop non-normative lines (Rationale:, Note:, ...); return the rest and a Priority: override."""
    kept: list[str] = []
    priority = None
    for line in text.split("\n"):
        meta = _META.match(line)
        if meta is None:
            kept.append(line)
        elif meta.group(1).lower() == "priority":
            priority = _PRIORITY_WORDS.get(clean_markdown(meta.group(2)).lower().rstrip("."), priority)
    return "\n".join(kept), priority


# --- requirements ---------------------------------------------------------------------------------------------


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


def document_mode(text: str, blocks: list[Block]) -> Mode:
    """Decide the document's mode: RFC capitals in use, explicit ids in use (module docstring)."""
    rfc_words = 0
    for _ in _RFC_WORD.finditer(text):
        rfc_words += 1
        if rfc_words >= RFC_KEYWORDS_FOR_RFC_MODE:
            break
    ids = 0
    for block in blocks:
        if block.lead is not None or block.ident is not None or (
                block.kind in ("para", "item") and _tag_id(block.text) is not None) or (
                block.kind == "heading" and lead_id(_SECTION_NUMBER.sub("", block.text.strip(), count=1))):
            ids += 1
            if ids >= IDS_FOR_TAGGED_MODE:
                break
    return Mode(rfc=rfc_words >= RFC_KEYWORDS_FOR_RFC_MODE, tagged=ids >= IDS_FOR_TAGGED_MODE)


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
        trailing = _TRAILING_ID.fullmatch(text) if lead is None and len(text) <= 300 else None
        if trailing is not None and _valid_id(trailing.group(2)):
            lead = (trailing.group(2), trailing.group(1))  # "### Login (FR-4)"
        if lead is not None:
            title, rest = _split_title(lead[1])
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
        rest, priority = _strip_meta(block.text)
        pending.priority = priority or pending.priority
        if not rest.strip():
            return True
        joined = " ".join(rest.split())
        lead = lead_id(joined)
        self.pending = None
        if lead is not None and lead[0] != pending.uid:
            return False  # a group heading: its children carry their own ids
        statement = lead[1] if lead is not None else joined
        if pending.weak and modality_of(statement) is None and not _STORY.match(statement):
            return False  # "## Changes (PR-12)" over prose: a trailing id needs a requirement under it
        self.emit(pending.uid, statement, block, pending.priority, pending.title or None)
        assert self.owner is not None
        self.owner.section = pending.section  # an id heading's requirement lies in the enclosing section
        return True

    def emit(self, uid: str | None, statement: str, block: Block, priority: str | None = None,
             title: str | None = None, modality: str | None = None) -> Draft:
        """Record a requirement read from a block; it becomes the owner of nested content."""
        statement = clean_markdown(statement)
        story = _STORY.match(statement) is not None
        if modality is None:
            modality = "shall" if story else (modality_of(statement) or "shall")
        draft = Draft(uid, statement, self.section(), modality, priority, title,
                      indent=block.indent if block.kind == "item" else -1, explicit=uid is not None, story=story)
        self.drafts.append(draft)
        self.owner = draft
        return draft

    def paragraph(self, block: Block) -> None:
        """Read a paragraph or list item: an id or a story makes it one requirement, else sentence by sentence."""
        text, priority = _strip_meta(block.text)
        fields = None if block.plain_lead else read_fields(text)
        if fields is not None and fields[1]:
            if fields[0] is not None or modality_of(fields[1], explicit=False, mode=self.mode) is not None:
                self.emit(fields[0], fields[1], block, priority, fields[2])
            return
        joined = " ".join(text.split())
        lead = block.lead if block.plain_lead and text == block.text else lead_id(joined)
        if lead is not None and lead[1].rstrip().endswith("?"):
            return  # "Q1: Can it export?" asks, it does not require
        if lead is not None and (_STRONG_FULL.fullmatch(lead[0]) or joined.startswith(("**", "__", "["))
                                 or modality_of(lead[1]) is not None or _STORY.match(lead[1])):
            title, rest = _split_title(lead[1], _bold_open(joined, lead[0]))
            if title is not None and title.lower() in _PRIORITY_WORDS:
                priority, title = priority or _PRIORITY_WORDS[title.lower()], None  # "REQ-1 (High): ..."
            self.emit(lead[0], rest, block, priority, title)
            return
        if _STORY.match(clean_markdown(joined)):
            self.emit(None, joined, block, priority)
            return
        owner = None
        for sentence in _sentences(joined):
            owner = None
            tag = _tag_id(sentence)
            cleaned = clean_markdown(sentence)
            if tag is not None:
                untagged = re.sub(r"\s+([.,;:!?])", r"\1", _TAG.sub("", sentence))
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
        text_cells = [c for i, c in enumerate(cells) if c and i not in skip and c.lower() not in _PRIORITY_WORDS
                      and not _only_ids(c)]
        statement = ""
        if table is not None and table.text_col is not None and table.text_col < len(cells):
            statement = "" if _only_ids(cells[table.text_col]) else cells[table.text_col]
        explicit = ident is not None
        if not statement:
            statement = next((c for c in text_cells if (modality_of(c, explicit=explicit, mode=self.mode)
                                                         or _STORY.match(c)) and not c.endswith("?")), "")
        if not statement and explicit:
            statement = max(text_cells, key=len, default="")
        if explicit and len(statement.split()) < 4 and modality_of(statement) is None:
            return  # "| REP-2 | Summary |" is a summary row
        if not statement:
            return
        modality = None
        if not explicit and not _STORY.match(statement):
            modality = modality_of(statement, explicit=False, mode=self.mode)
            if modality is None or statement.endswith("?"):
                return
        self.emit(ident, statement, block, _row_priority(cells, table), _row_title(cells, table), modality)
        self.owner = None  # rows own no nested content

    def absorb(self, owner: Draft, block: Block) -> bool:
        """Append nested content to its owner; return False when the block is not nested (module docstring)."""
        if block.lead is not None or block.ident is not None or (
                block.kind in ("para", "item") and _tag_id(block.text) is not None):
            return False
        kind = block.kind
        text = clean_markdown(_strip_meta(block.text)[0])
        if (kind == "item" and 0 <= block.indent <= owner.indent) or _STORY.match(text):
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
            owner.append(_criteria_lines(_strip_meta(block.text)[0]) if owner.criteria else text)
        owner.absorbed = kind
        return True


def _bold_open(text: str, ident: str) -> bool:
    """Say whether a block starts with `**ID` whose bold runs on into a title (`**FR-1 Login** ...`)."""
    if not text.startswith(("**", "__")):
        return False
    after = text[2:].lstrip()
    return after.startswith(ident) and not after[len(ident):].lstrip(" :.").startswith(("**", "__"))


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


def story_title(statement: str) -> str | None:
    """Return a user story's goal as its title: "As a shopper, I want to pre-order ..." -> "Pre-order ..."."""
    goal = _STORY_GOAL.search(statement[:300])
    if goal is None:
        return None
    text = goal.group(1).strip(" ,")
    return short_title(text[:1].upper() + text[1:]) if text else None


def _split_title(rest: str, bold_open: bool = False) -> tuple[str | None, str]:
    """Split `(Level Progression): text`, or `Login** text` after an unclosed `**ID`, into title and text."""
    match = _PAREN_TITLE.match(rest) or (_BOLD_TITLE.match(rest) if bold_open else None)
    if match is None or modality_of(match.group(1)) is not None:
        return None, rest
    return match.group(1).strip(" .:"), rest[match.end():]


def _row_priority(cells: list[str], table: Table | None) -> str | None:
    """Return the priority a row states: its priority column, else any cell that is a priority word."""
    if table is not None and table.priority_col is not None and table.priority_col < len(cells):
        word = _PRIORITY_WORDS.get(cells[table.priority_col].lower().strip(" .*"))
        if word is not None:
            return word
    return next((_PRIORITY_WORDS[c.lower()] for c in cells if c.lower() in _PRIORITY_WORDS), None)


def _row_title(cells: list[str], table: Table | None) -> str | None:
    """Return a row's title cell, when its table has a title column."""
    if table is None or table.title_col is None or table.title_col >= len(cells):
        return None
    return cells[table.title_col] or None


def extract_requirements(text: str) -> list[dict[str, Any]]:
    """Extract requirements from Markdown or plain text, in document order (see the module docstring)."""
    blocks = _BlockReader(_lines(text)).read()
    reader = _Reader(document_mode(text, blocks))
    for block in blocks:
        reader.feed(block)
    reader.finish_pending()
    out = _Collector()
    for draft in reader.drafts:
        out.add(draft)
    return out.items
