"""Gherkin syntax for test-suite interchange: read a `.feature` file into scenarios, write scenarios back.

Pure functions over text (English keywords only; another `# language:` is refused). Only the syntax lives
here; what tags mean (ids, requirements, priority, type) is agent.interchange's business.

Reading, per scenario (Background steps of the Feature and of the enclosing Rule come first):
- `Given` clauses before the first `When`/`Then` are the preconditions, one line each.
- Each `When` clause starts a test step (its action); a later `Given` counts as a `When`.
- The `Then` group (a `Then` and the `And`/`But`/`*` clauses after it) right after a step is that step's
  expected outcome, one line per clause. A `Then` group with no step before it, or a second `Then` group
  after one (a new `Then`, no `When` between), is the scenario's overall expected result; without one, the
  overall expected result is the last step's outcome.
- A doc string (`\"\"\"` or ```) or a data table under a clause continues that clause's text on new lines.
- A `Scenario Outline` gives one scenario per row of its `Examples`, with `<name>` placeholders replaced;
  tags of an `Examples` block apply to its rows. Descriptions (free text under a heading) are ignored;
  free text among the steps is reported as a problem, never dropped unannounced.
Writing is the inverse: multi-line text goes into a doc string, so reading it back gives the same text. Two
cases cannot be written exactly (Gherkin has no way to say them): an empty overall expected result when
the last step has an outcome, and an overall expected result when the last step has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

SECTION_KEYWORDS = {"feature": "feature", "business need": "feature", "ability": "feature", "rule": "rule",
                    "background": "background", "scenario": "scenario", "example": "scenario",
                    "scenario outline": "outline", "scenario template": "outline", "examples": "examples",
                    "scenarios": "examples"}
STEP_KEYWORDS = {"given": "given", "when": "when", "then": "then", "and": "and", "but": "and", "*": "and"}
DOC_DELIMITERS = ('"""', "```")


class GherkinError(ValueError):
    """The text cannot be read as Gherkin at all (a message for the user, with the line)."""


@dataclass
class Scenario:
    """One scenario as read: its name, tags (inherited ones included) and mapped test-case fields."""

    line: int
    name: str
    section: str
    tags: list[str]
    preconditions: str
    steps: list[tuple[str, str]]
    expected_result: str
    example: int = 0  # 1, 2, ... for the rows of a Scenario Outline's Examples; 0 for a plain scenario


@dataclass
class _Clause:
    kind: str  # given | when | then, with And/But/* resolved
    keyword: str  # as written, lower case: a new `then` starts a new Then group, `and` continues one
    lines: list[str]


@dataclass
class _Block:
    """A Background, Scenario or Scenario Outline being read."""

    kind: str
    line: int
    name: str
    tags: list[str]
    clauses: list[_Clause] = field(default_factory=list)
    examples: list[tuple[int, list[str], list[list[str]]]] = field(default_factory=list)  # (line, tags, rows)


@dataclass
class _State:
    feature: str = ""
    feature_tags: list[str] = field(default_factory=list)
    rule: str = ""
    rule_tags: list[str] = field(default_factory=list)
    feature_background: list[_Clause] = field(default_factory=list)
    rule_background: list[_Clause] = field(default_factory=list)
    pending_tags: list[str] = field(default_factory=list)
    block: _Block | None = None
    in_examples: bool = False
    scenarios: list[Scenario] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    limit: int = 5000

    def add(self, scenario: Scenario) -> None:
        if len(self.scenarios) >= self.limit:
            raise GherkinError(f"The file holds more than {self.limit} scenarios; an artifact holds at most "
                               f"{self.limit} test cases: split the file.")
        self.scenarios.append(scenario)


def looks_like_gherkin(text: str) -> bool:
    """Whether the text is Gherkin: a `# language:` comment, or a first meaningful line (past blanks, comments
    and tags) that is a `Feature:` heading."""
    for raw in text.splitlines()[:200]:
        line = raw.strip().lstrip("\ufeff")
        if line.startswith("#") and line[1:].strip().lower().startswith("language:"):
            return True
        if not line or line.startswith(("#", "@")):
            continue
        head = _heading(line)
        return head is not None and SECTION_KEYWORDS[head[0]] == "feature"
    return False


def parse_feature(text: str, max_scenarios: int = 5000) -> tuple[list[Scenario], list[tuple[int, str]]]:
    """Read a feature file: (scenarios in file order, problems as (line, message)); GherkinError if unusable,
    or as soon as it holds more than `max_scenarios` scenarios (Examples rows counted)."""
    state = _State(limit=max_scenarios)
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        raw = lines[number]
        number += 1
        line = raw.strip()
        if line.startswith(DOC_DELIMITERS):
            number = _doc_string(state, lines, number, raw)
            continue
        if not line:
            continue
        if line.startswith("#"):
            _comment(line, number)
            continue
        _line(state, line, number)
    _close_block(state)
    if not state.feature:
        raise GherkinError("The file has no `Feature:` line.")
    return state.scenarios, state.problems


def _comment(line: str, number: int) -> None:
    body = line[1:].strip().lower()
    if body.startswith("language:") and body.split(":", 1)[1].strip() not in ("en", ""):
        raise GherkinError(f"Line {number}: only English Gherkin keywords are supported ({line}).")


def _heading(line: str) -> tuple[str, str] | None:
    """Return (keyword, title) for a section heading such as `Scenario Outline: Login`, else None."""
    head, colon, rest = line.partition(":")
    key = " ".join(head.split()).lower()
    if colon and key in SECTION_KEYWORDS:
        return key, rest.strip()
    return None


def _line(state: _State, line: str, number: int) -> None:
    """Handle one non-blank, non-comment line outside doc strings."""
    if line.startswith("@"):
        state.pending_tags.extend(_tags(line))
        return
    head = _heading(line)
    if head is not None:
        _section(state, SECTION_KEYWORDS[head[0]], head[1], number)
        return
    if line.startswith("|"):
        _table_row(state, line, number)
        return
    first, _, rest = line.partition(" ")
    kind = STEP_KEYWORDS.get(first.lower())
    block = state.block
    if kind is not None and block is not None and not state.in_examples:
        _clause(block, kind, first.lower(), rest.strip())
    elif kind is not None:
        state.problems.append((number, f"A step outside a scenario, ignored: {line[:80]}"))
    elif block is not None and block.clauses:
        state.problems.append((number, f"Not a Gherkin step, ignored: {line[:80]}"))
    # otherwise: free description text under a heading


def _tags(line: str) -> Iterator[str]:
    for word in line.split():
        if word.startswith("#"):
            break  # a comment after the tags
        if word.startswith("@") and len(word) > 1:
            yield word[1:]


def _section(state: _State, kind: str, title: str, number: int) -> None:
    tags, state.pending_tags = state.pending_tags, []
    if kind == "examples":  # belongs to the outline being read
        _examples(state, state.block, tags, number)
        return
    _close_block(state)
    state.in_examples = False
    if kind == "feature":
        if state.feature:
            raise GherkinError(f"Line {number}: a second `Feature:` in one file.")
        state.feature, state.feature_tags = title or "Feature", tags
    elif not state.feature:
        raise GherkinError(f"Line {number}: `{title or kind}` comes before the `Feature:` line.")
    elif kind == "rule":
        state.rule, state.rule_tags, state.rule_background = title, tags, []
    else:
        state.block = _Block(kind=kind, line=number, name=title, tags=tags)


def _examples(state: _State, block: _Block | None, tags: list[str], number: int) -> None:
    if block is None or block.kind != "outline":
        state.problems.append((number, "`Examples:` outside a Scenario Outline, ignored."))
        return
    block.examples.append((number, tags, []))
    state.in_examples = True


def _table_row(state: _State, line: str, number: int) -> None:
    block = state.block
    if block is None:
        state.problems.append((number, "A table row outside a scenario, ignored."))
    elif state.in_examples:
        block.examples[-1][2].append(_cells(line))
    elif block.clauses:
        block.clauses[-1].lines.append(line)
    else:
        state.problems.append((number, "A table row before any step, ignored."))


def _cells(line: str) -> list[str]:
    """Split a table row `| a | b\\|c |` into cells, honouring `\\|`, `\\n` and `\\\\` escapes."""
    cells: list[str] = []
    cur: list[str] = []
    body = line.strip()[1:]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            cur.append({"n": "\n", "|": "|", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == "|":
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if "".join(cur).strip():  # a row without its closing pipe
        cells.append("".join(cur).strip())
    return cells


def _clause(block: _Block, kind: str, keyword: str, text: str) -> None:
    if kind == "and":
        kind = block.clauses[-1].kind if block.clauses else "given"
    block.clauses.append(_Clause(kind=kind, keyword=keyword, lines=[text]))


def _doc_string(state: _State, lines: list[str], number: int, opening: str) -> int:
    """Read a doc string starting at line `number` (1-based, the opening line); return the next line index."""
    indent = len(opening) - len(opening.lstrip())
    delimiter = opening.strip()[:3]
    body: list[str] = []
    while number < len(lines):
        raw = lines[number]
        number += 1
        if raw.strip() == delimiter:
            break
        cut = min(indent, len(raw) - len(raw.lstrip()))
        body.append(raw[cut:].replace('\\"\\"\\"', '"""') if delimiter == '"""' else raw[cut:])
    else:
        raise GherkinError(f"A doc string ({delimiter}) is not closed before the end of the file.")
    block = state.block
    if block is not None and block.clauses and not state.in_examples:
        block.clauses[-1].lines.extend(body)
    else:
        state.problems.append((number, "A doc string outside a step, ignored."))
    return number


def _close_block(state: _State) -> None:
    """Finish the Background, Scenario or Outline being read."""
    block, state.block = state.block, None
    if block is None:
        return
    if block.kind == "background":
        if state.rule:
            state.rule_background = block.clauses
        else:
            state.feature_background = block.clauses
        return
    inherited = state.feature_tags + state.rule_tags
    section = " / ".join(part for part in (state.feature, state.rule) if part)
    clauses = state.feature_background + state.rule_background + block.clauses
    if block.kind == "scenario":
        state.add(_scenario(block.line, block.name, section, inherited + block.tags, clauses))
        return
    rows = [(line, tags, table) for line, tags, table in block.examples if len(table) > 1]
    if not rows:
        state.problems.append((block.line, f"Scenario Outline {block.name!r} has no Examples rows: skipped."))
    example = 0
    for line, tags, table in rows:
        header = table[0]
        for offset, values in enumerate(table[1:], start=1):
            example += 1
            names = dict(zip(header, values, strict=False))
            title = _fill(block.name, names)
            if title == block.name:
                title += " (" + ", ".join(f"{k}={v}" for k, v in names.items()) + ")"
            filled = [_Clause(c.kind, c.keyword, [_fill(x, names) for x in c.lines]) for c in clauses]
            scenario = _scenario(line + offset, title, section, inherited + block.tags + tags, filled)
            scenario.example = example
            state.add(scenario)


def _fill(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace(f"<{key}>", value)
    return text


def _scenario(line: int, name: str, section: str, tags: list[str], clauses: list[_Clause]) -> Scenario:
    """Map Given/When/Then clauses to preconditions, steps and the overall expected result (module rules)."""
    pre: list[str] = []
    steps: list[list[str]] = []  # [action, expected]
    overall: list[str] = []
    group: list[str] | None = None  # the Then group being read, if any
    attached = False
    for clause in clauses:
        text = "\n".join(clause.lines).strip()
        if clause.kind == "given" and not steps and group is None:
            pre.append(text)
        elif clause.kind in ("given", "when"):
            steps.append([text, ""])
            group = None
        elif clause.keyword == "then" or group is None:  # a new Then group
            attached = bool(steps) and not steps[-1][1] and group is None
            group = [text]
            if not attached:
                overall.append(text)
        else:  # And/But/* continuing a Then group
            group.append(text)
            if not attached:
                overall[-1] += "\n" + text
        if group is not None and attached:
            steps[-1][1] = "\n".join(group)
    expected = "\n".join(overall) if overall else (steps[-1][1] if steps else "")
    return Scenario(line=line, name=name, section=section, tags=tags, preconditions="\n".join(pre),
                    steps=[(a, e) for a, e in steps], expected_result=expected)


def format_feature(name: str, scenarios: list[Scenario]) -> str:
    """Write a feature file (one Feature named `name`) from scenarios; `line` and `section` are not written."""
    out = [f"Feature: {_one_line(name) or 'Test cases'}", ""]
    for scenario in scenarios:
        if scenario.tags:
            out.append("  @" + " @".join(scenario.tags))
        out.append(f"  Scenario: {_one_line(scenario.name)}")
        if scenario.preconditions:
            _emit(out, "Given", scenario.preconditions, group=True)
        for action, outcome in scenario.steps:
            _emit(out, "When", action, group=False)
            if outcome:
                _emit(out, "Then", outcome, group=True)
        derived = scenario.steps[-1][1] if scenario.steps else ""
        if scenario.expected_result and scenario.expected_result != derived:
            _emit(out, "Then", scenario.expected_result, group=True)
        out.append("")
    return "\n".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _emit(out: list[str], keyword: str, text: str, *, group: bool) -> None:
    """Write a clause so that reading it back gives the same text: the lines of a Given or Then group as `And`
    clauses when none has surrounding blanks, otherwise (and always for a When) in a doc string."""
    lines = text.split("\n")
    if group and all(line == line.strip() for line in lines):
        out.append(f"    {keyword} {lines[0]}")
        out.extend(f"    And {line}".rstrip() for line in lines[1:])
        return
    first, _, rest = text.partition("\n")
    out.append(f"    {keyword} {first.strip()}")
    if not rest:
        return
    delimiter = '"""' if '"""' not in rest or "```" in rest else "```"
    body = rest.replace('"""', '\\"\\"\\"') if delimiter == '"""' else rest
    out.append(f"      {delimiter}")
    out.extend(f"      {line}" if line else "" for line in body.split("\n"))
    out.append(f"      {delimiter}")
