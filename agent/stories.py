"""User stories and their acceptance criteria, read for test generation.

`user_story(text)` reads "As a <role>, I want [to] <goal>[, so that <benefit>]" (also "I need", "I would like",
"I can", "I should be able to") and returns (role, goal, benefit), or None for any other sentence.
`scenarios(text, criteria)` reads Given/When/Then acceptance criteria — inline in the statement or one per entry
of a requirement's `acceptance_criteria` list — into scenarios; "And"/"But" continue the keyword before them.
Plain string scanning, linear in the text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_WANTS = (" i want to ", " i want ", " i need to ", " i need ", " i would like to ", " i would like ",
          " i should be able to ", " i can ", " i am able to ")
_STORY_LEADS = ("as a ", "as an ", "as the ")
_KEYWORD_RE = re.compile(r"(?:^|(?<=[\s,;:.]))(Given|When|Then|And|But|given|then)\b|(?<=[,;.]\s)(when|and|but)\b")


class Scenario(NamedTuple):
    """One acceptance scenario: what is set up, what is done, what must follow."""

    given: list[str]
    when: list[str]
    then: list[str]


def user_story(text: str) -> tuple[str, str, str] | None:
    """(role, goal, benefit) of "As a <role>, I want <goal>, so that <benefit>", else None."""
    low = text.lower()
    if not low.startswith(_STORY_LEADS):
        return None
    for want in _WANTS:
        at = low.find(want)
        if at > 0:
            break
    else:
        return None
    role = text[text.find(" ") + 1:at].strip(" ,")
    role = role.split(" ", 1)[1] if role.lower().startswith(("a ", "an ", "the ")) else role
    rest = text[at + len(want):]
    cut = _first(rest.lower(), (" so that ", ", so that ", " in order to ", " so i can "))
    goal, benefit = (rest[:cut[0]], rest[cut[0] + len(cut[1]):]) if cut else (rest, "")
    goal = _until_criteria(goal).strip(" ,.;")
    benefit = _until_criteria(benefit).strip(" ,.;")
    return (role, goal, benefit) if role and goal else None


def scenarios(text: str, criteria: list[str]) -> list[Scenario]:
    """The Given/When/Then scenarios of a statement and of its acceptance-criteria entries."""
    out: list[Scenario] = []
    for source in [text, *criteria]:
        out.extend(_parse(source))
    return out


def _parse(text: str) -> list[Scenario]:
    low = text.lower()
    if "given" not in low or "then" not in low:
        return []
    marks = list(_KEYWORD_RE.finditer(text))
    if not any((m.group(1) or "").lower() == "given" for m in marks) or \
            not any((m.group(1) or "").lower() == "then" for m in marks):
        return []
    out: list[Scenario] = []
    current: Scenario | None = None
    last = ""
    for i, m in enumerate(marks):
        word = (m.group(1) or m.group(2)).lower()
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[m.end():end].strip(" ,;:.\n")
        if word == "given" and (current is None or current.when or current.then):
            current = Scenario([], [], [])
            out.append(current)
        if current is None or not body:
            continue
        kind = last if word in ("and", "but") else word
        if kind in ("given", "when", "then"):
            getattr(current, kind).append(body)
            last = kind
    return [s for s in out if s.then]


def _first(text: str, needles: tuple[str, ...]) -> tuple[int, str] | None:
    found = [(text.find(n), n) for n in needles if text.find(n) >= 0]
    return min(found) if found else None


def _until_criteria(text: str) -> str:
    """Cut the inline acceptance criteria off a goal or benefit."""
    low = text.lower()
    cut = _first(low, ("acceptance criteria", " given ", "\ngiven "))
    return text[:cut[0]] if cut else text
