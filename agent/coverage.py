"""Coverage analysis: which requirements of a document version the project's test cases verify.

Pure function over plain data; returns the `coverage_report` artifact content (DESIGN §9).

Matching, per (requirement, test case) pair:
1. Declared: the requirement uid is in the test's `requirement_uids` or `links`, or is named in its
   title, preconditions, steps or expected result (uids match whole tokens, case-insensitively). If any
   of the test's links to that requirement carries a fingerprint, the pair is `explicit` when one of
   those fingerprints equals the requirement's current fingerprint and `stale` otherwise (the
   requirement changed after the test was written); without a fingerprint it is `explicit`.
2. Inferred: a test with no explicit pair in this document (unlinked, or only stale/dangling refs) is
   compared lexically with every requirement it has not declared: BM25 with Lucene's smoothed IDF over
   the requirement statements, normalised by each requirement's self-score (see agent.textmatch), over
   the test's title + steps + expected result. A score >= threshold makes the pair `inferred`. A test
   that declares what it verifies is taken at its word and infers nothing further.

A requirement's status is the strongest of its pairs: covered (explicit) > stale > inferred > uncovered,
so a stale link outranks an inferred match (the row still lists the inferred test). The four counts
partition the requirements. `coverage_pct` counts covered only; `coverage_pct_with_inferred` adds
inferred; `by_priority` counts covered only, like `coverage_pct`. An orphan is a test case with no
explicit or inferred pair (only-stale and only-dangling tests included). Dangling refs come from
`requirement_uids` and `links` only (free text is not scanned for unknown ids: "UTF-8" looks like one).
Row tests carry origin explicit|stale|inferred, score 1.0 for declared pairs and the similarity
(4 decimals) for inferred ones, sorted by score desc, then origin, then tc_id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agent.textmatch import TOKENIZER_DESCRIPTION, Bm25Index, tokenize

# Tuned on tests/fixtures/coverage/tuning_tests.json: unrelated pairs score up to 0.32, terse real paraphrases
# 0.39 and up, ordinary ones 0.66 and up. At 0.3 seven spurious pairs (0.30-0.32) got through; at 0.4 a real
# one (0.39) was lost.
DEFAULT_THRESHOLD = 0.35
BM25_K1, BM25_B = 1.2, 0.75
PRIORITIES = ("high", "medium", "low")
_UID_TOKEN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:\-]*[A-Za-z0-9])?")
_ORIGIN_RANK = {"explicit": 0, "stale": 1, "inferred": 2}


def analyse_coverage(requirements: list[dict[str, Any]], test_cases: list[dict[str, Any]], *,
                     document_version_id: str, generated_at: str,
                     threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Match test cases to requirements and return the coverage_report content."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    pairs, dangling, linked = _declared_pairs(requirements, test_cases)
    eligible = [t for t in range(len(test_cases)) if t not in linked]
    if eligible and requirements:
        index = Bm25Index([tokenize(_requirement_text(req)) for req in requirements], k1=BM25_K1, b=BM25_B)
        for t in eligible:
            for r, score in index.matches(tokenize(_test_text(test_cases[t], names=False)), threshold):
                pairs.setdefault((r, t), ("inferred", round(score, 4)))

    row_tests: list[list[dict[str, Any]]] = [[] for _ in requirements]
    covering: set[int] = set()
    for (r, t), (origin, score) in pairs.items():
        row_tests[r].append({"tc_id": str(test_cases[t].get("id", "")), "origin": origin, "score": score})
        if origin != "stale":
            covering.add(t)

    rows, counts = [], {"covered": 0, "stale": 0, "inferred": 0, "uncovered": 0}
    for req, tests in zip(requirements, row_tests, strict=True):
        tests.sort(key=lambda x: (-x["score"], _ORIGIN_RANK[x["origin"]], x["tc_id"]))
        origins = {x["origin"] for x in tests}
        status = ("covered" if "explicit" in origins else "stale" if "stale" in origins
                  else "inferred" if "inferred" in origins else "uncovered")
        counts[status] += 1
        rows.append({"req_uid": str(req.get("uid", "")), "title": str(req.get("title") or req.get("statement") or ""),
                     "priority": str(req.get("priority") or "").lower(), "status": status, "tests": tests})

    total = len(requirements)
    orphans = sorted({str(tc.get("id", "")) for t, tc in enumerate(test_cases) if t not in covering})
    by_priority = {}
    for prio in PRIORITIES:
        mine = [row for row in rows if row["priority"] == prio]
        covered = sum(row["status"] == "covered" for row in mine)
        by_priority[prio] = {"total": len(mine), "covered": covered, "pct": _pct(covered, len(mine))}
    return {
        "summary": {
            "requirements_total": total, "covered": counts["covered"], "inferred": counts["inferred"],
            "stale": counts["stale"], "uncovered": counts["uncovered"], "tests_total": len(test_cases),
            "orphan_count": len(orphans), "coverage_pct": _pct(counts["covered"], total),
            "coverage_pct_with_inferred": _pct(counts["covered"] + counts["inferred"], total),
        },
        "rows": rows,
        "uncovered": [row["req_uid"] for row in rows if row["status"] == "uncovered"],
        "orphan_tests": orphans,
        "dangling_refs": [{"tc_id": tc_id, "ref": ref} for tc_id, ref in sorted(dangling)],
        "by_priority": by_priority,
        "method": {
            "algorithm": "bm25",
            "idf": "lucene-smoothed: log(1 + (N - df + 0.5) / (df + 0.5)), N = requirements",
            "normalisation": "score / requirement self-score",
            "k1": BM25_K1, "b": BM25_B, "threshold": threshold, "tokenizer": TOKENIZER_DESCRIPTION,
            "fields": ["title", "steps", "expected_result"],
            "explicit": "requirement_uids, links, uids named in title/preconditions/steps/expected_result",
            "inference_scope": "tests without an explicit link in this document",
        },
        "document_version_id": document_version_id,
        "generated_at": generated_at,
    }


def merge_test_cases(contents: Iterable[Any]) -> list[dict[str, Any]]:
    """The test cases of `test_cases` artifact contents, oldest artifact first; for a repeated id the newest wins."""
    cases: dict[str, dict[str, Any]] = {}
    for content in contents:
        for case in content.get("test_cases", []) if isinstance(content, dict) else ():
            if isinstance(case, dict) and case.get("id"):
                cases[str(case["id"])] = case
    return list(cases.values())


def _declared_pairs(requirements: list[dict[str, Any]], test_cases: list[dict[str, Any]],
                    ) -> tuple[dict[tuple[int, int], tuple[str, float]], set[tuple[str, str]], set[int]]:
    """Return the declared (req, test) pairs with their origin, the dangling refs, and the explicitly linked tests."""
    by_uid: dict[str, list[int]] = {}
    for r, req in enumerate(requirements):
        by_uid.setdefault(str(req.get("uid", "")).upper(), []).append(r)
    current = [str(req.get("fingerprint") or "").lower() for req in requirements]
    pairs: dict[tuple[int, int], tuple[str, float]] = {}
    dangling: set[tuple[str, str]] = set()
    linked: set[int] = set()
    for t, tc in enumerate(test_cases):
        for key, (ref, fps) in _declared(tc).items():
            targets = by_uid.get(key)
            if targets is None:
                if fps is not None:  # from requirement_uids/links, not from free text
                    dangling.add((str(tc.get("id", "")), ref))
                continue
            for r in targets:
                stale = bool(fps) and bool(current[r]) and current[r] not in (fps or ())
                pairs[(r, t)] = ("stale" if stale else "explicit", 1.0)
                if not stale:
                    linked.add(t)
    return pairs, dangling, linked


def _declared(tc: dict[str, Any]) -> dict[str, tuple[str, set[str] | None]]:
    """Map each upper-cased uid the test refers to -> (ref as written, fingerprints its links carry).

    The fingerprint set is empty for a reference without one, and None for a uid only named in text.
    """
    refs: dict[str, tuple[str, set[str] | None]] = {}
    structured = [(uid, None) for uid in _as_list(tc.get("requirement_uids"))]
    structured += [(link.get("req_uid"), link.get("fingerprint")) for link in _as_list(tc.get("links"))
                   if isinstance(link, dict)]
    for uid, fp in structured:
        if not isinstance(uid, str) or not uid.strip():
            continue
        ref, fps = refs.setdefault(uid.strip().upper(), (uid.strip(), set()))
        if fp and fps is not None:
            fps.add(str(fp).lower())
    for word in _UID_TOKEN_RE.findall(_test_text(tc, names=True)):
        refs.setdefault(word.upper(), (word, None))
    return refs


def _test_text(tc: dict[str, Any], *, names: bool) -> str:
    """Join the test's title, steps and expected result (and preconditions when looking for uids)."""
    parts = [tc.get("title"), tc.get("preconditions") if names else None, tc.get("expected_result")]
    for step in _as_list(tc.get("steps")):
        parts.extend((step.get("action"), step.get("expected")) if isinstance(step, dict) else (step,))
    return "\n".join(p for p in parts if isinstance(p, str))


def _requirement_text(req: dict[str, Any]) -> str:
    return str(req.get("statement") or req.get("title") or "")


def _as_list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else ()


def _pct(part: int, total: int) -> float:
    if total == 0:
        return 0.0
    return float((Decimal(part * 100) / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
