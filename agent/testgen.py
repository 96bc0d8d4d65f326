"""Offline test-case generation: deterministic cases a QA engineer would keep, from each requirement's statement.

Per requirement (its statement read by agent/clauses.py, its limits by agent/boundaries.py):
- one positive `functional` case, "Verify that <first sentence in the present tense>" (a statement of several
  sentences is read sentence by sentence; its expected result restates them all), whose steps carry the
  requirement's own data: the role to sign in as ("Sign in as a user with role editor"), the condition to bring
  about ("When a user logs in"), a valid value for each limit ("Enter a password of 20 characters"), then one
  action per clause with the outcome it promises;
- one `negative` case per prohibition clause (every "shall not"/"must not"/"MUST NOT"/"may not"/"cannot" of the
  sentence, not only the first), which tries the forbidden behaviour (with a forbidden value when the clause has
  a limit) and expects it refused;
- `boundary` cases for every numeric limit (up to 4 per requirement): n-1, n, n+1 of a single limit and lo-1, lo,
  hi, hi+1 of a range, in the quantity's own unit and precision ("under 1 s" -> 999/1000/1001 ms). A limit keeps
  its meaning: inside the region of a prohibition ("shall not accept amounts above 10 EUR") is rejected and 10 EUR
  itself allowed; a limit in the subject, in a when/if condition or a relative clause ("Payments above 10 EUR
  shall require a PIN", "a session that has been idle for more than 10 minutes") or after "after" says when the
  behaviour applies; otherwise the region is what is accepted (or, for a time, what meets it). Each case acts
  with its value in the requirement's words ("Enter a password of 33 characters.", "Send 101 requests within one
  minute.", "Submit an amount of 10.01 EUR.", "As the user, make 5 reservations at once.").
- a user story ("As a <role>, I want <goal>, so that <benefit>") gives a case that signs in as the role and does
  the goal (boundary cases for limits in it), and one case per Given/When/Then acceptance scenario (in the
  statement or in the requirement's optional `acceptance_criteria` list).
Titles are the statement's own words, cleaned (no list markers, no Markdown), cut only between words.
Modality may be "shall" or a negation string ("shall not"); priority follows its first word when the
requirement has none. Ids are `TC-` + a short hash of (requirement fingerprint, template kind, variant), so
generating again yields the same ids. Every case links its requirement: `requirement_uids: [uid]`,
`links: [{req_uid, fingerprint, origin: "generated"}]`, and says `source: "offline"`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from agent.boundaries import Limit, boundary_values, find_limits, nominal
from agent.clauses import (
    Clause,
    article,
    clauses,
    clean,
    lower_first,
    role_of,
    split_condition,
    tail_condition,
    unnegate,
)
from agent.requirements import fingerprint
from agent.stories import Scenario, scenarios, user_story
from agent.wording import (
    GLUE,
    act,
    cap,
    claims,
    do_action,
    focus,
    is_plural,
    present,
    verb_of,
    verdict,
)

__all__ = ["case_id", "chunk_requirements", "fingerprint", "generate_test_cases"]

Case = dict[str, Any]
_LOCAL_NOT_RE = re.compile(r"\b(?:not|never|no)\s{1,3}(?:be\s{1,3})?$", re.I)
_REJECT_VERBS = frozenset("reject refuse deny block disallow prevent forbid discard drop decline".split())
# A limit after these words is a condition ("a session that has been idle for more than 10 minutes"), unless
# "that" only introduces what is ensured ("shall ensure that responses take less than 2 s").
_RELATIVE_RE = re.compile(r"\b(?:which|whose|who|where|if|when|whenever|once|unless)\b|"
                          r"(?<!ensure )(?<!ensures )(?<!guarantee )(?<!sure )(?<!so )(?<!verify )\bthat\b", re.I)
MAX_LIMITS = 4


def case_id(fingerprint: str, kind: str, variant: str = "") -> str:
    """Return the stable test-case id for a requirement fingerprint, template kind and variant."""
    return "TC-" + hashlib.sha256(f"{fingerprint}|{kind}|{variant}".encode()).hexdigest()[:10].upper()


def chunk_requirements(requirements: list[dict[str, Any]], size: int = 8) -> list[list[dict[str, Any]]]:
    """Split requirements into consecutive batches of at most size (for LLM calls)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [requirements[i:i + size] for i in range(0, len(requirements), size)]


def generate_test_cases(requirements: list[dict[str, Any]]) -> list[Case]:
    """Generate positive, negative and boundary test cases for requirements, in requirement order."""
    cases: list[Case] = []
    seen: set[str] = set()
    for req in requirements:
        raw = str(req.get("statement") or req.get("title") or "")
        uid = str(req.get("uid", ""))
        fp = str(req.get("fingerprint") or fingerprint(raw))
        # Two requirements with the same statement share a fingerprint: keep their ids distinct.
        salt = "" if fp not in seen else uid
        seen.add(fp)
        criteria = [str(c) for c in req.get("acceptance_criteria") or [] if c]
        for kind, variant, body in _templates(clean(raw), uid, criteria):
            cases.append({"id": case_id(fp, kind, variant + salt), **body, "priority": _priority(req),
                          "requirement_uids": [uid],
                          "links": [{"req_uid": uid, "fingerprint": fp, "origin": "generated"}],
                          "source": "offline"})
    return cases


def _priority(req: dict[str, Any]) -> str:
    prio = str(req.get("priority") or "").lower()
    if prio in ("high", "medium", "low"):
        return prio
    modal = (str(req.get("modality") or "").lower().split() or [""])[0]
    return {"must": "high", "shall": "high", "should": "medium", "may": "low"}.get(modal, "medium")


def _templates(statement: str, uid: str, criteria: list[str]) -> Iterator[tuple[str, str, Case]]:
    """Yield (template kind, variant, case body) for one requirement statement."""
    story = user_story(statement)
    if story is not None:
        yield from _story_cases(statement, story, criteria)
        return
    parts = clauses(statement)
    role = role_of(statement)
    condition = split_condition(parts[0].subject)[0] or tail_condition(parts[0].predicate)
    limits = _limits(statement, parts)
    pre = _preconditions(parts[0], role, uid)
    setup = _setup_steps(role, condition)
    said = claims(statement, parts)
    fact = ". ".join(said)
    yield "positive", "", _case(f"Verify that {said[0]}", "functional", pre,
                                setup + _positive_steps(parts, limits, condition), cap(fact) + ".")
    for index, clause in enumerate(parts):
        if clause.negated:
            mine = [lim for lim in limits if lim[0] is clause]
            yield "negative", "" if index == 0 else f"clause:{index}", _negative(clause, mine, pre, setup)
    for clause, limit, polarity in limits:  # a limit in the condition is set by the case's own value
        steps = setup if limit.phrase not in condition else _setup_steps(role, "")
        yield from _boundary_cases(clause, limit, polarity, pre, steps)
    for n, scenario in enumerate(scenarios(statement, criteria), 1):
        yield "acceptance", str(n), _scenario_case(scenario, pre, setup)


def _boundary_cases(clause: Clause, limit: Limit, polarity: str, pre: str,
                    setup: list[Case]) -> Iterator[tuple[str, str, Case]]:
    """One case per boundary value of a limit, each acting with that value and expecting its verdict."""
    fact = present(clause)
    for point in boundary_values(limit):
        outcome, word = verdict(limit, polarity, point.text, point.inside, fact)
        title = f'Boundary: {point.text} {word} ({point.where} "{limit.phrase}")'
        yield "boundary", point.key, _case(title, "boundary", pre, setup + [
            {"action": act(clause, limit, point.text, polarity), "expected": outcome}], outcome)


def _limits(statement: str, parts: list[Clause]) -> list[tuple[Clause, Limit, str]]:
    """Each clause's limits with their polarity (accept, forbid or trigger); the same limit once."""
    out: list[tuple[Clause, Limit, str]] = []
    seen: set[tuple[str, Any, Any, str]] = set()
    for clause in parts:
        for limit in find_limits(clause.text, clause.offset):
            key = (limit.kind, limit.lo, limit.hi, limit.unit)
            if key not in seen and len(out) < MAX_LIMITS:
                seen.add(key)
                out.append((clause, limit, _polarity(statement, clause, limit)))
    return out


def _polarity(statement: str, clause: Clause, limit: Limit) -> str:
    """What the limit's region means: "forbid" (refused), "trigger" (the behaviour applies) or "accept"."""
    if clause.negated and " without " in f" {statement[clause.subject_end:limit.start].lower()} ":
        return "accept"  # "shall not execute X without an ARM received within 60 s": within 60 s is allowed
    if clause.negated or _LOCAL_NOT_RE.search(statement[max(0, limit.start - 12):limit.start]):
        return "forbid"
    tail = tail_condition(clause.predicate)
    before = statement[clause.subject_end:limit.start]
    if limit.kind == "after" or (clause.modal and limit.start < clause.subject_end) or \
            (tail and limit.phrase in tail) or _RELATIVE_RE.search(before):
        return "trigger"
    verb = verb_of(clause.predicate)
    return "forbid" if verb in _REJECT_VERBS or verb[:-1] in _REJECT_VERBS else "accept"


def _positive_steps(parts: list[Clause], limits: list[tuple[Clause, Limit, str]], condition: str) -> list[Case]:
    steps: list[Case] = []
    for clause, limit, polarity in limits[:2]:
        points = [p for p in boundary_values(limit) if (p.inside if polarity != "forbid" else not p.inside)]
        if limit.kind == "range" and polarity == "accept":
            value, inside = nominal(limit), True
        elif points:
            point = next((p for p in points if p.where == "at"), points[0])
            value, inside = point.text, point.inside
        else:
            continue
        steps.append({"action": act(clause, limit, value, polarity),
                      "expected": verdict(limit, polarity, value, inside, present(clause))[0]})
    for clause in parts:
        if not clause.negated:
            steps.append({"action": do_action(clause, condition), "expected": cap(present(clause)) + "."})
    if not steps:
        steps.append({"action": f"Use {focus(parts[0])} the normal, allowed way.",
                      "expected": cap(present(parts[0])) + "."})
    return steps


def _negative(clause: Clause, limits: list[tuple[Clause, Limit, str]], pre: str, setup: list[Case]) -> Case:
    forbidden = present(clause._replace(negated=False)) if clause.modal else unnegate(lower_first(clause.text))
    steps = list(setup)
    for _clause, limit, polarity in limits[:1]:
        bad = [p for p in boundary_values(limit) if p.inside]
        if bad:
            steps.append({"action": "Try: " + lower_first(act(clause, limit, bad[-1].text, polarity)),
                          "expected": "The attempt is refused with a clear message, or has no effect."})
    steps.append({"action": f"Try to make this happen through the user interface and the API, with valid and "
                            f"invalid input: {forbidden}.",
                  "expected": "Each attempt is refused or has no effect, with a clear message where one is due."})
    steps.append({"action": f"Inspect {focus(clause)}, the stored data and the logs.",
                  "expected": f"There is no evidence that {forbidden}."})
    title = f"Negative: {split_condition(clause.subject)[1]} {clause.modal} {clause.predicate}" if clause.modal else \
        f"Negative: {lower_first(clause.text)}"
    return _case(title, "negative", pre, steps,
                 f"{cap(present(clause))}; the prohibited behaviour cannot be triggered.")


def _story_cases(statement: str, story: tuple[str, str, str], criteria: list[str]) -> Iterator[
        tuple[str, str, Case]]:
    role, goal, benefit = story
    goal = _their(goal)
    pre = f"A user with role {role} exists and can sign in."
    setup = _setup_steps(role, "")
    check = [{"action": "Check the outcome.", "expected": f'It serves the purpose "{benefit}".'}] if benefit else []
    yield "positive", "", _case(f"Verify that {article(role)} can {goal}", "functional", pre, setup + [
        {"action": f"{cap(goal)}.", "expected": "It succeeds without errors."}, *check],
        f"{cap(article(role))} can {goal}" + (f' ("so that {benefit}").' if benefit else "."))
    clause = Clause(article(role), "can", False, goal, goal, max(0, statement.find(goal)), 0)
    for limit in find_limits(goal, clause.offset)[:MAX_LIMITS]:
        yield from _boundary_cases(clause, limit, "accept", pre, setup)
    for n, scenario in enumerate(scenarios(statement, criteria), 1):
        yield "acceptance", str(n), _scenario_case(scenario, pre, setup)


def _their(text: str) -> str:
    """ "export my orders" -> "export their orders": a story's goal as the tester reads it."""
    text = re.sub(r"\b(?:my|My)\b", "their", text)
    return re.sub(r"\b(?:me|I)\b", lambda m: "them" if m.group(0) == "me" else "they", text)


def _scenario_case(scenario: Scenario, pre: str, setup: list[Case]) -> Case:
    then = " and ".join(scenario.then) or "the outcome is as described"
    steps = list(setup) + [{"action": f"Set up: {g}.", "expected": "The situation is in place."}
                           for g in scenario.given]
    for i, when in enumerate(scenario.when or ["perform the action"]):
        steps.append({"action": f"{cap(when)}.", "expected": f"{cap(then)}." if i == len(scenario.when) - 1
                      else "It is done without errors."})
    title = f"Verify that {then}" + (f" when {scenario.when[0]}" if scenario.when else "")
    return _case(title, "functional", pre, steps, f"{cap(then)}.")


def _setup_steps(role: str, condition: str) -> list[Case]:
    steps = []
    if role:
        who = f"a user with role {role}" if role not in ("user", "guest") else article(role)
        steps.append({"action": f"Sign in as {who}.",
                      "expected": f"Signed in with the permissions of the {role} role."})
    if condition:
        bare = re.sub(r"^(?:when|whenever|once|upon|on|if)\s", "", condition, flags=re.I)
        steps.append({"action": f"Bring about the condition: {bare}.", "expected": "The condition holds."})
    return steps


def _preconditions(clause: Clause, role: str, uid: str) -> str:
    subject = split_condition(clause.subject)[1] if clause.modal else "the system"
    where = f"{cap(subject)} {'are' if is_plural(subject) else 'is'} available in a test environment"
    who = f"; a user with role {role} can sign in" if role else ""
    return f"{where}{who}; the data {uid} refers to exists."


def _case(title: str, kind: str, pre: str, steps: list[Case], result: str) -> Case:
    return {"title": _clip(title), "preconditions": pre, "steps": [dict(step) for step in steps],
            "expected_result": result, "type": kind}


def _clip(text: str, limit: int = 200) -> str:
    """Cut a title between words, without leaving a dangling "and"/"the"/comma before the ellipsis."""
    if len(text) <= limit:
        return text
    words = text[:limit - 1].rsplit(" ", 1)[0].split()
    while words and (words[-1].lower().strip(",;:") in GLUE or words[-1][-1] in ",;:("):
        words.pop()
    return " ".join(words) + "…"
