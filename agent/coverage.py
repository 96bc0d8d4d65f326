"""Coverage analysis: which requirements of a document version the project's test cases verify.

Pure function over plain data; returns the `coverage_report` artifact content (DESIGN §9).

Matching, per (requirement, test case) pair:
1. Declared, only from the test's own fields and text, never from requirement text: a test that lists
   requirements in `requirement_uids` or `links` declares exactly those (its free text is not scanned: a
   generated test quotes its requirement's statement, which may name other requirements, "as configured in
   BR-2302"). A test without such fields declares the uids named in its title, preconditions, steps or
   expected result (whole tokens, case-insensitively), except inside a verbatim quote of a requirement's
   statement. If any of the test's links to that requirement carries a fingerprint, the pair is `explicit`
   when one of those fingerprints equals the requirement's current fingerprint and `stale` otherwise (the
   requirement changed after the test was written); without a fingerprint it is `explicit`.
2. Inferred: a test that declares no requirement of this document (unlinked, or only dangling refs) is
   compared lexically with every requirement: BM25 with Lucene's smoothed IDF over the requirement
   statements, normalised by each requirement's self-score (see agent.textmatch), over the test's title +
   steps + expected result. Terms: agent.textmatch.tokenize after joining phrasal verbs ("logs in" -> login,
   "sign out" -> signout, so "logs in" never meets "error logging"), minus GENERIC_TERMS (words nearly every
   requirement or test uses). A pair is `inferred` when its score >= threshold, the two share at least
   MIN_SHARED_TERMS terms (all of the requirement's terms when it has fewer), and its score is at least
   BEST_SHARE of the test's best score (one test verifies one thing: the runner-up of a close call is kept,
   a distant second is not). A test that declares what it verifies (even only stale links) is taken at its
   word and infers nothing. A reviewer's verdict wins over inference (POST /artifacts/{id}/links): an accepted
   link becomes a declared one (`requirement_uids` + a link with origin `accepted`), a rejected one is listed in
   the test's `rejected_uids` and never inferred again.

A requirement's status is the strongest of its pairs: covered (explicit) > stale > inferred > uncovered,
so a stale link outranks an inferred match (the row still lists the inferred test). The four counts
partition the requirements. `coverage_pct` counts covered only; `coverage_pct_with_inferred` adds
inferred; `by_priority` counts covered only, like `coverage_pct`. A test with an explicit or inferred pair
covers; one whose only pairs are stale is suspect (`suspect_tests`: its requirement changed, review it);
one with no pair at all is an orphan (only-dangling tests included). Dangling refs come from
`requirement_uids` and `links` only (free text is not scanned for unknown ids: "UTF-8" looks like one).
Row tests carry origin explicit|stale|inferred, score 1.0 for declared pairs and the similarity
(4 decimals) for inferred ones, sorted by score desc, then origin, then tc_id.

Test runs (agent/testruns.py): with `results` (tc_id -> latest status), a row test carries its `result`, and a
requirement is `verified` when one of its explicit (current) tests passed; `verified` counts them and
`coverage_pct_verified` = verified / total ("has a passing test", beside `coverage_pct`, "has a test").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agent.textmatch import TOKENIZER_DESCRIPTION, Bm25Index, stem, tokenize

# Calibrated on the labelled sets of tests/test_coverage.py (the tuning fixture and INFERENCE_CORPUS): see there
# for the precision and recall each setting gives.
DEFAULT_THRESHOLD = 0.35
MIN_SHARED_TERMS = 2
BEST_SHARE = 0.8
BM25_K1, BM25_B = 1.2, 0.75
PRIORITIES = ("high", "medium", "low")
GENERIC_TERMS = frozenset(stem(w) for w in """system systems application app software product user users able
    allow allows support supports provide provides ensure ensures functionality function feature features
    requirement requirements test tests check checks case cases correct correctly properly successfully
    appropriate appropriately perform performs""".split())
_PHRASAL_RE = re.compile(r"\b(log|logs|logged|logging|sign|signs|signed|signing)[ \t-]{1,3}(in|on|out|up|off)\b",
                         re.IGNORECASE)
_UID_TOKEN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:\-]*[A-Za-z0-9])?")
_ORIGIN_RANK = {"explicit": 0, "stale": 1, "inferred": 2}

Refs = dict[str, set[str] | None]  # upper-cased uid -> fingerprints of the test's links to it (None: named in text)


def terms(text: str) -> list[str]:
    """The terms inference compares: phrasal verbs joined, stop words and generic words dropped, stemmed."""
    joined = _PHRASAL_RE.sub(lambda m: stem(m.group(1).lower()) + m.group(2).lower(), text)
    return [t for t in tokenize(joined) if t not in GENERIC_TERMS]


def analyse_coverage(requirements: list[dict[str, Any]], test_cases: list[dict[str, Any]], *,
                     document_version_id: str, generated_at: str,
                     threshold: float = DEFAULT_THRESHOLD,
                     results: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Match test cases to requirements and return the coverage_report content."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    pairs, dangling, declaring = _declared_pairs(requirements, test_cases)
    eligible = [t for t in range(len(test_cases)) if t not in declaring]
    if eligible and requirements:
        for (r, t), score in _inferred_pairs(requirements, [test_cases[t] for t in eligible], eligible, threshold):
            pairs[(r, t)] = ("inferred", score)

    row_tests: list[list[dict[str, Any]]] = [[] for _ in requirements]
    covering: set[int] = set()
    stale_only: set[int] = set()
    results = results or {}
    for (r, t), (origin, score) in pairs.items():
        tc_id = str(test_cases[t].get("id", ""))
        entry: dict[str, Any] = {"tc_id": tc_id, "origin": origin, "score": score}
        if tc_id in results:
            entry["result"] = results[tc_id]
        row_tests[r].append(entry)
        (stale_only if origin == "stale" else covering).add(t)

    rows, counts, verified = [], {"covered": 0, "stale": 0, "inferred": 0, "uncovered": 0}, 0
    for req, tests in zip(requirements, row_tests, strict=True):
        tests.sort(key=lambda x: (-x["score"], _ORIGIN_RANK[x["origin"]], x["tc_id"]))
        origins = {x["origin"] for x in tests}
        status = ("covered" if "explicit" in origins else "stale" if "stale" in origins
                  else "inferred" if "inferred" in origins else "uncovered")
        counts[status] += 1
        passed = any(x["origin"] == "explicit" and x.get("result") == "passed" for x in tests)
        verified += passed
        rows.append({"req_uid": str(req.get("uid", "")), "title": str(req.get("title") or req.get("statement") or ""),
                     "priority": str(req.get("priority") or "").lower(), "status": status, "tests": tests,
                     "verified": passed})

    total = len(requirements)
    orphans = sorted({str(tc.get("id", "")) for t, tc in enumerate(test_cases)
                      if t not in covering and t not in stale_only})
    suspects = sorted({str(test_cases[t].get("id", "")) for t in stale_only - covering})
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
            "verified": verified, "coverage_pct_verified": _pct(verified, total),
        },
        "rows": rows,
        "uncovered": [row["req_uid"] for row in rows if row["status"] == "uncovered"],
        "orphan_tests": orphans,
        "suspect_tests": suspects,
        "dangling_refs": [{"tc_id": tc_id, "ref": ref} for tc_id, ref in sorted(dangling)],
        "by_priority": by_priority,
        "method": {
            "algorithm": "bm25",
            "idf": "lucene-smoothed: log(1 + (N - df + 0.5) / (df + 0.5)), N = requirements",
            "normalisation": "score / requirement self-score",
            "k1": BM25_K1, "b": BM25_B, "threshold": threshold, "min_shared_terms": MIN_SHARED_TERMS,
            "best_share": BEST_SHARE,
            "tokenizer": f"{TOKENIZER_DESCRIPTION}, phrasal verbs joined, {len(GENERIC_TERMS)} generic words",
            "fields": ["title", "steps", "expected_result"],
            "explicit": "requirement_uids and links; uids named in title/preconditions/steps/expected_result "
                        "of a test without those fields, outside quoted requirement statements",
            "inference_scope": "tests that declare no requirement of this document",
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


def declared_refs(requirements: Sequence[Mapping[str, Any]],
                  test_cases: Sequence[Mapping[str, Any]]) -> list[tuple[str, Refs]]:
    """Each test's (tc_id, {upper-cased uid: fingerprints of its links, or None when only named in text})."""
    quotes = _quoted_names(requirements)
    return [(str(tc.get("id", "")), _declared(tc, quotes)[0]) for tc in test_cases]


def _inferred_pairs(requirements: list[dict[str, Any]], tests: list[dict[str, Any]], positions: list[int],
                    threshold: float) -> list[tuple[tuple[int, int], float]]:
    """The inferred (requirement, test) pairs of undeclaring tests, with their rounded scores (module docstring)."""
    req_terms = [terms(_requirement_text(req)) for req in requirements]
    req_sets = [set(ts) for ts in req_terms]
    index = Bm25Index(req_terms, k1=BM25_K1, b=BM25_B)
    found: list[tuple[tuple[int, int], float]] = []
    uids = [str(req.get("uid", "")).upper() for req in requirements]
    for t, tc in zip(positions, tests, strict=True):
        query = terms(_test_text(tc, names=False))
        query_set = set(query)
        rejected = {str(uid).upper() for uid in _as_list(tc.get("rejected_uids"))}
        matches = [(r, score) for r, score in index.matches(query, threshold)
                   if len(req_sets[r] & query_set) >= min(MIN_SHARED_TERMS, len(req_sets[r]))
                   and uids[r] not in rejected]
        if matches:
            best = matches[0][1]  # matches are sorted best first
            found.extend(((r, t), round(score, 4)) for r, score in matches if score >= BEST_SHARE * best)
    return found


def _declared_pairs(requirements: list[dict[str, Any]], test_cases: list[dict[str, Any]],
                    ) -> tuple[dict[tuple[int, int], tuple[str, float]], set[tuple[str, str]], set[int]]:
    """Return the declared (req, test) pairs with their origin, the dangling refs, and the declaring tests."""
    by_uid: dict[str, list[int]] = {}
    for r, req in enumerate(requirements):
        by_uid.setdefault(str(req.get("uid", "")).upper(), []).append(r)
    current = [str(req.get("fingerprint") or "").lower() for req in requirements]
    quotes = _quoted_names(requirements)
    pairs: dict[tuple[int, int], tuple[str, float]] = {}
    dangling: set[tuple[str, str]] = set()
    declaring: set[int] = set()
    for t, tc in enumerate(test_cases):
        refs, written = _declared(tc, quotes)
        for key, fps in refs.items():
            targets = by_uid.get(key)
            if targets is None:
                if fps is not None:  # from requirement_uids/links, not from free text
                    dangling.add((str(tc.get("id", "")), written[key]))
                continue
            declaring.add(t)
            for r in targets:
                stale = bool(fps) and bool(current[r]) and current[r] not in (fps or ())
                pairs[(r, t)] = ("stale" if stale else "explicit", 1.0)
    return pairs, dangling, declaring


def _declared(tc: Mapping[str, Any], quotes: dict[str, list[str]]) -> tuple[Refs, dict[str, str]]:
    """Return the test's refs (upper-cased uid -> fingerprints, None for a uid only named in text) and each ref
    as written. Fields first; the text only of a test without them (see the module docstring)."""
    refs: Refs = {}
    written: dict[str, str] = {}
    structured = [(uid, None) for uid in _as_list(tc.get("requirement_uids"))]
    structured += [(link.get("req_uid"), link.get("fingerprint")) for link in _as_list(tc.get("links"))
                   if isinstance(link, dict)]
    for uid, fp in structured:
        if not isinstance(uid, str) or not uid.strip():
            continue
        key = uid.strip().upper()
        written.setdefault(key, uid.strip())
        fps = refs.setdefault(key, set())
        if fp and fps is not None:
            fps.add(str(fp).lower())
    if refs:
        return refs, written
    text = _test_text(tc, names=True)
    named = {word.upper(): word for word in _UID_TOKEN_RE.findall(text)}
    if named.keys() & quotes.keys():
        text = _unquote(text, {s for key in named.keys() & quotes.keys() for s in quotes[key]})
        named = {word.upper(): word for word in _UID_TOKEN_RE.findall(text)}
    for key, word in named.items():
        refs[key] = None
        written[key] = word
    return refs, written


def _quoted_names(requirements: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Map each upper-cased uid that some requirement's statement names -> those statements (normalised)."""
    uids = {str(req.get("uid", "")).upper() for req in requirements}
    quotes: dict[str, list[str]] = {}
    for req in requirements:
        statement = _requirement_text(req)
        for word in {w.upper() for w in _UID_TOKEN_RE.findall(statement)} & uids:
            quotes.setdefault(word, []).append(_normalise(statement))
    return quotes


def _unquote(text: str, statements: set[str]) -> str:
    """Cut verbatim quotes of these (normalised) statements out of a test's text."""
    text = _normalise(text)
    for statement in sorted(statements, key=lambda s: (-len(s), s)):
        text = text.replace(statement, " ")
    return text


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _test_text(tc: Mapping[str, Any], *, names: bool) -> str:
    """Join the test's title, steps and expected result (and preconditions when looking for uids)."""
    parts = [tc.get("title"), tc.get("preconditions") if names else None, tc.get("expected_result")]
    for step in _as_list(tc.get("steps")):
        parts.extend((step.get("action"), step.get("expected")) if isinstance(step, dict) else (step,))
    return "\n".join(p for p in parts if isinstance(p, str))


def _requirement_text(req: Mapping[str, Any]) -> str:
    return str(req.get("statement") or req.get("title") or "")


def _as_list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else ()


def _pct(part: int, total: int) -> float:
    if total == 0:
        return 0.0
    return float((Decimal(part * 100) / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
