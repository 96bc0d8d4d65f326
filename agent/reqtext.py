"""The text inside a block: inline Markdown removed, sentences split, meta lines dropped, titles derived.

These are the sentence-level rules of agent/requirements.py's docstring: a block's prose is cut into sentences
(abbreviations, initials and units kept together, a lone `[ID]` tag joined to the sentence before),
Rationale:/Note:/... lines are dropped while a Priority: line is read, and a requirement's title comes from its
own text (a parenthesised or bold label, a user story's goal, a short label before ': ', else the statement cut
at ~80 characters). Every pattern has bounded repeats: linear on hostile input.
"""

from __future__ import annotations

import re

from agent.reqids import ID_RE, TAG
from agent.reqmodality import PRIORITY_WORDS, modality_of

TITLE_MAX = 80

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_LABEL = re.compile(r"([^:\n]{1,80}):\s")
_STORY_GOAL = re.compile(r"\bI\s+(?:want|need|would\s+like|wish|can|expect)\s+(?:to\s+|that\s+)?"
                         r"([^.;\n]{3,200}?)(?:,?\s+so\s+that\b|[.;]|$)", re.IGNORECASE)
_BOLD_TITLE = re.compile(r"([^*\n]{1,80})\*\*\s*[:.\-\u2013\u2014]?\s*")
_PAREN_TITLE = re.compile(r"\(([^()\n]{1,80})\)\s*(?:\*\*|__)?\s*[:.\-\u2013\u2014]?\s*")
_META = re.compile(r"^\s*(?:\*\*|__)?(priority|rationale|notes?|comment|example|parent|status|tags?)(?:\*\*|__)?"
                   r"\s*:(?:\*\*|__)?\s*(.*)$", re.IGNORECASE)
_BOUNDARY = re.compile(r"([.!?])([\"')\]]*)\s+(?=[\"'(\[*_]*[A-Z0-9])")
_ABBREV = frozenset({"e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "no", "fig", "mr", "mrs", "ms", "dr",
                     "st", "sec", "min", "max", "resp", "ca", "al", "eg", "ie"})
_UNITS = frozenset({"ms", "min", "sec", "s", "h", "m"})


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


def story_title(statement: str) -> str | None:
    """Return a user story's goal as its title: "As a shopper, I want to pre-order ..." -> "Pre-order ..."."""
    goal = _STORY_GOAL.search(statement[:300])
    if goal is None:
        return None
    text = goal.group(1).strip(" ,")
    return short_title(text[:1].upper() + text[1:]) if text else None


def bold_open(text: str, ident: str) -> bool:
    """Say whether a block starts with `**ID` whose bold runs on into a title (`**FR-1 Login** ...`)."""
    if not text.startswith(("**", "__")):
        return False
    after = text[2:].lstrip()
    return after.startswith(ident) and not after[len(ident):].lstrip(" :.").startswith(("**", "__"))


def split_title(rest: str, after_bold: bool = False) -> tuple[str | None, str]:
    """Split `(Level Progression): text`, or `Login** text` after an unclosed `**ID`, into title and text."""
    match = _PAREN_TITLE.match(rest) or (_BOLD_TITLE.match(rest) if after_bold else None)
    if match is None or modality_of(match.group(1)) is not None:
        return None, rest
    return match.group(1).strip(" .:"), rest[match.end():]


def _abbreviation(text: str, begin: int, end: int) -> bool:
    """Say whether the word ending at `end` is an abbreviation or an initial (a unit after a number is not)."""
    word = re.search(r"([A-Za-z.]+)$", text[begin:end])
    if word is None:
        return False
    name = word.group(1)
    if name in _UNITS and re.search(r"\d\s?$", text[max(0, begin + word.start(1) - 2):begin + word.start(1)]):
        return False  # "within 500 ms. A sensor ..."
    return name.lower().strip(".") in _ABBREV or len(name) == 1


def sentences(text: str) -> list[str]:
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
        if merged and TAG.fullmatch(sentence):
            merged[-1] = f"{merged[-1]} {sentence}"  # "... attempts. [SEC-2]" tags the sentence before
        elif sentence:
            merged.append(sentence)
    return merged


def strip_meta(text: str) -> tuple[str, str | None]:
    """Drop non-normative lines (Rationale:, Note:, ...); return the rest and a Priority: override."""
    kept: list[str] = []
    priority = None
    for line in text.split("\n"):
        meta = _META.match(line)
        if meta is None:
            kept.append(line)
        elif meta.group(1).lower() == "priority":
            priority = PRIORITY_WORDS.get(clean_markdown(meta.group(2)).lower().rstrip("."), priority)
    return "\n".join(kept), priority
