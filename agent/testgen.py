"""Offline test-case generation: deterministic templates keyed off each requirement's statement.

Per requirement: one positive `functional` case ("Verify that <statement without its modal>"), a
`negative` case when the statement prohibits something ("shall not", "must never", ...), and `boundary`
cases at limit - 1, limit and limit + 1 for every numeric limit ("within 2 seconds", "at most 5
attempts", "between 8 and 64 characters", "at least 99.9%", ...). Ids are `TC-` + a short hash of
(requirement fingerprint, template kind, variant), so generating again yields the same ids. Every case
links its requirement: `requirement_uids: [uid]`, `links: [{req_uid, fingerprint, origin: "generated"}]`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from agent.requirements import fingerprint

_MODAL_RE = re.compile(r"\b(shall|must|should|may|will)(\s+(?:not|never)\b)?\s*", re.I)
_ADVERBS = frozenset("only always also automatically immediately still first then periodically securely "
                     "successfully correctly consistently reliably clearly explicitly".split())
_LATER_MODAL_RE = re.compile(
    r"\b(?:shall|must|should|will)\s+(?!not\b|never\b)((?:(?:" + "|".join(sorted(_ADVERBS)) + r")\s+)*)([a-z]+)")
_QUALIFIER_RE = re.compile(r"\s(?:of|from|in|on|for|with|by|at|to|that|which|who|whose)\s")
_NUM = r"(\d[\d,]*(?:\.\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_UNIT = r"(\s*%|\s*percent\b|(?:\s+(?!(?:and|or|per|in|on|of|for|to|by|from|with|within|after|before|the|a|an|" \
        r"when|if|is|are|be|than|long)\b)[A-Za-z][A-Za-z-]*){1,3})?"
_OPS = {  # phrase -> kind: max (<=), min (>=), lt (<), gt (>), eq (==), after (triggered from N on)
    "no more than": "max", "not more than": "max", "at most": "max", "up to": "max", "a maximum of": "max",
    "maximum of": "max", "within": "max", "no later than": "max",
    "no less than": "min", "not less than": "min", "no fewer than": "min", "at least": "min",
    "a minimum of": "min", "minimum of": "min",
    "more than": "gt", "greater than": "gt", "longer than": "gt", "later than": "gt", "over": "gt",
    "exceed": "gt", "exceeds": "gt", "exceeding": "gt", "above": "gt",
    "less than": "lt", "fewer than": "lt", "under": "lt", "below": "lt", "exactly": "eq", "after": "after",
}
_OPS_ALT = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(_OPS, key=len, reverse=True))
_LIMIT_RE = re.compile(
    rf"\bbetween\s+{_NUM}\s*(%|percent\b)?\s+and\s+{_NUM}{_UNIT}"
    rf"|\b({_OPS_ALT})\s+{_NUM}{_UNIT}"
    rf"|\b{_NUM}{_UNIT}\s+or\s+(more|greater|higher|fewer|less|lower)\b", re.I)
_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
_NEGATED = {"max": "gt", "gt": "max", "min": "lt", "lt": "min"}  # "must not exceed 5" means "at most 5"
_CANONICAL = {"max": "at most", "gt": "more than", "min": "at least", "lt": "less than"}
_WHERE = {-1: "just below the limit", 0: "at the limit", 1: "just above the limit"}
_ALLOWED = {  # kind -> offsets (-1, 0, +1) that satisfy the requirement
    "max": {-1, 0}, "min": {0, 1}, "lt": {-1}, "gt": {1}, "eq": {0}, "after": {0, 1}, "range_lo": {0, 1},
    "range_hi": {-1, 0},
}


def case_id(fingerprint: str, kind: str, variant: str = "") -> str:
    """Return the stable test-case id for a requirement fingerprint, template kind and variant."""
    return "TC-" + hashlib.sha256(f"{fingerprint}|{kind}|{variant}".encode()).hexdigest()[:10].upper()


def chunk_requirements(requirements: list[dict[str, Any]], size: int = 8) -> list[list[dict[str, Any]]]:
    """Split requirements into consecutive batches of at most size (for LLM calls)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [requirements[i:i + size] for i in range(0, len(requirements), size)]


def generate_test_cases(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Generate positive, negative and boundary test cases for requirements, in requirement order."""
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for req in requirements:
        raw = str(req.get("statement") or req.get("title") or "")
        statement = " ".join(raw.split()).rstrip(" .;")
        uid = str(req.get("uid", ""))
        fp = str(req.get("fingerprint") or fingerprint(raw))
        # Two requirements with the same statement share a fingerprint: keep their ids distinct.
        salt = "" if fp not in seen else uid
        seen.add(fp)
        for kind, variant, body in _templates(statement, uid):
            cases.append({"id": case_id(fp, kind, variant + salt), **body, "priority": _priority(req),
                          "requirement_uids": [uid],
                          "links": [{"req_uid": uid, "fingerprint": fp, "origin": "generated"}]})
    return cases


def _priority(req: dict[str, Any]) -> str:
    prio = str(req.get("priority") or "").lower()
    if prio in ("high", "medium", "low"):
        return prio
    return {"must": "high", "shall": "high", "should": "medium", "may": "low"}.get(
        str(req.get("modality") or "").lower(), "medium")


def _templates(statement: str, uid: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (template kind, variant, case body) for one requirement statement."""
    subject, predicate, modal, negated = _split(statement)
    plural = _is_plural(subject)
    claim = _sentence(subject, predicate, plural, negated, modal) if modal else predicate
    setup = {"action": f"Prepare a test environment in a known, clean state in which {uid} applies.",
             "expected": "The environment is ready and no errors are reported."}
    pre = f"The system under test is deployed with default settings; {subject} can be exercised."
    act = (f"Perform the actions in which {subject} {modal}{' not' if negated else ''} {predicate}." if modal
           else "Perform the actions the requirement describes.")
    yield "positive", "", _case(
        f"Verify that {_clip(claim)}", "functional", pre,
        [setup, {"action": act, "expected": "The actions complete without unexpected errors."},
         {"action": "Observe and record the outcome.", "expected": f"{_cap(claim)}."}], f"{_cap(claim)}.")
    if negated:
        forbidden = _sentence(subject, predicate, plural, False, "shall")
        yield "negative", "", _case(
            _clip(f"Negative: attempt to make {subject} {predicate}"), "negative", pre,
            [setup, {"action": f"Attempt to make {subject} {predicate}, through the user interface, the API "
                               "and unexpected or invalid input.",
                     "expected": "Each attempt is refused or has no effect, with a clear message where one is due."},
             {"action": "Inspect the resulting state, outputs and logs.",
              "expected": f"There is no evidence that {forbidden}."}],
            f"{_cap(claim)}; the prohibited behaviour cannot be triggered.")
    for kind, limit, unit, phrase in _limits(statement):
        exponent = int(limit.as_tuple().exponent)
        step = Decimal(1).scaleb(exponent) if exponent < 0 else Decimal(1)  # 99.9% -> 99.8% / 100.0%
        for offset in (-1, 0, 1):
            value = limit + offset * step
            if value < 0 or (unit == "%" and value > 100):
                continue
            text = _quantity(value, unit)
            outcome = _outcome(kind, offset in _ALLOWED[kind], text, phrase, claim)
            yield "boundary", f"{kind}:{limit}:{offset:+d}", _case(
                _clip(f'Boundary: {text} against "{phrase}" ({_WHERE[offset]})'), "boundary", pre,
                [setup, {"action": f'Run the scenario with the quantity under test at {text} '
                                   f'(the limit is "{phrase}").',
                         "expected": "The input is processed or the condition is reached without a crash."},
                 {"action": "Observe and record the outcome.", "expected": outcome}], outcome)


def _outcome(kind: str, allowed: bool, text: str, phrase: str, claim: str) -> str:
    if kind == "after":
        return (f"With {text} the behaviour is triggered: {claim}." if allowed
                else f"With {text} the behaviour is not triggered yet.")
    if allowed:
        return f'{_cap(text)} is accepted as within the limit "{phrase}"; {claim}.'
    return f'{_cap(text)} is outside the limit "{phrase}": it is rejected or the violation is reported clearly.'


def _case(title: str, kind: str, pre: str, steps: list[dict[str, str]], result: str) -> dict[str, Any]:
    return {"title": title, "preconditions": pre, "steps": [dict(step) for step in steps],
            "expected_result": result, "type": kind}


def _find_modal(statement: str) -> re.Match[str] | None:
    """Return the first modal verb, skipping capitalised words inside the sentence ("reports from May")."""
    for m in _MODAL_RE.finditer(statement):
        word = m.group(1)
        if m.start() == 0 or not (word[0].isupper() and word[1:].islower()):
            return m
    return None


def _split(statement: str) -> tuple[str, str, str, bool]:
    """Split a statement into (subject, predicate without the modal, modal, negated)."""
    m = _find_modal(statement)
    if not m:
        return "the system", _lower_first(statement), "", False
    subject = _lower_first(statement[:m.start()].strip(" ,:")) or "the system"
    predicate = statement[m.end():].strip() or "behave as specified"
    return subject, predicate, m.group(1).lower(), bool(m.group(2))


def _sentence(subject: str, predicate: str, plural: bool, negated: bool, modal: str) -> str:
    """Rewrite "<subject> <modal> [not] <predicate>" in the present tense."""
    words = predicate.split(" ")
    lead = []
    while len(words) > 1 and words[0].lower() in _ADVERBS:
        lead.append(words.pop(0))
    verb, rest = words[0], words[1:]
    if negated:
        aux = "are not" if plural and verb == "be" else "is not" if verb == "be" else "do not" if plural else "does not"
        phrase = [aux] + lead + ([] if verb == "be" else [verb])
    elif modal == "may":
        phrase = ["can"] + lead + [verb]
    else:
        phrase = lead + [_conjugate(verb, plural)]
    text = " ".join([subject] + phrase + rest)
    # Later modals in the same sentence ("... and shall clear the session") get the same treatment.
    return _LATER_MODAL_RE.sub(lambda m: m.group(1) + _conjugate(m.group(2), plural), text)


def _conjugate(verb: str, plural: bool) -> str:
    if verb == "be":
        return "are" if plural else "is"
    if plural or not verb.isalpha() or not verb.islower():
        return verb
    if verb in ("have", "do", "go"):
        return {"have": "has", "do": "does", "go": "goes"}[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _is_plural(subject: str) -> bool:
    core = subject.rsplit(",", 1)[-1].lower()  # "when a user logs in, the system" -> "the system"
    core = _QUALIFIER_RE.split(core)[0]  # "the number of failed attempts" -> "the number"
    last = core.split()[-1] if core.split() else ""
    return " and " in f" {core} " or (
        last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3 and not last.isupper())


def _limits(statement: str) -> list[tuple[str, Decimal, str, str]]:
    """Find numeric limits as (kind, limit, unit, phrase), in order, without duplicates."""
    found: list[tuple[str, Decimal, str, str]] = []
    modal = _find_modal(statement)
    negated_from = modal.end() if modal and modal.group(2) else len(statement) + 1
    for m in _LIMIT_RE.finditer(statement):
        phrase = " ".join(m.group(0).split())
        if m.group(1):  # between X and Y
            unit = _unit(m.group(4)) or _unit(m.group(2))
            items = [("range_lo", m.group(1), unit), ("range_hi", m.group(3), unit)]
        elif m.group(5):
            items = [(_OPS[" ".join(m.group(5).lower().split())], m.group(6), _unit(m.group(7)))]
        else:
            more = m.group(10).lower() in ("more", "greater", "higher")
            items = [("min" if more else "max", m.group(8), _unit(m.group(9)))]
        for kind, number, unit in items:
            label = phrase
            if m.start() >= negated_from and kind in _NEGATED:
                kind = _NEGATED[kind]
                label = f"{_CANONICAL[kind]} {_quantity(_number(number), unit)}"
            item = (kind, _number(number), unit, label)
            if item not in found:
                found.append(item)
    return found[:4]


def _number(text: str) -> Decimal:
    return Decimal(_WORDS[text.lower()]) if text.lower() in _WORDS else Decimal(text.replace(",", ""))


def _unit(text: str | None) -> str:
    text = " ".join((text or "").split())
    return "%" if text in ("%", "percent") else text


def _quantity(value: Decimal, unit: str) -> str:
    if unit == "%":
        return f"{value}%"
    last = unit.split()[-1] if unit else ""
    if last.isalpha() and last.islower() and len(last) > 2:  # 1 second, 2 seconds; 1 year, 0 years
        if last.endswith("s") and not last.endswith("ss"):
            one, many = (last[:-3] + "y" if last.endswith("ies") else last[:-1]), last
        else:
            one, many = last, (last[:-1] + "ies" if last[-1] == "y" and last[-2] not in "aeiou" else last + "s")
        unit = unit[:-len(last)] + (one if value == 1 else many)
    return f"{value} {unit}".strip()


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[:1].isupper() and (first[1:].islower() or len(first) == 1) else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3].rsplit(" ", 1)[0] + "..."
