"""Requirement id recognition: which tokens are an author's ids, and where in a text they count as one.

The rules are the "Ids" part of agent/requirements.py's docstring. An explicit id (`REQ-12`, `FR-1.2`,
`SYS_REQ_7`) is an id anywhere one is expected; a short id (`U1`, `UC3.1`) only where position makes it one (a
line prefix with a separator, a bold or bracket tag, a table's id column). Names that look like ids (`UTF-8`,
`SHA-256`) are rejected by their letter prefix. Every pattern has bounded repeats: linear on hostile input.
"""

from __future__ import annotations

import re

# An explicit id: letters, optional inner segments, a last segment ending in digits, optional .n parts.
ID = r"[A-Z][A-Z0-9]{0,9}(?:[-_][A-Z][A-Z0-9]{0,9}){0,3}[-_][A-Z0-9]{0,9}\d(?:\.\d{1,4}){0,4}"
SHORT_ID = r"[A-Z]{1,4}\d{1,4}(?:\.\d{1,4}){0,3}"
ANY_ID = rf"(?:{ID}|{SHORT_ID})"
_END = r"(?![\w-]|\.\d)"
ID_RE = re.compile(rf"(?<![\w.-]){ID}{_END}")
STRONG_ID = re.compile(ID)  # fullmatch: an explicit id, not a short one
NOT_IDS = frozenset({"UTF", "UTC", "GMT", "SHA", "MD", "AES", "RSA", "DES", "ISO", "IEC", "IEEE", "RFC", "TLS",
                     "SSL", "HTTP", "HTTPS", "CVE", "CWE", "COVID", "PEP", "ECMA", "WCAG", "OWASP", "IPV", "EN",
                     "EAN", "UPC", "CRC", "WPA", "MPEG", "ISBN", "ISSN", "PBKDF", "ANSI", "NIST", "FIPS", "PCI",
                     "DIN", "BCP", "CCSDS", "NPR", "MIL", "STD", "HL", "SP"})
ID_MAX = 40  # longer "ids" are not ids (the uid column holds 64 characters, with room for a `_n` suffix)

_LEAD = re.compile(
    rf"^(?P<open>\*\*|__|\[)?\s*(?P<id>{ANY_ID}){_END}\s*(?P<sep>[:.)\-\u2013\u2014])?\s*"
    r"(?P<close>\*\*|__|\])?\s*(?P<sep2>[:.\-\u2013\u2014])?\s*"
)
# A tag that defines the id of the sentence it is in: `[ID]`, `**ID**`, or a final `(ID)`.
TAG = re.compile(rf"\[\s*({ANY_ID})\s*\](?![(\[])|\*\*\s*({ANY_ID})\s*:?\s*\*\*|\(\s*({ID})\s*\)(?=\W{{0,3}}$)")
TRAILING_ID = re.compile(rf"([^\n]{{1,200}}?)\s*[(\[]\s*({ID})\s*[)\]]")  # "Login (FR-4)": text, then the id
_LETTERS = re.compile(r"[A-Z]+")
_STARTS_LIKE_TEXT = re.compile(r"[A-Z(\[\"'*_]")


def valid_id(ident: str) -> bool:
    """Reject names that look like ids (UTF-8, SHA-256, MD5) by their letter prefix, and overlong ones."""
    letters = _LETTERS.match(ident)
    return letters is not None and letters.group(0) not in NOT_IDS and len(ident) <= ID_MAX


def lead_id(text: str) -> tuple[str, str] | None:
    """Return (id, rest) when the text starts with an explicit requirement id, else None."""
    match = _LEAD.match(text)
    if match is None:
        return None
    ident, opened, closed = match.group("id"), match.group("open"), match.group("close")
    if not valid_id(ident) or (opened and not closed and opened != "**" and opened != "__"):
        return None
    rest = text[match.end():].strip()
    separated = bool(match.group("sep") or match.group("sep2"))
    if not STRONG_ID.fullmatch(ident):
        return (ident, rest) if separated or (opened and closed) else None  # "H2 is used" names a thing
    if opened is None and not separated and rest and not _STARTS_LIKE_TEXT.match(rest):
        return None  # "SHA-256 hashes shall..." names a thing; "REQ-1 The system shall..." defines one
    return ident, rest


def tag_id(sentence: str) -> tuple[str, re.Match[str]] | None:
    """Return the id a `[ID]` or `**ID**` tag in a sentence defines, with the tag match."""
    tag = TAG.search(sentence)
    if tag is None:
        return None
    ident = tag.group(1) or tag.group(2) or tag.group(3)
    return (ident, tag) if valid_id(ident) else None


def cell_id(cell: str, short_ok: bool) -> str | None:
    """Return the id a cell holds when the whole cell is one (short ids only where short_ok)."""
    match = re.fullmatch(rf"\W{{0,4}}({ANY_ID})\W{{0,4}}", cell)
    if match is None or not valid_id(match.group(1)):
        return None
    return match.group(1) if short_ok or STRONG_ID.fullmatch(match.group(1)) else None
