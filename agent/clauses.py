"""A requirement sentence read the way a tester reads it: clauses, subject, condition, role, object.

`read_statement(text)` cleans the statement (list markers such as "o ", "-", "1)", "a." and inline Markdown
are dropped) and splits it into clauses at each modal verb: "The API should only accept JSON and shall not
accept XML" is two clauses, the second a prohibition with the same subject; "Users must not share accounts,
and admins must not impersonate users" is two prohibitions with their own subjects. A modal followed by
"not"/"never" (any case: "MUST NOT") makes its clause a prohibition; a statement without a modal is one
clause, a prohibition when it says "cannot" or "is not allowed".

Also found: the condition a test must bring about ("When a user logs in, ...", "... if the token expired"),
the role a tester signs in with ("As an editor", "only administrators", "users with the auditor role") and
the object acted on ("lock *the account* after ..."). Pure string work; every pattern is linear-time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_MODAL_RE = re.compile(r"\b(shall|must|should|may|will)\b(\s+(?:not|never)\b)?", re.I)
_CONJ_RE = re.compile(r"(?:,\s{0,4}(?:and|but|or)?|;|\s(?:and|but|or|while|whereas))\s{1,4}", re.I)
_SENTENCE_END_RE = re.compile(r"[.!?]\s{1,4}(?=[A-Z\"(])")
_ABBREVIATIONS = frozenset("e.g i.e etc vs cf approx incl no fig sec min max resp ca al eg ie mr mrs ms dr st".split())
_VERB_RE = re.compile(r"\s(?:is|are|was|were|has|have|does|do|can|cannot|never|must|gets?|earns?|happens?|"
                      r"takes?|holds?|applies|apply)\b")
_RELATIVE_RE = re.compile(r"\b(?:that|which|who)\s{1,4}$", re.I)
_MARKER_RE = re.compile(r"^\s{0,8}(?:(?:[-*+•·▪o]|\(?\d{1,3}[.)]|\(?[a-z][.)]|\[[ xX]\])\s{1,8}){1,3}")
_INLINE_RE = re.compile(r"\*\*|__|`")
_CONDITION_LEADS = ("when ", "whenever ", "if ", "after ", "once ", "upon ", "on ", "before ", "while ",
                    "in case ", "unless ", "for each ", "during ")
_REASON_LEADS = ("as ", "since ", "because ", "given that ")
_TAIL_CONDITION_RE = re.compile(r"\s(?:when|whenever|if|upon|unless)\s")
_NO_MODAL_NEG_RE = re.compile(r"\b(?:cannot|can't|never|is not (?:allowed|permitted)|are not (?:allowed|permitted)|"
                              r"is prohibited|are prohibited)\b", re.I)
_ROLES = ("administrator|admin|editor|viewer|owner|manager|guest|customer|operator|auditor|reviewer|moderator|"
          "member|author|approver|tester|clerk|cashier|supervisor|analyst|subscriber|developer|maintainer|"
          "seller|buyer|patient|doctor|nurse|teacher|student|driver|passenger|employee|contributor")
_ROLE_RE = re.compile(rf"\b(?:an?|the|only|as an?|by|for)\s+((?:[a-z]+\s)?(?:{_ROLES}))s?\b", re.I)
_ROLE_NAMED_RE = re.compile(r"\bwith\s+(?:the\s+|an?\s+)?([a-z][a-z-]{1,24}(?:\s[a-z][a-z-]{1,24})?)\s+"
                            r"(?:role|rights|permission)\b", re.I)
_ADVERBS = frozenset("only always also automatically immediately still first then periodically securely "
                     "successfully correctly consistently reliably clearly explicitly".split())
_OBJECT_STOP = frozenset("after before within at in on for with by from to of when if unless until than and or "
                         "but per via as including during no not more less up maximum minimum max min between "
                         "exactly under over above below fewer larger smaller longer shorter greater higher lower "
                         "bigger faster slower older newer".split())
SYSTEM_WORDS = frozenset("system application app service api server platform tool product software website site "
                         "portal backend frontend client module component it".split())


MAX_CLAUSES = 16  # per statement; more is not a requirement a tester reads


class Clause(NamedTuple):
    """One modal clause: "<subject> <modal> [not] <predicate>"."""

    subject: str
    modal: str  # as written, lower case: "shall", "must", "" when the sentence has none
    negated: bool
    predicate: str
    text: str  # the clause as written, for limits and titles
    offset: int  # where `text` starts in the statement
    subject_end: int  # where the modal starts in the statement (limits before it are conditions)
    sentence: int = 0  # which sentence of the statement it belongs to
    stop: int = 0  # where that sentence ends in the statement


def clean(text: str) -> str:
    """Drop list markers, inline Markdown and doubled spaces; no trailing full stop or semicolon."""
    text = _MARKER_RE.sub("", _INLINE_RE.sub("", " ".join(text.split())))
    return text.rstrip(" .;")


def sentences(statement: str) -> list[tuple[int, str]]:
    """Split a statement into (offset, sentence) at ". " + capital letter, not after "e.g." or "No."."""
    out: list[tuple[int, str]] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(statement):
        word = statement[max(start, m.start() - 6):m.start()].split()[-1:] or [""]
        if word[0].lower().rstrip(".") in _ABBREVIATIONS or len(word[0].rstrip(".")) == 1:
            continue
        out.append((start, statement[start:m.start() + 1].rstrip(" .")))
        start = m.end()
    out.append((start, statement[start:].rstrip(" .")))
    return [(offset, text) for offset, text in out if text]


def clauses(statement: str) -> list[Clause]:
    """Split a cleaned statement into its sentences' modal clauses, in order."""
    out: list[Clause] = []
    for index, (offset, text) in enumerate(sentences(statement)):
        stop = offset + len(text)
        out.extend(c._replace(offset=c.offset + offset, subject_end=c.subject_end + offset, sentence=index,
                              stop=stop) for c in _sentence_clauses(text))
        if len(out) >= MAX_CLAUSES:  # test steps stay within what a case holds (200)
            break
    return out[:MAX_CLAUSES] or [Clause("the system", "", False, "behave as specified", statement, 0, 0)]


def _sentence_clauses(statement: str) -> list[Clause]:
    modals = _main_modals(statement)
    if not modals:
        negated = bool(_NO_MODAL_NEG_RE.search(statement))
        verb = _VERB_RE.search(statement)
        subject = lower_first(statement[:verb.start()]) if verb and verb.start() > 0 else "the system"
        return [Clause(subject, "", negated, lower_first(statement), statement, 0, 0)]
    out: list[Clause] = []
    start, subject = 0, lower_first(statement[:modals[0][0].start()].strip(" ,:")) or "the system"
    for i, (m, conj) in enumerate(modals):
        end = conj.start() if conj else len(statement)
        predicate = statement[m.end():end].strip(" ,") or "behave as specified"
        out.append(Clause(subject, " ".join(m.group(0).lower().split()), bool(m.group(2)), predicate,
                          statement[start:end].strip(" ,"), start, m.start()))
        if conj is not None:
            start = conj.end()
            new_subject = statement[conj.end():modals[i + 1][0].start()].strip(" ,")
            if new_subject and not all(w.lower() in _ADVERBS for w in new_subject.split()):
                subject = lower_first(new_subject)
    return out


def _main_modals(statement: str) -> list[tuple[re.Match[str], re.Match[str] | None]]:
    """The modals that start clauses, each with the conjunction that ends its clause (None for the last).

    A modal in a relative clause ("data that must be kept shall ...") or with no conjunction before it
    belongs to the clause before it.
    """
    found = [m for m in _modals(statement) if not _RELATIVE_RE.search(statement, max(0, m.start() - 8), m.start())]
    out: list[tuple[re.Match[str], re.Match[str] | None]] = []
    seen_to = 0  # conjunctions are looked for once, between consecutive modals: linear on hostile text
    for m in found:
        if out:
            conj = _last(_CONJ_RE, statement, max(out[-1][0].end(), seen_to), m.start())
            seen_to = m.end()
            if conj is None:
                continue
            out[-1] = (out[-1][0], conj)
            if len(out) == MAX_CLAUSES:  # the last clause keeps the rest of the sentence
                break
        out.append((m, None))
    if out and out[-1][1] is not None:
        out[-1] = (out[-1][0], None)
    return out


def _last(pattern: re.Pattern[str], text: str, start: int, end: int) -> re.Match[str] | None:
    """The last match of a pattern between two positions."""
    found = None
    for found in pattern.finditer(text, start, end):  # noqa: B007 - keep the last one
        pass
    return found


def _modals(statement: str) -> list[re.Match[str]]:
    """Modal verbs, skipping a capitalised "May"/"Will" inside the sentence (a month, a name)."""
    out = []
    for m in _MODAL_RE.finditer(statement):
        word = m.group(1)
        if m.start() == 0 or not (word[0].isupper() and word[1:].islower()):
            out.append(m)
    return out


def split_condition(subject: str) -> tuple[str, str]:
    """Split "when a user logs in, the system" into ("when a user logs in", "the system")."""
    low = subject.lower()
    if not low.startswith(_CONDITION_LEADS + _REASON_LEADS):
        return "", subject
    if "," in subject:
        head, _, tail = subject.rpartition(",")
    else:  # "after 5 failed attempts the card": the subject starts at its last article
        at = max(low.rfind(" the "), low.rfind(" a "), low.rfind(" an "))
        if at <= 0:
            return "", subject
        head, tail = subject[:at], subject[at:]
    return ("" if low.startswith(_REASON_LEADS) else head.strip()), tail.strip() or "the system"


def tail_condition(predicate: str) -> str:
    """The trailing condition of a predicate: "record the time when a user logs in" -> "when a user logs in"."""
    m = _TAIL_CONDITION_RE.search(predicate)
    return predicate[m.start() + 1:] if m else ""


@lru_cache(maxsize=4096)
def role_of(text: str) -> str:
    """The role a tester acts as ("editor", "administrator"), or "" when the statement names none."""
    m = _ROLE_NAMED_RE.search(text) or _ROLE_RE.search(text)
    if not m:
        return ""
    role = m.group(1).lower()
    return role[:-1] if role.endswith("s") and not role.endswith("ss") else role


def object_of(predicate: str) -> str:
    """The thing the predicate acts on: "lock the account after 5 attempts" -> "the account" ("" if none)."""
    words = predicate.split()
    while words and words[0].lower() in _ADVERBS:
        words.pop(0)
    if len(words) < 2 or words[0].lower() in ("be", "not", "never", "have", "has"):
        return ""
    out: list[str] = []
    for word in words[1:7]:
        bare = word.strip(",.;:()\"'")
        if not bare or bare.lower() in _OBJECT_STOP or bare[0].isdigit():
            break
        out.append(bare)
        if bare != word:
            break
    while out and out[-1].lower() in ("the", "a", "an", "all", "any", "each", "every", "its", "their"):
        out.pop()
    return " ".join(out)


def is_system(subject: str) -> bool:
    """Whether a subject names the software (the system, the API) rather than a person or a thing."""
    words = subject.lower().split()
    return bool(words) and words[-1] in SYSTEM_WORDS


def unnegate(text: str) -> str:
    """The forbidden behaviour of a sentence without a modal: "guests cannot see prices" -> "guests can see
    prices", "a member never drops below level 1" -> "a member drops below level 1"."""
    text = re.sub(r"\b(cannot|can't)\b", "can", text, count=1, flags=re.I)
    text = re.sub(r"\b(is|are) not (allowed|permitted)\b", r"\1 \2", text, count=1, flags=re.I)
    return re.sub(r"\bnever\s", "", text, count=1, flags=re.I)


def lower_first(text: str) -> str:
    """Lower-case the first word when it is a capitalised ordinary word ("The" -> "the"; "API" stays)."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[:1].isupper() and (first[1:].islower() or len(first) == 1) else text


def singular(noun: str) -> str:
    """A rough singular of a noun phrase's last word ("passwords" -> "password", "entries" -> "entry")."""
    head, _, last = noun.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return f"{head} {last}".strip()


def article(noun: str) -> str:
    """ "a password", "an amount", "the account" (kept)."""
    low = noun.lower()
    if low.startswith(("the ", "a ", "an ", "this ", "each ", "every ", "all ", "any ")) or not noun:
        return noun
    vowel = low[:1] in "aeio" or low.startswith(("un", "hour", "honest"))
    return ("an " if vowel else "a ") + noun
