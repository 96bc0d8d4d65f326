"""Score requirement extraction against the labelled corpus: `python -m agent.evaluate [--corpus DIR] [-v]`.

The corpus (tests/corpus/ by default) holds documents `<name>.md` or `<name>.txt`, each with a label file
`<name>.expected.json`: `{"style": "...", "requirements": [expected, ...]}`. An expected requirement is
`{uid, section, modality, keywords, contains?, title?}`:
- `uid` is the author's id the extractor must keep, or null for a requirement without one; a null uid matches
  a generated uid (`REQ-` + 8 upper-case hex, optionally `_n`) whose statement contains `contains`.
- `section` and `modality` must be equal; every key word (and `contains`) must occur in the statement, compared
  case-insensitively with whitespace collapsed; `title`, when given, must equal the title.

Scoring per document: expected requirements are matched one to one, in order, to the first extracted one that
satisfies all of the above. Recall = matched / expected; precision = matched / extracted (1.0 when both are
empty, 0.0 when nothing was extracted but something was expected). A document's style is its label's `style`;
the scores of a style pool the counts of its documents. The command prints one line per style (and with -v
each miss and each extra) and exits 1 when any style is below 95 % precision or recall.

`--cases` shows what the offline generator (agent.testgen) writes for each style instead of scoring: per style,
the first boundary or negative case generated from its documents' extracted requirements (documents in corpus
order, each generated as a whole), else the first case, printed as indented JSON under a `# <style>: <document>,
<requirement uid>` line; a style without any case gets `# <style>: no test case`. It exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.requirements import extract_requirements
from agent.testgen import generate_test_cases

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
THRESHOLD = 0.95
GENERATED_UID = re.compile(r"REQ-[0-9A-F]{8}(?:_\d+)?")


@dataclass
class Score:
    """Counts of one document or style, with what did not match (for -v)."""

    expected: int = 0
    extracted: int = 0
    matched: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Matched share of what was extracted."""
        if self.extracted == 0:
            return 1.0 if self.expected == 0 else 0.0
        return self.matched / self.extracted

    @property
    def recall(self) -> float:
        """Matched share of what was expected."""
        return self.matched / self.expected if self.expected else 1.0

    def add(self, other: Score) -> None:
        """Pool another score's counts into this one."""
        self.expected += other.expected
        self.extracted += other.extracted
        self.matched += other.matched
        self.misses += other.misses
        self.extras += other.extras


def _norm(text: str) -> str:
    """Collapse whitespace and fold case, so labels need not copy line breaks."""
    return " ".join(text.split()).casefold()


def matches(expected: dict[str, Any], found: dict[str, Any]) -> bool:
    """Say whether an extracted requirement satisfies one expected requirement (module docstring)."""
    uid = expected.get("uid")
    if uid is None:
        if not GENERATED_UID.fullmatch(found["uid"]):
            return False
    elif found["uid"] != uid:
        return False
    if found["section"] != expected["section"] or found["modality"] != expected["modality"]:
        return False
    if "title" in expected and found["title"] != expected["title"]:
        return False
    statement = _norm(found["statement"])
    words = list(expected.get("keywords", [])) + ([expected["contains"]] if expected.get("contains") else [])
    return all(_norm(word) in statement for word in words)


def score_document(text: str, labels: dict[str, Any]) -> Score:
    """Extract the requirements of one document and score them against its labels."""
    found = extract_requirements(text)
    expected = labels["requirements"]
    used = [False] * len(found)
    score = Score(expected=len(expected), extracted=len(found))
    for item in expected:
        hit = next((i for i, req in enumerate(found) if not used[i] and matches(item, req)), None)
        if hit is None:
            score.misses.append(f"missed {item.get('uid') or item.get('contains')!r} ({item['section']}, "
                                f"{item['modality']})")
        else:
            used[hit] = True
            score.matched += 1
    score.extras += [f"extra {req['uid']} ({req['section']}, {req['modality']}): {req['statement'][:100]!r}"
                     for req, taken in zip(found, used, strict=True) if not taken]
    return score


def documents(corpus: Path) -> list[tuple[Path, Path]]:
    """Return (document, labels) path pairs of a corpus directory, sorted by name."""
    pairs = []
    for labels in sorted(corpus.glob("*.expected.json")):
        stem = labels.name[: -len(".expected.json")]
        doc = next((p for p in (corpus / f"{stem}.md", corpus / f"{stem}.txt") if p.exists()), None)
        if doc is None:
            raise FileNotFoundError(f"no document for {labels.name}")
        pairs.append((doc, labels))
    return pairs


def evaluate(corpus: Path = CORPUS) -> dict[str, Score]:
    """Score every document of the corpus; return the pooled score per style, in corpus order."""
    styles: dict[str, Score] = {}
    for doc, labels_path in documents(corpus):
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        score = score_document(doc.read_text(encoding="utf-8"), labels)
        score.misses = [f"{doc.name}: {line}" for line in score.misses]
        score.extras = [f"{doc.name}: {line}" for line in score.extras]
        styles.setdefault(labels["style"], Score()).add(score)
    return styles


def sample_case(named: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]] | None:
    """Pick the (document, case) that shows the generator best: the first boundary or negative case, else the first."""
    return next((item for item in named if item[1]["type"] in ("boundary", "negative")), named[0] if named else None)


def style_cases(corpus: Path = CORPUS) -> dict[str, tuple[str, dict[str, Any]] | None]:
    """Return, per style in corpus order, the sample (document name, case) of its generated cases (module docstring)."""
    named: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for doc, labels_path in documents(corpus):
        style = json.loads(labels_path.read_text(encoding="utf-8"))["style"]
        cases = generate_test_cases(extract_requirements(doc.read_text(encoding="utf-8")))
        named.setdefault(style, []).extend((doc.name, case) for case in cases)
    return {style: sample_case(items) for style, items in named.items()}


def print_cases(corpus: Path) -> int:
    """Print one generated test case per style as indented JSON (module docstring); return 0."""
    for style, sample in style_cases(corpus).items():
        if sample is None:
            print(f"# {style}: no test case")
            continue
        name, case = sample
        print(f"# {style}: {name}, {', '.join(case['requirement_uids'])}")
        print(json.dumps(case, indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print precision and recall per style (or, with --cases, a sample case); return 1 when a style is low."""
    parser = argparse.ArgumentParser(prog="python -m agent.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="directory of documents and labels")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss and extra")
    parser.add_argument("--cases", action="store_true", help="print one generated test case per style instead")
    args = parser.parse_args(argv)
    if args.cases:
        return print_cases(args.corpus)
    styles = evaluate(args.corpus)
    failing = 0
    print(f"{'style':34} {'expected':>8} {'found':>6} {'matched':>7} {'precision':>9} {'recall':>7}")
    for style, score in styles.items():
        low = score.precision < THRESHOLD or score.recall < THRESHOLD
        failing += low
        print(f"{style:34} {score.expected:8} {score.extracted:6} {score.matched:7} {score.precision:9.1%} "
              f"{score.recall:7.1%}{'  < 95 %' if low else ''}")
        if args.verbose:
            for line in score.misses + score.extras:
                print(f"    {line}")
    total = Score()
    for score in styles.values():
        total.add(score)
    print(f"{'all':34} {total.expected:8} {total.extracted:6} {total.matched:7} {total.precision:9.1%} "
          f"{total.recall:7.1%}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
