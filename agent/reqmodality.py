"""What makes text normative: modal verbs, the descriptive-sentence rules, user stories and priorities.

The rules are the "What is a requirement" and "Fields" (modality, priority) parts of agent/requirements.py's
docstring: which modal verb a sentence counts (negation kept, RFC 2119 capitals normalised), when a sentence
without an id only describes (lower-case "will", the document as subject, a "may" of chance or in a tagged
document, lower-case keywords in an RFC-style document), and the priority a modal verb or a priority word gives.
Every pattern has bounded repeats: linear on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRIORITY_OF = {"shall": "high", "must": "high", "should": "medium", "may": "low", "will": "low"}
# Priority words of a `Priority:` line or cell (MoSCoW included), mapped to high|medium|low.
PRIORITY_WORDS = {"high": "high", "critical": "high", "p1": "high", "medium": "medium", "normal": "medium",
                  "p2": "medium", "low": "low", "minor": "low", "p3": "low", "must": "high", "must have": "high",
                  "should": "medium", "should have": "medium", "could": "low", "could have": "low",
                  "won't": "low", "won't have": "low", "wont": "low"}
IDS_FOR_TAGGED_MODE = 3  # explicit ids that make a document "tagged" (untagged "may" is then descriptive)
RFC_KEYWORDS_FOR_RFC_MODE = 3  # upper-case RFC 2119 keywords that make only upper-case ones normative

MODAL = re.compile(r"\b(shall|must|should|may|will|required|recommended|optional)\b(\s+not\b)?", re.IGNORECASE)
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
# "As a <role>, I want ...": a user story, a requirement without a modal verb.
STORY = re.compile(r"\W{0,4}as\s+an?\s+[^,.;\n]{1,80}?,?\s+I\s+(?:want|need|would\s+like|wish|can|expect)\b",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Mode:
    """What the whole document tells about untagged prose: RFC keywords in capitals, explicit ids."""

    rfc: bool = False
    tagged: bool = False


def uses_rfc_capitals(text: str) -> bool:
    """Say whether a document uses enough upper-case RFC 2119 keywords to make only those normative."""
    rfc_words = 0
    for _ in _RFC_WORD.finditer(text):
        rfc_words += 1
        if rfc_words >= RFC_KEYWORDS_FOR_RFC_MODE:
            break
    return rfc_words >= RFC_KEYWORDS_FOR_RFC_MODE


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
    for match in MODAL.finditer(statement):
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
