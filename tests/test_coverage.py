"""Coverage analysis (agent.coverage) and its lexical matcher (agent.textmatch), against fixtures with known answers."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.coverage import DEFAULT_THRESHOLD, analyse_coverage, terms
from agent.testgen import generate_test_cases
from agent.textmatch import Bm25Index, stem, tokenize
from chatsvc.schemas.artifacts import CoverageReport

FIXTURES = Path(__file__).parent / "fixtures" / "coverage"
ROOT = Path(__file__).parent.parent
DV, AT = "dv-fixture-1", "2025-01-01T00:00:00Z"


def load(name: str, key: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())[key]


def requirements() -> list[dict[str, Any]]:
    return load("requirements.json", "requirements")


def analyse(reqs: list[dict[str, Any]], tests: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return analyse_coverage(reqs, tests, document_version_id=DV, generated_at=AT, **kw)


def fp(statement: str) -> str:
    return hashlib.sha256(" ".join(statement.split()).lower().encode()).hexdigest()


def req(uid: str, statement: str, priority: str = "high") -> dict[str, Any]:
    return {"uid": uid, "title": uid.lower(), "statement": statement, "modality": "shall", "priority": priority,
            "section": "S", "fingerprint": fp(statement)}


def tc(tc_id: str, title: str = "Unrelated check", uids: tuple[str, ...] = (), links: tuple[dict, ...] = (),
       steps: tuple[tuple[str, str], ...] = (), result: str = "It works") -> dict[str, Any]:
    return {"id": tc_id, "title": title, "preconditions": "", "steps": [{"action": a, "expected": e} for a, e in steps],
            "expected_result": result, "priority": "low", "type": "functional", "requirement_uids": list(uids),
            "links": list(links)}


def status(report: dict[str, Any]) -> dict[str, str]:
    return {row["req_uid"]: row["status"] for row in report["rows"]}


# --- the known-answer document -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def known() -> dict[str, Any]:
    return analyse(requirements(), load("known_answers_tests.json", "test_cases"))


def test_known_summary(known: dict[str, Any]) -> None:
    assert known["summary"] == {
        "requirements_total": 20, "covered": 6, "inferred": 2, "stale": 2, "uncovered": 10, "tests_total": 13,
        "orphan_count": 2, "coverage_pct": 30.0, "coverage_pct_with_inferred": 40.0,
        "verified": 0, "coverage_pct_verified": 0.0,  # no test run recorded
    }


def test_known_statuses(known: dict[str, Any]) -> None:
    assert status(known) == {
        "AUTH-1": "covered",   # requirement_uids + link with the current fingerprint
        "AUTH-2": "covered",   # requirement_uids without a fingerprint
        "AUTH-3": "stale",     # link with an old fingerprint (even though requirement_uids names it too)
        "AUTH-4": "covered",   # named in the test's title
        "SRCH-1": "inferred",  # unlinked test, lexically similar
        "SRCH-2": "uncovered",
        "CART-1": "inferred",
        "CART-2": "covered",   # requirement_uids next to a dangling CART-9
        "RPT-1": "stale",      # stale link AND an inferred match: stale wins
        "RPT-2": "uncovered",
        "NOTIF-1": "covered",  # named, lower-case, in a step
        "PROF-1": "uncovered", "API-1": "uncovered", "IMG-1": "uncovered", "AUD-1": "uncovered",
        "PAY-1": "covered",
        "CHK-1": "uncovered",  # TC-X1 talks about it but declares PAY-1 only: no inference from linked tests
        "SESS-1": "uncovered", "PERF-1": "uncovered", "REV-1": "uncovered",
    }


def test_known_rows(known: dict[str, Any]) -> None:
    rows = {row["req_uid"]: row for row in known["rows"]}
    assert [row["req_uid"] for row in known["rows"]] == [r["uid"] for r in requirements()]
    assert rows["AUTH-1"] == {"req_uid": "AUTH-1", "title": "Account lockout", "priority": "high",
                              "status": "covered", "tests": [{"tc_id": "TC-A1", "origin": "explicit", "score": 1.0}],
                              "verified": False}
    assert rows["AUTH-3"]["tests"] == [{"tc_id": "TC-A3", "origin": "stale", "score": 1.0}]
    assert rows["RPT-1"]["tests"] == [{"tc_id": "TC-R1", "origin": "stale", "score": 1.0},
                                      {"tc_id": "TC-R2", "origin": "inferred", "score": 0.8442}]
    assert rows["SRCH-1"]["tests"] == [{"tc_id": "TC-S1", "origin": "inferred", "score": 0.7056}]
    assert rows["CHK-1"]["tests"] == []


def test_known_lists(known: dict[str, Any]) -> None:
    assert known["uncovered"] == ["SRCH-2", "RPT-2", "PROF-1", "API-1", "IMG-1", "AUD-1", "CHK-1", "SESS-1",
                                  "PERF-1", "REV-1"]  # document order
    # TC-A3 and TC-R1 only have stale links: suspect, not orphans; TC-D1 only a dangling one, TC-O1 nothing.
    assert known["orphan_tests"] == ["TC-D1", "TC-O1"]
    assert known["suspect_tests"] == ["TC-A3", "TC-R1"]
    assert known["dangling_refs"] == [{"tc_id": "TC-D1", "ref": "AUTH-99"}, {"tc_id": "TC-D2", "ref": "CART-9"}]


def test_known_by_priority(known: dict[str, Any]) -> None:
    assert known["by_priority"] == {
        "high": {"total": 11, "covered": 5, "pct": 45.5},
        "medium": {"total": 6, "covered": 1, "pct": 16.7},
        "low": {"total": 3, "covered": 0, "pct": 0.0},
    }


def test_report_shape_matches_the_contract(known: dict[str, Any]) -> None:
    assert set(known) == {"summary", "rows", "uncovered", "orphan_tests", "suspect_tests", "dangling_refs",
                          "by_priority", "method", "document_version_id", "generated_at"}
    CoverageReport.model_validate(known)
    assert known["document_version_id"] == DV and known["generated_at"] == AT
    assert all(set(row) == {"req_uid", "title", "priority", "status", "tests", "verified"} for row in known["rows"])
    assert all(set(t) == {"tc_id", "origin", "score"} for row in known["rows"] for t in row["tests"])
    assert known["method"]["algorithm"] == "bm25" and known["method"]["threshold"] == DEFAULT_THRESHOLD
    assert "tokenizer" in known["method"]
    json.dumps(known)  # plain JSON data


# --- threshold tuning fixture --------------------------------------------------------------------------------

def test_tuning_fixture_precision_and_recall_at_the_default_threshold() -> None:
    """Paraphrased unlinked tests find their requirement; unrelated ones match nothing (see DEFAULT_THRESHOLD)."""
    tests = load("tuning_tests.json", "test_cases")
    report = analyse(requirements(), tests)
    inferred = {(t["tc_id"], row["req_uid"]) for row in report["rows"] for t in row["tests"]}
    expected = {(t["id"], t["expect"]) for t in tests if t["expect"]}
    missed = {tc_id for tc_id, _ in expected - inferred}
    assert missed == {"HARD-02", "HARD-04", "HARD-07"}  # "short secret", "basket", "signed out when idle"
    # No extra pairs: the lock test's runner-up (unlocking) is under BEST_SHARE of its best match, and back.
    assert inferred - expected == set()
    assert [t for t in report["orphan_tests"] if t.startswith("NOISE")] == [f"NOISE-0{i}" for i in range(1, 9)]


def test_threshold_trades_recall_for_precision() -> None:
    tests = load("tuning_tests.json", "test_cases")
    low = analyse(requirements(), tests, threshold=0.3)["summary"]
    default = analyse(requirements(), tests)["summary"]
    strict = analyse(requirements(), tests, threshold=1.0)["summary"]
    assert low["orphan_count"] < default["orphan_count"] < strict["orphan_count"]
    assert low["inferred"] >= default["inferred"] > strict["inferred"]
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            analyse(requirements(), tests, threshold=bad)


# --- explicit links, staleness, names in text ----------------------------------------------------------------

def test_uid_named_in_title_counts_as_explicit() -> None:
    reqs = [req("REQ-1", "The system shall export invoices."), req("REQ-12", "The system shall print labels.")]
    report = analyse(reqs, [tc("TC-1", title="REQ-12: label printing")])
    assert status(report) == {"REQ-1": "uncovered", "REQ-12": "covered"}  # REQ-1 is not a prefix match
    assert report["rows"][1]["tests"] == [{"tc_id": "TC-1", "origin": "explicit", "score": 1.0}]


@pytest.mark.parametrize("text", ["[REQ-7]", "**REQ-7**", "(req-7)", "see REQ-7.", "REQ-7: do it", "REQ-3/REQ-7"])
def test_uid_named_in_steps_or_result(text: str) -> None:
    reqs = [req("REQ-7", "The system shall archive orders.")]
    assert status(analyse(reqs, [tc("TC-1", steps=((text, "ok"),))]))["REQ-7"] == "covered"
    assert status(analyse(reqs, [tc("TC-1", result=f"Done {text}")]))["REQ-7"] == "covered"


@pytest.mark.parametrize("text", ["REQ-70", "XREQ-7", "REQ-7b", "REQ-7_x"])
def test_similar_ids_do_not_count(text: str) -> None:
    reqs = [req("REQ-7", "The system shall archive orders.")]
    assert status(analyse(reqs, [tc("TC-1", title=f"Check {text}")]))["REQ-7"] == "uncovered"


def test_fingerprints_decide_stale_or_covered() -> None:
    r = req("R-1", "The system shall archive orders.")
    old = fp("The system shall archive old orders.")
    cases = {
        "fresh link": ({"req_uid": "R-1", "fingerprint": r["fingerprint"], "origin": "generated"},),
        "old link": ({"req_uid": "R-1", "fingerprint": old, "origin": "generated"},),
        "old and fresh": ({"req_uid": "R-1", "fingerprint": old, "origin": "generated"},
                          {"req_uid": "R-1", "fingerprint": r["fingerprint"].upper(), "origin": "manual"}),
        "link without fingerprint": ({"req_uid": "R-1", "origin": "manual"},),
    }
    expected = {"fresh link": "covered", "old link": "stale", "old and fresh": "covered",
                "link without fingerprint": "covered"}
    for name, links in cases.items():
        report = analyse([r], [tc("TC-1", links=links)])
        assert status(report)["R-1"] == expected[name], name
    # requirement_uids alone is explicit; next to an old-fingerprint link it is stale.
    assert status(analyse([r], [tc("TC-1", uids=("R-1",))]))["R-1"] == "covered"
    assert status(analyse([r], [tc("TC-1", uids=("R-1",), links=cases["old link"])]))["R-1"] == "stale"
    # A requirement without a fingerprint cannot make a link stale.
    bare = dict(r, fingerprint="")
    assert status(analyse([bare], [tc("TC-1", links=cases["old link"])]))["R-1"] == "covered"


def test_covered_beats_stale_and_stale_counts_in_no_percentage() -> None:
    r = req("R-1", "The system shall archive orders.")
    stale_link = ({"req_uid": "R-1", "fingerprint": fp("old"), "origin": "generated"},)
    both = analyse([r], [tc("TC-1", links=stale_link), tc("TC-2", uids=("R-1",))])
    assert status(both)["R-1"] == "covered"
    assert both["rows"][0]["tests"] == [{"tc_id": "TC-2", "origin": "explicit", "score": 1.0},
                                        {"tc_id": "TC-1", "origin": "stale", "score": 1.0}]
    assert both["orphan_tests"] == [] and both["suspect_tests"] == ["TC-1"]
    only_stale = analyse([r], [tc("TC-1", links=stale_link)])
    assert only_stale["suspect_tests"] == ["TC-1"] and only_stale["orphan_tests"] == []
    assert only_stale["summary"]["stale"] == 1
    assert only_stale["summary"]["coverage_pct"] == only_stale["summary"]["coverage_pct_with_inferred"] == 0.0


def test_dangling_refs_come_from_declared_uids_only() -> None:
    reqs = [req("R-1", "The system shall archive orders.")]
    tests = [tc("TC-2", uids=("R-9", "R-1")), tc("TC-1", title="Encode as UTF-8 per ISO-8859",
                                                 links=({"req_uid": "R-8", "origin": "manual"},))]
    report = analyse(reqs, tests)
    assert report["dangling_refs"] == [{"tc_id": "TC-1", "ref": "R-8"}, {"tc_id": "TC-2", "ref": "R-9"}]
    assert report["orphan_tests"] == ["TC-1"]  # its only reference is dangling; TC-2 also covers R-1


def test_uid_matching_is_case_insensitive_and_merges_references() -> None:
    r = req("Auth-1", "The system shall archive orders.")
    stale_link = ({"req_uid": "AUTH-1", "fingerprint": fp("old"), "origin": "generated"},)
    # The fingerprinted link governs even when the text names the uid too.
    assert status(analyse([r], [tc("TC-1", title="auth-1 check", links=stale_link)]))["Auth-1"] == "stale"
    assert status(analyse([r], [tc("TC-1", uids=("AUTH-1",))]))["Auth-1"] == "covered"


# --- inference ------------------------------------------------------------------------------------------------

def test_inferred_needs_similarity_and_scores_are_reported() -> None:
    reqs = [req("R-1", "The shopping cart shall hold no more than 50 items."),
            req("R-2", "Administrators may export the monthly sales report as a CSV file.")]
    tests = [tc("TC-1", title="Cart refuses the 51st item", steps=(("Add 50 items to the shopping cart", "ok"),)),
             tc("TC-2", title="Dark mode toggle persists")]
    report = analyse(reqs, tests)
    assert status(report) == {"R-1": "inferred", "R-2": "uncovered"}
    (match,) = report["rows"][0]["tests"]
    assert match["tc_id"] == "TC-1" and match["origin"] == "inferred" and DEFAULT_THRESHOLD <= match["score"] <= 1
    assert report["orphan_tests"] == ["TC-2"]
    assert report["summary"]["coverage_pct"] == 0.0 and report["summary"]["coverage_pct_with_inferred"] == 50.0


def test_tests_are_sorted_by_score_then_origin_then_id() -> None:
    reqs = [req("R-1", "The shopping cart shall hold no more than 50 items.")]
    tests = [tc("TC-9", title="Shopping cart holds 50 items"), tc("TC-3", title="Cart with 50 items"),
             tc("TC-5", uids=("R-1",)), tc("TC-1", title="Shopping cart holds 50 items")]
    row = analyse(reqs, tests)["rows"][0]["tests"]
    assert [t["tc_id"] for t in row] == ["TC-5", "TC-1", "TC-9", "TC-3"]
    assert [t["origin"] for t in row] == ["explicit", "inferred", "inferred", "inferred"]
    assert row[0]["score"] == 1.0 and row[1]["score"] == row[2]["score"] > row[3]["score"] >= DEFAULT_THRESHOLD


# --- edge cases, percentages, determinism -------------------------------------------------------------------

def test_empty_inputs() -> None:
    report = analyse([], [])
    assert report["summary"] == {"requirements_total": 0, "covered": 0, "inferred": 0, "stale": 0, "uncovered": 0,
                                 "tests_total": 0, "orphan_count": 0, "coverage_pct": 0.0,
                                 "coverage_pct_with_inferred": 0.0, "verified": 0, "coverage_pct_verified": 0.0}
    assert report["rows"] == report["uncovered"] == report["orphan_tests"] == report["dangling_refs"] == []
    assert report["by_priority"] == {p: {"total": 0, "covered": 0, "pct": 0.0} for p in ("high", "medium", "low")}
    only_tests = analyse([], [tc("TC-1", uids=("R-1",)), tc("TC-2")])
    assert only_tests["summary"]["orphan_count"] == 2 and only_tests["summary"]["coverage_pct"] == 0.0
    assert only_tests["dangling_refs"] == [{"tc_id": "TC-1", "ref": "R-1"}]
    only_reqs = analyse(requirements(), [])
    assert only_reqs["summary"]["uncovered"] == 20 and only_reqs["uncovered"] == [r["uid"] for r in requirements()]


def test_tolerates_sparse_test_cases() -> None:
    reqs = [req("R-1", "The system shall archive orders.")]
    report = analyse(reqs, [{"id": "TC-1"}, {"id": "TC-2", "steps": ["R-1 archive orders"], "links": [None, "x"]}])
    assert status(report)["R-1"] == "covered" and report["orphan_tests"] == ["TC-1"]


@pytest.mark.parametrize(("covered", "total", "pct"), [(1, 3, 33.3), (2, 3, 66.7), (1, 8, 12.5), (1, 16, 6.3),
                                                       (3, 3, 100.0)])
def test_percentages_round_half_up_to_one_decimal(covered: int, total: int, pct: float) -> None:
    reqs = [req(f"R-{i}", f"The system shall do task number {i}.") for i in range(total)]
    tests = [tc(f"TC-{i}", uids=(f"R-{i}",)) for i in range(covered)]
    summary = analyse(reqs, tests)["summary"]
    assert summary["coverage_pct"] == summary["coverage_pct_with_inferred"] == pct
    assert analyse(reqs, tests)["by_priority"]["high"]["pct"] == pct


def test_deterministic_and_independent_of_test_order() -> None:
    reqs = requirements()
    tests = load("known_answers_tests.json", "test_cases") + load("tuning_tests.json", "test_cases")
    first = analyse(reqs, tests)
    assert analyse(copy.deepcopy(reqs), copy.deepcopy(tests)) == first
    shuffled = tests[:]
    random.Random(3).shuffle(shuffled)
    assert analyse(reqs, shuffled) == first


def test_identical_across_processes_with_different_hash_seeds() -> None:
    code = ("import json, sys; from agent.coverage import analyse_coverage; from tests.test_coverage import load;"
            "r = load('requirements.json', 'requirements');"
            "t = load('known_answers_tests.json', 'test_cases') + load('tuning_tests.json', 'test_cases');"
            "print(json.dumps(analyse_coverage(r, t, document_version_id='d', generated_at='g'), sort_keys=True))")
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1


def test_generated_test_cases_cover_everything() -> None:
    reqs = requirements()
    report = analyse(reqs, generate_test_cases(reqs))
    assert report["summary"]["coverage_pct"] == 100.0
    assert report["summary"]["covered"] == 20 and report["orphan_tests"] == [] and report["dangling_refs"] == []
    assert all(t["origin"] == "explicit" for row in report["rows"] for t in row["tests"])


def test_changed_requirement_makes_its_generated_tests_stale() -> None:
    reqs = requirements()
    tests = generate_test_cases(reqs)
    changed = copy.deepcopy(reqs)
    changed[6]["statement"] = "The shopping cart shall hold no more than 80 items."
    changed[6]["fingerprint"] = fp(changed[6]["statement"])
    report = analyse(changed, tests)
    assert status(report)["CART-1"] == "stale"
    assert report["summary"]["covered"] == 19 and report["summary"]["coverage_pct"] == 95.0
    stale_ids = {t["id"] for t in tests if t["requirement_uids"] == ["CART-1"]}
    assert set(report["suspect_tests"]) == stale_ids and report["orphan_tests"] == []
    assert generate_test_cases(reqs) == tests  # regeneration is idempotent


def test_large_project_completes_and_is_deterministic() -> None:
    rng = random.Random(11)
    words = [f"term{i}" for i in range(800)] + ["system", "user", "order", "report"] * 30
    reqs = [req(f"REQ-{i}", "The system shall " + " ".join(rng.choice(words) for _ in range(10)),
                priority=("high", "medium", "low")[i % 3]) for i in range(300)]
    tests = []
    for j in range(600):
        target = reqs[rng.randrange(300)]
        text = " ".join(rng.choice(words) for _ in range(12))
        tests.append(tc(f"TC-{j:04}", title=text + (" " + target["statement"] if j % 3 else ""),
                        uids=(target["uid"],) if j % 3 == 0 else (), steps=((text, text),)))
    report = analyse(reqs, tests)
    assert report == analyse(reqs, tests)
    s = report["summary"]
    assert s["covered"] + s["inferred"] + s["stale"] + s["uncovered"] == 300 and s["tests_total"] == 600
    assert s["inferred"] > 0 and s["covered"] > 0


# --- textmatch ----------------------------------------------------------------------------------------------

def test_tokenize_drops_stop_words_and_stems() -> None:
    assert tokenize("The system SHALL store the Passwords, not plain-text!") == ["system", "stor", "password",
                                                                                "plain", "text"]
    assert {stem(w) for w in ("store", "stored", "storing", "stores")} == {"stor"}
    assert {stem(w) for w in ("lock", "locked", "locking", "locks")} == {"lock"}
    assert {stem(w) for w in ("log", "logged", "logs")} == {"log"}
    assert stem("entries") == "entry" and stem("status") == "status" and stem("2024") == "2024"


def test_smoothed_idf_scores_tiny_corpora() -> None:
    """rank_bm25's Okapi IDF gives 0 here; Lucene's smoothed IDF does not."""
    index = Bm25Index([tokenize("export report csv"), tokenize("lock account report")])
    assert all(v > 0 for v in index.idf.values())
    assert index.idf["report"] == pytest.approx(math.log(1 + 0.5 / 2.5))
    assert index.score(tokenize("export the report"))[0] > index.score(tokenize("export the report")).get(1, 0)
    assert index.similarity(tokenize("export report csv"), 0) == pytest.approx(1.0)
    assert index.matches(tokenize("csv export"), 0.3) == [(0, pytest.approx(index.similarity(["csv", "export"], 0)))]
    single = Bm25Index([tokenize("lock account")])
    assert single.matches(tokenize("lock the account"), 1.0) == [(0, pytest.approx(1.0))]


def test_pruned_matches_equal_brute_force() -> None:
    rng = random.Random(5)
    words = [f"w{i}" for i in range(60)] + ["common"] * 40
    docs = [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(120)] + [[]]
    index = Bm25Index(docs)
    for _ in range(150):
        query = [rng.choice(words) for _ in range(rng.randint(0, 15))]
        for threshold in (0.05, 0.2, 0.35, 0.6, 1.0):
            brute = sorted(((i, index.similarity(query, i)) for i in range(len(docs))
                            if index.similarity(query, i) >= threshold - 1e-9), key=lambda p: (-p[1], p[0]))
            got = index.matches(query, threshold)
            assert [i for i, _ in got] == [i for i, _ in brute]
            assert [s for _, s in got] == pytest.approx([s for _, s in brute])


# --- links never come from requirement text ------------------------------------------------------------------

def test_an_id_inside_a_quoted_requirement_is_no_link() -> None:
    reqs = [req("BR-2301", "Discounts shall be applied as configured in BR-2302."),
            req("BR-2302", "Administrators shall configure discount rules.")]
    generated = tc("TC-1", uids=("BR-2301",), steps=(("Discounts shall be applied as configured in BR-2302.", "ok"),))
    report = analyse(reqs, [generated])
    assert status(report) == {"BR-2301": "covered", "BR-2302": "uncovered"}  # fields given: the text is not scanned
    # A test without fields that quotes the statement names BR-2301 itself, not BR-2302.
    quoting = tc("TC-2", title="BR-2301", steps=(("Check: discounts shall be applied as configured in  br-2302.", ""),))
    assert status(analyse(reqs, [quoting])) == {"BR-2301": "covered", "BR-2302": "uncovered"}
    # Named outside the quote, it counts.
    own = tc("TC-3", title="BR-2302 rules", steps=(("Discounts shall be applied as configured in BR-2302.", ""),))
    assert status(analyse(reqs, [own]))["BR-2302"] == "covered"


def test_generated_tests_never_link_the_ids_their_requirement_names() -> None:
    reqs = [req("BR-2301", "Discounts shall be applied as configured in BR-2302, at most 10 EUR per order."),
            req("BR-2302", "Administrators shall configure discount rules.")]
    report = analyse(reqs, generate_test_cases(reqs[:1]))
    assert status(report) == {"BR-2301": "covered", "BR-2302": "uncovered"}


def test_a_test_with_fields_declares_only_them() -> None:
    reqs = [req("REQ-1", "The system shall export invoices."), req("REQ-2", "The system shall print labels.")]
    report = analyse(reqs, [tc("TC-1", title="REQ-2 label printing", uids=("REQ-1",))])
    assert status(report) == {"REQ-1": "covered", "REQ-2": "uncovered"}


# --- inference precision on a labelled corpus ------------------------------------------------------------------

def test_phrasal_verbs_and_generic_words() -> None:
    assert terms("A user logs in, then logs out") == ["login", "logout"]
    assert terms("Centralized error logging") == ["centraliz", "error", "log"]
    reqs = [req("W-2", "The system shall provide centralized error logging for all services.")]
    report = analyse(reqs, [tc("TC-1", title="A user logs in", steps=(("Log in", "Errors are shown"),))])
    assert status(report) == {"W-2": "uncovered"} and report["orphan_tests"] == ["TC-1"]


def test_one_shared_term_is_not_enough() -> None:
    reqs = [req("R-1", "Members shall reserve a book that is on loan."), req("R-2", "Members shall pay a fee.")]
    assert status(analyse(reqs, [tc("TC-1", title="Reserve a meeting room")])) == {"R-1": "uncovered",
                                                                                  "R-2": "uncovered"}
    assert status(analyse(reqs, [tc("TC-1", title="Reserve a book on loan")]))["R-1"] == "inferred"


def corpus_precision() -> dict[str, tuple[int, int, int]]:
    """(right, inferred, expected) pairs per document of INFERENCE_CORPUS."""
    out = {}
    for name, data in INFERENCE_CORPUS.items():
        reqs = [req(uid, statement) for uid, statement in data["requirements"].items()]
        tests = [tc(f"{name}-{i}", title=title, steps=tuple((a, "") for a in steps), result=result)
                 for i, (title, steps, result, _want) in enumerate(data["tests"])]
        expected = {(f"{name}-{i}", want) for i, (*_rest, want) in enumerate(data["tests"]) if want}
        got = {(t["tc_id"], row["req_uid"]) for row in analyse(reqs, tests)["rows"] for t in row["tests"]}
        out[name] = (len(got & expected), len(got), len(expected))
    return out


def test_inference_precision_on_the_labelled_corpus() -> None:
    """Before this calibration (plain tokens, any overlap, every match above 0.35): 10/13, 9/9, 6/7 right."""
    assert corpus_precision() == {"webshop": (10, 11, 11), "transport": (9, 9, 9), "library": (6, 6, 6)}


def test_generated_tests_with_ids_stripped_find_their_requirement() -> None:
    """The testers' measure: generated tests without their ids must infer their own requirement, and little else."""
    reqs = requirements()
    tests = []
    for case in generate_test_cases(reqs):
        text = json.dumps(case)
        for r in reqs:
            text = text.replace(r["uid"], "the requirement")
        tests.append(dict(json.loads(text), requirement_uids=[], links=[], want=case["requirement_uids"][0]))
    got = {(t["tc_id"], row["req_uid"]) for row in analyse(reqs, tests)["rows"] for t in row["tests"]}
    expected = {(t["id"], t["want"]) for t in tests}
    # Measured: 50 of 50 right (before: 50 of 54); the misses are boundary cases that quote only the limit.
    assert len(got & expected) / len(got) >= 0.95 and len(got & expected) / len(expected) >= 0.8


# Written for these tests: requirements per document, unlinked tests as (title, steps, expected result, the
# requirement a QA engineer would link or None).
INFERENCE_CORPUS = {
    "webshop": {
        "requirements": {
            "W-1": "Users shall log in with their email address and password.",
            "W-2": "The system shall provide centralized error logging for all services.",
            "W-3": "The system shall lock an account after five failed login attempts.",
            "W-4": "Administrators shall be able to export the order list as a CSV file.",
            "W-5": "The system shall send an order confirmation email within 5 minutes of checkout.",
            "W-6": "Users shall be able to reset their password through a link sent by email.",
            "W-7": "The product search shall return results within 2 seconds.",
            "W-8": "The shopping cart shall keep its items for 30 days for logged-in users.",
            "W-9": "Audit logs shall record every change to user roles.",
            "W-10": "The system shall log out users after 15 minutes of inactivity.",
        },
        "tests": [
            ("Customer logs in with email and password", ["Open the login page", "Enter a registered email and the "
             "password"], "The customer is logged in", "W-1"),
            ("A user logs in successfully", ["Enter valid credentials"], "The dashboard opens", "W-1"),
            ("Errors from every service reach the central log", ["Trigger a failure in the payment service",
             "Open the central error log"], "The error is logged with its service name", "W-2"),
            ("Account locks after repeated wrong passwords", ["Enter a wrong password five times"],
             "The account is locked", "W-3"),
            ("Order list export", ["As an administrator open the orders", "Export them as CSV"],
             "A CSV file with every order is downloaded", "W-4"),
            ("Confirmation mail arrives after checkout", ["Check out an order", "Wait for the mail"],
             "An order confirmation email arrives within 5 minutes", "W-5"),
            ("Password reset by email link", ["Request a password reset", "Open the link from the email"],
             "A new password can be set", "W-6"),
            ("Search answers fast", ["Search the products for shoes"], "Results appear within 2 seconds", "W-7"),
            ("Cart survives a month", ["Log in and add items to the cart", "Come back after 29 days"],
             "The cart still holds its items", "W-8"),
            ("Role changes are audited", ["Give a user the editor role", "Open the audit log"],
             "The role change is recorded", "W-9"),
            ("Idle session ends", ["Log in", "Stay inactive for 15 minutes"], "The user is logged out", "W-10"),
            ("Dark mode persists", ["Enable dark mode", "Reload"], "The theme is kept", None),
            ("Newsletter signup", ["Enter an email in the newsletter form"], "The address is subscribed", None),
            ("Footer links", ["Click every footer link"], "No link is broken", None),
            ("User profile picture upload", ["Upload a PNG as the profile picture"], "The picture is shown", None),
        ],
    },
    "transport": {  # RFC-like: every requirement talks about frames, streams and endpoints
        "requirements": {
            "T-1": "An endpoint MUST close the connection when it receives a frame larger than the maximum frame "
                   "size.",
            "T-2": "A sender MUST NOT send a DATA frame on a stream that is not in the open state.",
            "T-3": "An endpoint SHOULD send a PING frame when no frame has been received for 30 seconds.",
            "T-4": "The receiver MUST acknowledge each SETTINGS frame with an empty SETTINGS frame.",
            "T-5": "An endpoint MUST treat a stream identifier of zero on a HEADERS frame as a connection error.",
            "T-6": "Clients MUST NOT open more than 100 concurrent streams.",
            "T-7": "A GOAWAY frame MUST carry the identifier of the last stream the sender processed.",
            "T-8": "Header field names MUST be converted to lowercase before encoding.",
            "T-9": "An endpoint MAY send a PRIORITY frame for any stream to change its weight.",
            "T-10": "Frames of an unknown type MUST be ignored and discarded.",
        },
        "tests": [
            ("Oversized frame closes the connection", ["Send a frame one byte above the maximum frame size"],
             "The peer closes the connection", "T-1"),
            ("DATA on a closed stream is not sent", ["Close stream 3", "Try to send a DATA frame on stream 3"],
             "No DATA frame leaves the sender", "T-2"),
            ("Keep-alive ping after silence", ["Receive nothing for 30 seconds"], "A PING frame is sent", "T-3"),
            ("SETTINGS are acknowledged", ["Send a SETTINGS frame"],
             "The receiver answers with an empty SETTINGS frame", "T-4"),
            ("HEADERS with stream identifier zero", ["Send a HEADERS frame with stream identifier 0"],
             "A connection error is reported", "T-5"),
            ("Concurrent stream limit", ["Open 101 concurrent streams from the client"],
             "The 101st stream is refused", "T-6"),
            ("GOAWAY names the last processed stream", ["Trigger shutdown after stream 7 was processed"],
             "The GOAWAY frame carries identifier 7", "T-7"),
            ("Header names are lowercased", ["Send a request with header Content-Type"],
             "The encoded header field name is content-type", "T-8"),
            ("Unknown frame types are ignored", ["Send a frame of type 0xFA"],
             "The frame is discarded and the connection stays open", "T-10"),
            ("TLS certificate is validated", ["Connect to a server with an expired certificate"],
             "The handshake fails", None),
            ("Server push disabled", ["Disable push in the client settings"], "No PUSH_PROMISE arrives", None),
        ],
    },
    "library": {
        "requirements": {
            "L-1": "Members shall be able to borrow at most 5 books at a time.",
            "L-2": "The system shall charge a late fee of 0.50 EUR per day for overdue books.",
            "L-3": "Librarians shall be able to add new books to the catalogue.",
            "L-4": "Members should receive a reminder email 2 days before a loan is due.",
            "L-5": "The catalogue search shall match titles, authors and ISBN numbers.",
            "L-6": "Members may reserve a book that is currently on loan.",
        },
        "tests": [
            ("Sixth loan is refused", ["Borrow 5 books as a member", "Try to borrow a sixth book"],
             "The sixth loan is refused", "L-1"),
            ("Late fee for an overdue book", ["Return a book 4 days late"], "A fee of 2.00 EUR is charged", "L-2"),
            ("Librarian adds a book", ["As a librarian add a new book"], "The book appears in the catalogue",
             "L-3"),
            ("Due-date reminder", ["Borrow a book due in 2 days"], "The member gets a reminder email", "L-4"),
            ("Search by ISBN", ["Search the catalogue for an ISBN"], "The matching book is found", "L-5"),
            ("Reserve a borrowed book", ["Reserve a book that is on loan"], "The reservation is kept", "L-6"),
            ("Opening hours page", ["Open the opening hours page"], "The hours are shown", None),
            ("Member changes their email", ["Edit the email address in the member profile"],
             "The new email is saved", None),
        ],
    },
}
