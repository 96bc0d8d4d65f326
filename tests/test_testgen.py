"""Offline test-case generation (agent.testgen): templates, boundary values, stable ids, links."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.testgen import case_id, chunk_requirements, fingerprint, generate_test_cases

FIXTURES = Path(__file__).parent / "fixtures" / "coverage"
AGENT = Path(__file__).parent.parent / "agent"


def req(statement: str, uid: str = "REQ-1", priority: str = "high", **extra: Any) -> dict[str, Any]:
    """Build a requirement the way agent.requirements does."""
    fp = hashlib.sha256(" ".join(statement.split()).lower().encode()).hexdigest()
    return {"uid": uid, "title": statement[:40], "statement": statement, "modality": "shall",
            "priority": priority, "section": "Spec", "fingerprint": fp, **extra}


def fixture_requirements() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "requirements.json").read_text())["requirements"]


def of_type(cases: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in cases if c["type"] == kind]


@pytest.mark.parametrize(("statement", "title"), [
    ("The system shall lock the account after 5 failed login attempts.",
     "Verify that the system locks the account after 5 failed login attempts"),
    ("Passwords must be hashed with bcrypt.", "Verify that passwords are hashed with bcrypt"),
    ("The user may export reports as CSV.", "Verify that the user can export reports as CSV"),
    ("The system shall not store passwords in plain text.",
     "Verify that the system does not store passwords in plain text"),
    ("Sessions must never be shared between users.", "Verify that sessions are not shared between users"),
    ("The API should only accept JSON and shall reject XML.",
     "Verify that the API only accepts JSON and rejects XML"),
    ("When a user logs in, the system will record the time.",
     "Verify that when a user logs in, the system records the time"),
    ("The search index shall be rebuilt nightly.", "Verify that the search index is rebuilt nightly"),
    ("Login is required for all pages.", "Verify that login is required for all pages"),
    ("The client MUST NOT send credentials in the URL.",
     "Verify that the client does not send credentials in the URL"),
    ("Reports from May shall be archived.", "Verify that reports from May are archived"),
    ("When users and admins log in, the system shall record the time.",
     "Verify that when users and admins log in, the system records the time"),
    ("The web app and the API must use TLS.", "Verify that the web app and the API use TLS"),
    ("The number of failed attempts shall be logged.", "Verify that the number of failed attempts is logged"),
])
def test_positive_case_title_is_the_statement_without_its_modal(statement: str, title: str) -> None:
    (positive,) = of_type(generate_test_cases([req(statement)]), "functional")
    assert positive["title"] == title


def test_positive_case_has_setup_act_assert_steps_and_expected_result_from_the_predicate() -> None:
    (case,) = generate_test_cases([req("The cart total must include VAT and shipping costs.", uid="CART-2")])
    assert case["type"] == "functional"
    assert [set(step) for step in case["steps"]] == [{"action", "expected"}] * 3
    assert "CART-2" in case["steps"][0]["action"]
    assert "must include VAT and shipping costs" in case["steps"][1]["action"]
    assert case["steps"][2]["expected"] == "The cart total includes VAT and shipping costs."
    assert case["expected_result"] == "The cart total includes VAT and shipping costs."
    assert isinstance(case["preconditions"], str) and case["preconditions"]


@pytest.mark.parametrize("statement", [
    "The system shall not store passwords in plain text.",
    "Uploaded images must not exceed 5 MB.",
    "The client should not retry more than 3 times.",
    "Sessions must never be shared between users.",
    "Guests may not see prices.",
])
def test_prohibitions_get_a_negative_case(statement: str) -> None:
    cases = generate_test_cases([req(statement)])
    (negative,) = of_type(cases, "negative")
    assert negative["title"].startswith("Negative: attempt to make ")
    assert " not " not in negative["title"]  # it describes the forbidden behaviour itself
    assert "no evidence" in negative["steps"][-1]["expected"]
    assert negative["expected_result"].endswith("the prohibited behaviour cannot be triggered.")


def test_negative_case_wording() -> None:
    (_, negative) = generate_test_cases([req("The system shall not store passwords in plain text.")])
    assert negative["title"] == "Negative: attempt to make the system store passwords in plain text"
    assert negative["steps"][-1]["expected"] == "There is no evidence that the system stores passwords in plain text."
    assert negative["expected_result"] == ("The system does not store passwords in plain text; "
                                           "the prohibited behaviour cannot be triggered.")


@pytest.mark.parametrize("statement", [
    "The system shall store audit logs.", "Users should be able to cancel orders that are not shipped.",
])
def test_no_negative_case_without_a_prohibition(statement: str) -> None:
    assert of_type(generate_test_cases([req(statement)]), "negative") == []


def boundaries(statement: str) -> list[tuple[str, bool]]:
    """Return (quantity under test, accepted?) for each boundary case of a statement."""
    found = []
    for case in of_type(generate_test_cases([req(statement)]), "boundary"):
        m = re.match(r"Boundary: (.+?) against \"", case["title"])
        assert m, case["title"]
        outcome = case["expected_result"]
        assert case["steps"][-1]["expected"] == outcome
        found.append((m.group(1), "outside the limit" not in outcome and "not triggered" not in outcome))
    return found


@pytest.mark.parametrize(("statement", "expected"), [
    ("The service shall lock the account after at most 5 attempts.",
     [("4 attempts", True), ("5 attempts", True), ("6 attempts", False)]),
    ("Search results should be returned within 2 seconds.",
     [("1 second", True), ("2 seconds", True), ("3 seconds", False)]),
    ("A page shall show no more than 50 items.", [("49 items", True), ("50 items", True), ("51 items", False)]),
    ("Passwords must be between 8 and 64 characters.",
     [("7 characters", False), ("8 characters", True), ("9 characters", True),
      ("63 characters", True), ("64 characters", True), ("65 characters", False)]),
    ("Users must answer at least 3 questions.",
     [("2 questions", False), ("3 questions", True), ("4 questions", True)]),
    ("The API shall accept uploads of up to 10 MB.", [("9 MB", True), ("10 MB", True), ("11 MB", False)]),
    ("Availability shall be at least 99.9% per month.", [("99.8%", False), ("99.9%", True), ("100.0%", True)]),
    ("Error rate must stay below 5 percent.", [("4%", True), ("5%", False), ("6%", False)]),
    ("The account shall be locked after 5 failed attempts.",
     [("4 failed attempts", False), ("5 failed attempts", True), ("6 failed attempts", True)]),
    ("A cart must hold more than 2 products.", [("1 product", False), ("2 products", False), ("3 products", True)]),
    ("The report must contain 12 columns or fewer.",
     [("11 columns", True), ("12 columns", True), ("13 columns", False)]),
    ("A team shall have 3 members or more.", [("2 members", False), ("3 members", True), ("4 members", True)]),
    ("Logs must be kept for at least 1 year.", [("0 years", False), ("1 year", True), ("2 years", True)]),
    ("The queue may hold at most five jobs.", [("4 jobs", True), ("5 jobs", True), ("6 jobs", False)]),
    ("The system shall support 10,000 users.", []),
    ("Uploaded images must not exceed 5 MB.", [("4 MB", True), ("5 MB", True), ("6 MB", False)]),
    ("The client should not retry more than 3 times.", [("2 times", True), ("3 times", True), ("4 times", False)]),
    ("Passwords must not be less than 8 characters.",
     [("7 characters", False), ("8 characters", True), ("9 characters", True)]),
])
def test_boundary_cases_at_the_limit_and_one_either_side(statement: str, expected: list[tuple[str, bool]]) -> None:
    assert boundaries(statement) == expected


def test_negated_limits_are_labelled_by_what_is_allowed() -> None:
    titles = [c["title"] for c in of_type(generate_test_cases([req("Values must not exceed 10%.")]), "boundary")]
    assert titles == ['Boundary: 9% against "at most 10%" (just below the limit)',
                      'Boundary: 10% against "at most 10%" (at the limit)',
                      'Boundary: 11% against "at most 10%" (just above the limit)']


def test_boundary_values_stay_in_range() -> None:
    assert [value for value, _ in boundaries("Retries shall be at most 0 per hour.")] == ["0", "1"]
    assert [value for value, _ in boundaries("Coverage shall be at least 100%.")] == ["99%", "100%"]


def test_boundary_case_is_readable() -> None:
    statement = "The shopping cart shall hold no more than 50 items."
    case = of_type(generate_test_cases([req(statement)]), "boundary")[2]
    assert case["title"] == 'Boundary: 51 items against "no more than 50 items" (just above the limit)'
    assert case["steps"][1]["action"] == ('Run the scenario with the quantity under test at 51 items '
                                          '(the limit is "no more than 50 items").')
    assert case["expected_result"] == ('51 items is outside the limit "no more than 50 items": '
                                       'it is rejected or the violation is reported clearly.')


def test_every_case_links_its_requirement_and_copies_its_priority() -> None:
    reqs = fixture_requirements()
    cases = generate_test_cases(reqs)
    by_uid = {r["uid"]: r for r in reqs}
    assert {uid for c in cases for uid in c["requirement_uids"]} == set(by_uid)
    for case in cases:
        (uid,) = case["requirement_uids"]
        assert case["links"] == [{"req_uid": uid, "fingerprint": by_uid[uid]["fingerprint"], "origin": "generated"}]
        assert case["priority"] == by_uid[uid]["priority"]
        assert set(case) == {"id", "title", "preconditions", "steps", "expected_result", "priority", "type",
                             "requirement_uids", "links"}
        assert case["type"] in ("functional", "negative", "boundary")
        assert isinstance(case["preconditions"], str) and case["title"] and case["expected_result"]
        assert all(step["action"] and step["expected"] for step in case["steps"])
        assert len(case["title"]) <= 200


def test_one_positive_case_per_requirement_in_requirement_order() -> None:
    reqs = fixture_requirements()
    cases = generate_test_cases(reqs)
    assert [c["requirement_uids"][0] for c in of_type(cases, "functional")] == [r["uid"] for r in reqs]
    order = {r["uid"]: i for i, r in enumerate(reqs)}
    positions = [order[c["requirement_uids"][0]] for c in cases]
    assert positions == sorted(positions)
    kinds = {"functional": 0, "negative": 1, "boundary": 2}
    for uid in order:
        mine = [kinds[c["type"]] for c in cases if c["requirement_uids"] == [uid]]
        assert mine == sorted(mine) and mine[0] == 0


def test_ids_are_stable_unique_and_idempotent() -> None:
    reqs = fixture_requirements()
    first = generate_test_cases(reqs)
    assert first == generate_test_cases(copy.deepcopy(reqs))
    ids = [c["id"] for c in first]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"TC-[0-9A-F]{10}", i) for i in ids)
    # Ids depend on the requirement's content, not on its position or on the other requirements.
    assert {c["id"] for c in generate_test_cases(reqs[::-1])} == set(ids)
    assert [c["id"] for c in generate_test_cases(reqs[3:4])] == [c["id"] for c in first
                                                                  if c["requirement_uids"] == [reqs[3]["uid"]]]


def test_id_is_a_short_hash_of_fingerprint_kind_and_variant() -> None:
    r = req("The system shall send a receipt.")
    (case,) = generate_test_cases([r])
    assert case["id"] == case_id(r["fingerprint"], "positive", "")
    assert case_id("f", "boundary", "max:5:+1") != case_id("f", "boundary", "max:5:-1")


def test_changed_statement_gets_new_ids() -> None:
    old = generate_test_cases([req("The system shall send a receipt.")])
    new = generate_test_cases([req("The system shall send a receipt by email.")])
    assert old[0]["id"] != new[0]["id"]


def test_identical_statements_keep_distinct_ids() -> None:
    cases = generate_test_cases([req("The system shall log in users.", uid="A-1"),
                                 req("The system shall log in users.", uid="B-1")])
    assert len({c["id"] for c in cases}) == 2
    assert [c["requirement_uids"] for c in cases] == [["A-1"], ["B-1"]]


def test_missing_fingerprint_and_priority_are_derived() -> None:
    r = {"uid": "X-1", "title": "t", "statement": "  The  System shall   WORK. ", "modality": "should"}
    (case,) = generate_test_cases([r])
    assert case["links"][0]["fingerprint"] == fingerprint("the system shall work.")
    assert fingerprint(r["statement"]) == hashlib.sha256(b"the system shall work.").hexdigest()
    assert case["priority"] == "medium"


def test_cases_do_not_share_mutable_parts() -> None:
    cases = generate_test_cases([req("The queue shall hold at most 5 jobs.")])
    cases[0]["links"][0]["origin"] = "edited"
    cases[0]["requirement_uids"].append("X")
    assert all(c["links"][0]["origin"] == "generated" and c["requirement_uids"] == ["REQ-1"] for c in cases[1:])


def test_empty_input() -> None:
    assert generate_test_cases([]) == []


def test_chunk_requirements() -> None:
    reqs = [req(f"The system shall do thing {i}.", uid=f"R-{i}") for i in range(19)]
    chunks = chunk_requirements(reqs)
    assert [len(c) for c in chunks] == [8, 8, 3]
    assert [r for c in chunks for r in c] == reqs
    assert chunk_requirements(reqs, size=19) == [reqs]
    assert chunk_requirements([], size=4) == []
    with pytest.raises(ValueError):
        chunk_requirements(reqs, size=0)


@pytest.mark.parametrize("module", ["testgen.py", "coverage.py", "textmatch.py"])
def test_domain_modules_are_pure(module: str) -> None:
    tree = ast.parse((AGENT / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "hashlib", "re", "decimal", "typing", "collections", "math", "functools", "agent"}
