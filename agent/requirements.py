"""Requirement extraction from Markdown or plain text (DESIGN §9): one pure function, no I/O.

`extract_requirements(text)` returns `{uid, title, statement, modality, priority, section, fingerprint}` dicts
in document order. Rules a client can rely on:
- Blocks are headings (ATX, setext), paragraphs, list items, table rows, block quotes; fenced and indented
  code, HTML comments and YAML front matter are ignored; a heading alone is never a requirement.
- Explicit ids match `[A-Z][A-Z0-9]{1,9}-\\d{1,5}` (not UTF-8, SHA-256 and the like). A block starting with one
  (`REQ-1: ...`, `[AUTH-3] ...`, `**SEC-1** ...`; such a line also starts a new block) is one requirement, modal
  verb or not. In a sentence, a tag `[REQ-7]` or `**REQ-7**` defines REQ-7 (a bare `REQ-7` is a reference).
  `## REQ-4: Title` gives id and title to the first block under it. A table row with an id cell takes the cell
  with a modal verb, else the longest cell of 4+ words (shorter rows are summaries, skipped).
- Other sentences with shall/must/should/may/will (any case, `not` allowed; not questions, not "May 2024") get
  uid `REQ-` + 8 upper-case hex of SHA-256 over the statement's lower-cased words: deterministic, stable under
  edits elsewhere, never matching the explicit pattern. The same sentence again in the same section is skipped;
  in another section it is kept as `<uid>_2`, `_3`...
- Duplicate explicit ids: the first keeps the id; a repeat with the same statement is skipped, one with a
  different statement is kept as `<ID>_2`, `_3`... (visible, never silently lost).
- Modality is the first modal verb (`shall not` -> shall; none in an explicit requirement -> shall). Priority:
  shall/must high, should medium, may low, will low ("will" usually states intent or fact, not obligation);
  a `Priority: high|medium|low` line (in the block or after an id heading) or such a table cell overrides it.
- Rationale:/Note:/Comment:/Example:/Parent:/Status:/Tags: lines are not normative and are dropped.
- section: the nearest heading (Markdown stripped, <= 300 chars), "" before any. title: the text before ':' when
  it is a short label without a modal verb, else the statement cut at ~80 chars on a word boundary.
  fingerprint: SHA-256 hex of the whitespace-normalised, lower-cased statement.
Every pattern is linear-time on hostile input (bounded repeats, no nested scans).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

ID = r"[A-Z][A-Z0-9]{1,9}-\d{1,5}"
ID_RE = re.compile(rf"\b{ID}\b")
NOT_IDS = frozenset({"UTF", "UTC", "GMT", "SHA", "MD", "AES", "RSA", "DES", "ISO", "IEC", "IEEE", "RFC", "TLS",
                     "SSL", "HTTP", "HTTPS", "CVE", "CWE", "COVID", "PEP", "ECMA", "WCAG", "OWASP", "IPV", "EN"})
PRIORITY_OF = {"shall": "high", "must": "high", "should": "medium", "may": "low", "will": "low"}
TITLE_MAX = 80
SECTION_MAX = 300
MAX_CELLS = 64  # table cells read per row

_MODAL = re.compile(r"\b(shall|must|should|may|will)\b(?:\s+not\b)?", re.IGNORECASE)
_LEAD = re.compile(
    rf"^(?P<open>\*\*|__|\[)?\s*(?P<id>{ID})(?![\w-])\s*(?P<sep>[:.)\-\u2013\u2014])?\s*"
    r"(?P<close>\*\*|__|\])?\s*(?P<sep2>[:\-\u2013\u2014])?\s*"
)
_TAG = re.compile(rf"\[\s*({ID})\s*\](?![(\[])|\*\*\s*({ID})\s*:?\s*\*\*")
_META = re.compile(r"^\s*(?:\*\*|__)?(priority|rationale|notes?|comment|example|parent|status|tags?)(?:\*\*|__)?"
                   r"\s*:(?:\*\*|__)?\s*(.*)$", re.IGNORECASE)
_PRIORITY_WORDS = {"high": "high", "critical": "high", "p1": "high", "medium": "medium", "normal": "medium",
                   "p2": "medium", "low": "low", "minor": "low", "p3": "low"}
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:\s|$)")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_BOUNDARY = re.compile(r"([.!?])([\"')\]]*)\s+(?=[\"'(\[*_]*[A-Z0-9])")
_ABBREV = frozenset({"e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "no", "fig", "mr", "mrs", "ms", "dr",
                     "st", "sec", "min", "max", "resp", "ca", "al", "eg", "ie"})


def fingerprint(statement: str) -> str:
    """Return the SHA-256 hex of the whitespace-normalised, lower-cased statement."""
    return hashlib.sha256(" ".join(statement.split()).lower().encode("utf-8")).hexdigest()


def modality_of(statement: str) -> str | None:
    """Return the first modal verb of a statement (lower case), or None; 'May 2024' is a month, not a verb."""
    for match in _MODAL.finditer(statement):
        word = match.group(1)
        if word == "May" and (re.match(r"\s+\d", statement[match.end(1):match.end(1) + 4]) or
                              re.search(r"\d\s*$", statement[max(0, match.start() - 4):match.start()])):
            continue
        return word.lower()
    return None


def clean_markdown(text: str) -> str:
    """Strip inline Markdown (emphasis, code ticks, links, images, <br>) and collapse whitespace."""
    # Bounded repeats: unbalanced brackets in hostile text must not make these quadratic.
    if "](" in text:
        text = re.sub(r"!\[[^\][\n]{0,500}\]\([^()\s]{0,2000}\)", "", text)
        text = re.sub(r"\[([^\][\n]{1,500})\]\([^()\s]{0,2000}\)", r"\1", text)
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"\1", text)
    return " ".join(text.split())


def short_title(statement: str) -> str:
    """Return the text before ':' when it is a short label, else the statement cut to about 80 characters."""
    head, sep, _rest = statement.partition(":")
    head = head.strip()
    if sep and 0 < len(head) <= TITLE_MAX and modality_of(head) is None and not ID_RE.fullmatch(head):
        return head
    if len(statement) <= TITLE_MAX:
        return statement.rstrip(". ")
    cut = statement[:TITLE_MAX].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return (cut or statement[:TITLE_MAX]) + "\u2026"


def lead_id(text: str) -> tuple[str, str] | None:
    """Return (id, rest) when the text starts with an explicit requirement id, else None."""
    match = _LEAD.match(text)
    if match is None:
        return None
    ident, opened, closed = match.group("id"), match.group("open"), match.group("close")
    if ident.split("-")[0] in NOT_IDS or (opened and not closed and opened != "**" and opened != "__"):
        return None
    rest = text[match.end():]
    if opened is None and not (match.group("sep") or match.group("sep2")):
        # "SHA-256 hashes shall..." names a thing; "REQ-1 The system shall..." defines a requirement.
        if rest.strip() and not re.match(r"[A-Z(\[\"'*_]", rest.strip()):
            return None
    return ident, rest.strip()


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


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """Split Markdown into (kind, text, heading level) blocks: heading, para, item, row; code is dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                lines = lines[end + 1:]
                break
    blocks: list[tuple[str, str, int]] = []
    current: list[str] = []
    kind = ""
    fence = ""
    in_comment = in_code = in_list = False
    blank_before = True

    def flush() -> None:
        nonlocal current, kind
        if current:
            blocks.append((kind, "\n".join(current), 0))
        current, kind = [], ""

    for raw in lines:
        if fence:
            if raw.strip().startswith(fence) and set(raw.strip()) == {fence[0]}:
                fence = ""
            continue
        raw, in_comment = _strip_comments(raw, in_comment)
        indented = re.match(r"^(?: {4}|\t)", raw) is not None
        if in_code and (indented or not raw.strip()):
            continue
        in_code = False
        if blank_before and not current and indented and not in_list:
            in_code = True  # an indented code block
            continue
        if blank_before and raw.strip() and not indented and not _ITEM.match(raw):
            in_list = False
        fence_match = _FENCE.match(raw)
        if fence_match:
            flush()
            fence, in_list = fence_match.group(1), False
            continue
        line = re.sub(r"^\s{0,3}(?:>\s?)+", "", raw)
        stripped = line.strip()
        blank_before = not stripped
        if not stripped:
            flush()
            continue
        heading = _ATX.match(line)
        if heading:
            flush()
            title = line[heading.end():].strip().rstrip("#").rstrip()
            blocks.append(("heading", title, len(heading.group(1))))
            continue
        setext = _SETEXT.match(line)
        if setext and kind == "para" and len(current) == 1:
            blocks.append(("heading", current[0].strip(), 1 if setext.group(1)[0] == "=" else 2))
            current, kind = [], ""
            continue
        if _RULE.match(line):
            flush()
            continue
        if stripped.startswith("|"):
            flush()
            blocks.append(("row", stripped, 0))
            continue
        item = _ITEM.match(line)
        if item:
            flush()
            current, kind, in_list = [item.group(1)], "item", True
            continue
        if current and lead_id(stripped) is None:
            current.append(stripped)
        else:
            flush()
            current, kind = [stripped], "para"
    flush()
    return blocks


def _sentences(text: str) -> list[str]:
    """Split a block into sentences, keeping abbreviations (e.g., i.e., etc.) and initials together."""
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group(1) == ".":
            word = re.search(r"([A-Za-z.]+)$", text[max(start, match.start(1) - 12):match.start(1)])
            if word and (word.group(1).lower().strip(".") in _ABBREV or len(word.group(1)) == 1):
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


class _Collector:
    """Accumulates requirements, enforcing uid uniqueness and the duplicate rules."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.seen: dict[str, str] = {}  # uid -> fingerprint
        self.placed: set[tuple[str, str]] = set()  # (generated uid, section) already taken

    def add(self, uid: str | None, statement: str, section: str, priority: str | None = None,
            title: str | None = None) -> None:
        statement = clean_markdown(statement).strip()
        if len(statement) < 3:
            return
        modality = modality_of(statement) or "shall"
        print_ = fingerprint(statement)
        if uid is None:
            words = " ".join(re.findall(r"[a-z0-9]+", statement.lower()))
            uid = "REQ-" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:8].upper()
            if (uid, section) in self.placed:
                return  # the same sentence again in the same section
            self.placed.add((uid, section))
        elif self.seen.get(uid) == print_:
            return  # an explicit requirement repeated word for word
        base, n = uid, 1
        while uid in self.seen:
            n += 1
            uid = f"{base}_{n}"
        self.seen[uid] = print_
        self.items.append({
            "uid": uid, "title": clean_markdown(title) if title else short_title(statement),
            "statement": statement, "modality": modality, "priority": priority or PRIORITY_OF[modality],
            "section": section, "fingerprint": print_,
        })


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


def _row(cells_text: str, section: str, out: _Collector) -> None:
    """Read one table row: an id cell makes it explicit; else the modal cell is a generated requirement."""
    cells = [clean_markdown(c) for c in re.split(r"(?<!\\)\|", cells_text.strip().strip("|"), maxsplit=MAX_CELLS)]
    if all(re.fullmatch(r"\s*:?-+:?\s*", c) for c in cells):
        return
    ident = next((m.group(0) for c in cells if (m := re.fullmatch(rf"\W*({ID})\W*", c))
                  and m.group(1).split("-")[0] not in NOT_IDS), None)
    priority = next((_PRIORITY_WORDS[c.lower()] for c in cells if c.lower() in _PRIORITY_WORDS), None)
    text_cells = [c for c in cells if c and not ID_RE.fullmatch(c.strip("[]*_ ")) and c.lower() not in _PRIORITY_WORDS]
    modal = [c for c in text_cells if modality_of(c) and not c.endswith("?")]
    if ident is not None:
        ident = ID_RE.search(ident).group(0)  # type: ignore[union-attr]
        longest = max(text_cells, key=len, default="")
        statement = modal[0] if modal else (longest if len(longest.split()) >= 4 else "")
        if statement:
            out.add(ident, statement, section, priority)
    elif modal:
        out.add(None, modal[0], section, priority)


def _paragraph(text: str, section: str, out: _Collector) -> None:
    """Read a paragraph or list item: a leading id makes it one requirement, else sentence by sentence."""
    text, priority = _strip_meta(text)
    joined = " ".join(text.split())
    lead = lead_id(joined)
    if lead is not None:
        out.add(lead[0], lead[1], section, priority)
        return
    for sentence in _sentences(joined):
        tag = _TAG.search(sentence)
        if tag is not None and (tag.group(1) or tag.group(2)).split("-")[0] not in NOT_IDS:
            untagged = re.sub(r"\s+([.,;:!?])", r"\1", _TAG.sub("", sentence))
            out.add(tag.group(1) or tag.group(2), untagged, section, priority)
        elif modality_of(clean_markdown(sentence)) and not sentence.rstrip().endswith("?"):
            out.add(None, sentence, section, priority)


def extract_requirements(text: str) -> list[dict[str, Any]]:
    """Extract requirements from Markdown or plain text, in document order (see the module docstring)."""
    out = _Collector()
    headings: list[tuple[int, str]] = []
    pending: dict[str, Any] | None = None  # an id heading waiting for its statement

    def section() -> str:
        return headings[-1][1] if headings else ""

    def finish_pending() -> None:
        nonlocal pending
        if pending is not None and pending["title"]:
            out.add(pending["uid"], pending["title"], pending["section"], pending["priority"])
        pending = None

    for kind, body, level in _blocks(text):
        if kind == "heading":
            finish_pending()
            while headings and headings[-1][0] >= level:
                headings.pop()
            lead = lead_id(body.strip())
            if lead is not None:
                pending = {"uid": lead[0], "title": clean_markdown(lead[1]), "section": section(), "priority": None}
            headings.append((level, clean_markdown(body)[:SECTION_MAX]))
        elif kind == "row":
            _row(body, section(), out)
        elif pending is not None:
            rest, priority = _strip_meta(body)
            pending["priority"] = priority or pending["priority"]
            if rest.strip():
                lead = lead_id(" ".join(rest.split()))
                statement = lead[1] if lead is not None and lead[0] == pending["uid"] else rest
                out.add(pending["uid"], statement, pending["section"], pending["priority"],
                        title=pending["title"] or None)
                pending = None
        else:
            _paragraph(body, section(), out)
    finish_pending()
    return out.items
