"""How generated test cases are worded: a clause in the present tense, a concrete action with a value, a verdict.

`present(clause)` rewrites "<subject> <modal> [not] <predicate>" as a fact ("the API does not accept XML");
`claim(statement, clauses)` does it for a whole statement, clause by clause. `act(clause, limit, value)` turns
a value under test into an instruction with the requirement's own nouns and units ("Enter a password of 33
characters.", "Send 101 requests within one minute.", "Submit an amount of 10.01 EUR.", "As the user, make 5
reservations at once."). `verdict(...)` says what must happen with that value: accepted or rejected, allowed or
refused (a prohibition), meets or violates a time limit, triggers the behaviour or not. Pure string work.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent.boundaries import MEASURED, Limit, is_money, time_unit
from agent.clauses import Clause, article, is_system, lower_first, object_of, role_of, singular, split_condition

_ADVERBS = frozenset("only always also automatically immediately still first then periodically securely "
                     "successfully correctly consistently reliably clearly explicitly".split())
_LATER_MODAL_RE = re.compile(
    r"\b(?:shall|must|should|will)\s+(?!not\b|never\b)((?:(?:" + "|".join(sorted(_ADVERBS)) + r")\s+)*)([a-z]+)")
_QUALIFIER_RE = re.compile(r"\s(?:of|from|in|on|for|with|by|at|to|that|which|who|whose|above|below|over|under|"
                           r"larger|smaller|greater|longer|shorter|more|less|up|between|exceeding)\s")
_SENT = frozenset("request call message frame packet event email e-mail notification query login upload "
                   "download transaction".split())
_LENGTH_UNITS = frozenset("character char digit letter byte word symbol".split())
_PEOPLE = frozenset(w + suffix for w in (
    "user customer admin administrator member guest operator editor visitor patron shopper buyer seller "
    "stallholder courier recipient passenger driver student teacher employee manager reviewer author").split()
    for suffix in ("", "s"))
GLUE = frozenset("a an the and or of to with for in on at by from as that which who whose if when unless "
                 "whether while than so because".split())
_NOT_NOUNS = frozenset("be is are must shall should may will not accept accepts contain contains have has hold "
                        "holds take takes last lasts stay stays remain remains exceed exceeds allow allows".split())


def verdict(limit: Limit, polarity: str, value: str, inside: bool, claim: str) -> tuple[str, str]:
    """The expected outcome for a value, and the word the title uses for it."""
    measured = time_unit(limit.unit) is not None and polarity != "trigger"
    allowed = inside if polarity == "accept" else not inside
    if polarity == "trigger":
        return ((f"With {value}, {claim}.", "triggers the behaviour") if inside else
                (f"With {value}, the behaviour is not triggered.", "does not trigger it"))
    if measured:
        return ((f'{cap(value)} meets the limit "{limit.phrase}".', "meets the limit") if allowed else
                (f'{cap(value)} violates the limit "{limit.phrase}": the requirement is not met.',
                 "violates the limit"))
    if polarity == "forbid":
        return ((f"{cap(value)} is allowed.", "allowed") if allowed else
                (f'{cap(value)} is rejected with a clear message: "{limit.phrase}" is not allowed.', "rejected"))
    return ((f'{cap(value)} is accepted ("{limit.phrase}").', "accepted") if allowed else
            (f'{cap(value)} is rejected with a clear message ("{limit.phrase}" is not met).', "rejected"))


def act(clause: Clause, limit: Limit, value: str, polarity: str) -> str:
    """A concrete action using a value: "Enter a password of 33 characters.", "Send 101 requests within one
    minute.", "Submit an amount of 10.01 EUR.", "Let 15 min 1 s pass, then check the session."."""
    if clause.modal == "can" and limit.phrase in clause.predicate:  # a user story's goal, done with the value
        return cap(clause.predicate.replace(limit.phrase, value, 1)) + "."
    unit_word = (limit.unit.split(" per ")[0].split("/")[0].split() or [""])[-1].lower()
    noun = _noun_before(clause, limit)
    if singular(unit_word) in _LENGTH_UNITS:
        return f"Enter {article(singular(noun) or 'value')} of {value}."
    if (" per " in limit.unit or "/" in limit.unit) and singular(unit_word) in _SENT:
        count, _, period = value.replace("/", " per ", 1).partition(" per ")
        return f"Send {count} within one {period}."
    if is_money(limit.unit):
        return f"Submit {article(singular(noun) or 'amount')} of {value}."
    unit = time_unit(limit.unit)
    if unit is not None:
        if polarity == "trigger":
            return f"Let {value} pass, then check {focus(clause)}."
        if unit not in MEASURED or _word_before(clause, limit) == "for":  # a period: "kept for at least 1 year"
            return f"Check {focus(clause)} after {value}."
        return f"Run the operation so that it takes {value} (a controlled delay or clock), and measure it."
    if polarity == "trigger":
        return f"Perform {value}, then check {focus(clause)}."
    if unit_word in ("time", "times"):  # "renew the same loan more than 2 times" -> "Renew the same loan 3 times."
        return _repeat(clause, value)
    return _act_by_verb(clause, limit, value, noun)


def _repeat(clause: Clause, value: str) -> str:
    verb = verb_of(able(clause.predicate))
    obj = object_of(able(clause.predicate))
    subject = split_condition(clause.subject)[1]
    doing = " ".join(w for w in (verb, obj, value) if w)
    if is_person(subject):
        role = role_of(subject)
        return f"As {article('user with role ' + role) if role else subject}, {doing}."
    return f"Make {subject} {doing}."


def _word_before(clause: Clause, limit: Limit) -> str:
    before = clause.text[:max(0, limit.start - clause.offset)].split()
    return before[-1].lower() if before else ""


def _act_by_verb(clause: Clause, limit: Limit, value: str, noun: str) -> str:
    """ "make more than 4 reservations at once" -> "As the user, make 5 reservations at once"; else by noun."""
    predicate = able(clause.predicate)
    verb = verb_of(predicate)
    phrase_at = clause.text.find(limit.phrase)
    before = clause.text[:phrase_at].split() if phrase_at >= 0 else []
    if verb and verb not in ("be", "is", "are", "have", "has") and before and before[-1].lower() == verb:
        tail = _tail(clause.text[phrase_at + len(limit.phrase):])
        subject = split_condition(clause.subject)[1]
        role = role_of(subject)
        if is_person(subject):
            return f"As {article('user with role ' + role) if role else subject}, {verb} {value}{tail}."
        return f"Make {subject} {verb} {value}{tail}."
    if noun:
        return f"Submit {article(singular(noun))} of {value}."
    return f"Exercise {focus(clause)} with {value}." if limit.unit else f"Enter the value {value}."


def _tail(text: str) -> str:
    """The words after a limit phrase that belong to the action ("at once"), up to punctuation or a clause."""
    words = []
    for word in text.split()[:4]:
        bare = word.rstrip(",.;:)")
        if bare.lower() in ("and", "or", "but", "when", "if", "unless", "so", "which", "that") or not bare:
            break
        words.append(bare)
        if bare != word:
            break
    return (" " + " ".join(words)) if words else ""


def able(predicate: str) -> str:
    """ "be able to make ..." -> "make ..."."""
    low = predicate.lower()
    for lead in ("be able to ", "be allowed to ", "be permitted to "):
        if low.startswith(lead):
            return predicate[len(lead):]
    return predicate


def do_action(clause: Clause, condition: str) -> str:
    """The action that exercises a clause, worded for who acts."""
    subject = split_condition(clause.subject)[1]
    predicate = able(clause.predicate)
    if condition and predicate.endswith(condition):
        predicate = predicate[:-len(condition)].rstrip(" ,")
    if not clause.modal:
        return f"Check {subject}." if subject != "the system" else "Check the behaviour the requirement states."
    if predicate.lower().startswith(("be ", "not be ")):
        return f"Create or update {subject} through the user interface or the API."
    role = role_of(subject)
    if is_person(subject):
        return f"As {article('user with role ' + role) if role else subject}, {predicate}."
    return f"Make {subject} {predicate}."


def focus(clause: Clause) -> str:
    obj = object_of(clause.predicate) if clause.modal else ""
    return obj or split_condition(clause.subject)[1]


def _noun_before(clause: Clause, limit: Limit) -> str:
    """The noun a limit measures: "amounts above 10 EUR" -> "amounts", "articles of at most" -> "articles";
    else the clause's subject when it is a thing (not the system, not a person)."""
    before = [w.strip(",;:()").lower() for w in clause.text[:max(0, limit.start - clause.offset)].split()]
    while before and before[-1] in ("of", "with", "for", "in"):
        before.pop()
    word = before[-1] if before else ""
    if word.isalpha() and word not in GLUE and word not in _NOT_NOUNS and not word.endswith("ed"):
        return word
    subject = re.sub(r"^(?:(?:the|a|an|all|each|every|only)\s)+", "", split_condition(clause.subject)[1], flags=re.I)
    if is_system(subject) or is_person(subject) or len(subject.split()) > 3:
        return ""
    last = subject.split()[-1] if subject else ""
    return subject if last.isalpha() and not last.endswith(("ed", "ing")) else ""


def verb_of(predicate: str) -> str:
    words = [w for w in predicate.lower().split() if w not in _ADVERBS]
    return words[0] if words else ""


@lru_cache(maxsize=4096)
def is_person(subject: str) -> bool:
    words = subject.lower().split()
    return bool(words) and (words[-1] in _PEOPLE or role_of(subject) != "")


def present(clause: Clause) -> str:
    """One clause in the present tense: "the API does not accept XML"."""
    subject = split_condition(clause.subject)[1] if clause.modal else ""
    if not clause.modal:
        return clause.predicate
    return _sentence(subject, clause.predicate, is_plural(subject), clause.negated, clause.modal.split()[0])


def claims(statement: str, parts: list[Clause]) -> list[str]:
    """The statement in the present tense, one string per sentence (clause by clause within each)."""
    out = [_claim_sentence(statement, [c for c in parts if c.sentence == index])
           for index in sorted({c.sentence for c in parts})]
    return [lower_first(out[0]), *out[1:]] if out else []


def _claim_sentence(statement: str, parts: list[Clause]) -> str:
    first = parts[0]
    if not first.modal:
        return first.text
    out = []
    for i, clause in enumerate(parts):
        rest = statement[clause.subject_end + len(clause.modal):clause.stop or None].strip() \
            if i == len(parts) - 1 else clause.predicate
        subject = clause.subject if i == 0 or clause.subject_end > clause.offset else ""
        text = _sentence(subject, rest or "behave as specified", is_plural(clause.subject), clause.negated,
                         clause.modal.split()[0])
        if i:
            gap = statement[parts[i - 1].offset + len(parts[i - 1].text):clause.offset]
            out.append(gap if gap.strip(" ,") else " and ")
        out.append(text.strip())
    return cap("".join(out)) if first.sentence else "".join(out)


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
    text = " ".join(([subject] if subject else []) + phrase + rest)
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


@lru_cache(maxsize=4096)
def is_plural(subject: str) -> bool:
    core = subject.rsplit(",", 1)[-1].lower()  # "when a user logs in, the system" -> "the system"
    core = _QUALIFIER_RE.split(core)[0]  # "the number of failed attempts" -> "the number"
    last = core.split()[-1] if core.split() else ""
    return " and " in f" {core} " or (
        last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3 and not last.isupper())


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]
