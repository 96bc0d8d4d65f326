"""Test runs: record pass/fail per test case (by hand or from JUnit XML) and see coverage as "has a test"
and as "has a passing test" — the figure an auditor asks for."""

from __future__ import annotations

from typing import Any

from agent.testruns import JUnitProblem, latest_results, parse_junit
from tests.helpers import assert_error, create_project, register_and_login

SPEC = """# Login
REQ-1: The system shall lock an account after 5 failed logins.
REQ-2: The system shall log every login.
REQ-3: The system shall show the last login time.
"""
CASES = {"test_cases": [
    {"id": "TC-LOCK", "title": "Lock after five failures", "preconditions": "", "steps": [
        {"action": "fail 5 logins", "expected": "locked"}], "expected_result": "locked", "priority": "high",
     "type": "functional", "requirement_uids": ["REQ-1"]},
    {"id": "TC-LOG", "title": "Every login is logged", "preconditions": "", "steps": [
        {"action": "log in", "expected": "a log line"}], "expected_result": "logged", "priority": "high",
     "type": "functional", "requirement_uids": ["REQ-2"]},
    {"id": "TC-LAST", "title": "Last login time shown", "preconditions": "", "steps": [
        {"action": "log in twice", "expected": "the first time shown"}], "expected_result": "shown",
     "priority": "low", "type": "functional", "requirement_uids": ["REQ-3"]},
]}
JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="auth" tests="4">
    <testcase classname="auth.LockTest" name="test_TC-LOCK_locks" time="0.12"/>
    <testcase classname="auth.LogTest" name="TC-LOG every login" time="0.3">
      <failure message="no log line">AssertionError</failure>
    </testcase>
    <testcase classname="ui" name="Last login time shown"><skipped message="flaky"/></testcase>
    <testcase classname="ui" name="something nobody wrote down"/>
  </testsuite>
</testsuites>
"""


async def project_with_tests(user: Any) -> dict[str, Any]:
    project = await create_project(user)
    doc = await user.post(f"/projects/{project['id']}/document-versions", {"title": "Spec", "content": SPEC})
    assert doc.status == 201, doc.body
    made = await user.post(f"/projects/{project['id']}/artifacts", {"type": "test_cases", "name": "Suite",
                                                                    "content": CASES})
    assert made.status == 201, made.body
    return project


async def coverage(user: Any, project_id: str) -> dict[str, Any]:
    r = await user.post("/bot/coverage/sync", {"project_id": project_id})
    assert r.status == 200, r.body
    return r.body["report"]


async def test_coverage_counts_requirements_with_a_passing_test_from_a_junit_run(client):
    owner = await register_and_login(client)
    project = await project_with_tests(owner)
    before = await coverage(owner, project["id"])
    assert before["summary"]["coverage_pct"] == 100.0 and before["summary"]["coverage_pct_verified"] == 0.0

    r = await owner.post(f"/projects/{project['id']}/test-runs/import", {"content": JUNIT, "name": "CI #7"})
    assert r.status == 201, r.body
    assert r.body["type"] == "test_run" and r.body["name"] == "CI #7"
    summary = r.body["import_summary"]
    assert (summary["results"], summary["passed"], summary["failed"], summary["skipped"]) == (3, 1, 1, 1)
    assert summary["unmatched"] == [{"testcase": "ui.something nobody wrote down",
                                     "reason": "no test case with this id or title"}]
    results = {x["tc_id"]: x["status"] for x in r.body["content"]["results"]}
    assert results == {"TC-LOCK": "passed", "TC-LOG": "failed", "TC-LAST": "skipped"}

    after = await coverage(owner, project["id"])
    assert after["summary"]["coverage_pct"] == 100.0  # has a test
    assert after["summary"]["verified"] == 1 and after["summary"]["coverage_pct_verified"] == 33.3  # a passing one
    rows = {row["req_uid"]: row for row in after["rows"]}
    assert rows["REQ-1"]["verified"] and not rows["REQ-2"]["verified"]
    assert rows["REQ-2"]["tests"][0]["result"] == "failed"

    # A run recorded by hand later wins for the tests it names.
    fixed = await owner.post(f"/projects/{project['id']}/artifacts", {"type": "test_run", "name": "re-run", "content": {
        "results": [{"tc_id": "TC-LOG", "status": "passed"}]}})
    assert fixed.status == 201, fixed.body
    assert (await coverage(owner, project["id"]))["summary"]["verified"] == 2


async def test_bad_runs_are_clear_errors(client):
    owner = await register_and_login(client)
    project = await project_with_tests(owner)
    url = f"/projects/{project['id']}/test-runs/import"
    assert_error(await owner.post(url, {"content": "<html><body/></html>"}), 422, "validation_error")
    assert_error(await owner.post(url, {"content": "not xml at all <"}), 422, "validation_error")
    nothing = await owner.post(url, {"content": '<testsuite><testcase name="unknown"/></testsuite>'})
    assert_error(nothing, 422, "validation_error")
    assert "No testcase of the report matches" in nothing.body["error"]["details"][0]["msg"]
    bad = await owner.post(f"/projects/{project['id']}/artifacts", {"type": "test_run", "name": "x", "content": {
        "results": [{"tc_id": "TC-LOG", "status": "green"}]}})
    assert_error(bad, 422, "validation_error")
    bomb = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
            '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
            '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
            '<testsuite><testcase name="&h;"/></testsuite>')
    assert (await owner.post(url, {"content": bomb})).status == 422  # expat refuses the expansion


def test_junit_matching_rules():
    cases = [{"id": "TC-A1", "title": "Opens the door"}, {"id": "FR-2.1-T", "title": "Closes"}]
    results, unmatched = parse_junit(
        '<testsuites><testsuite><testcase classname="x.TC-A1" name="t"/>'
        '<testcase name="opens  the DOOR"/><testcase name="closes"><error message="boom"/></testcase>'
        '</testsuite></testsuites>', cases)
    assert results == [{"tc_id": "TC-A1", "status": "passed"},
                       {"tc_id": "FR-2.1-T", "status": "failed", "note": "boom"}]
    assert unmatched == [{"testcase": "opens  the DOOR", "reason": "a second result for TC-A1 (the first counts)"}]
    assert latest_results([{"results": [{"tc_id": "A", "status": "failed"}]},
                           {"results": [{"tc_id": "A", "status": "passed"}, {"tc_id": "B", "status": "odd"}]}]) == {
        "A": "passed"}
    try:
        parse_junit("<testsuite/>", cases)
    except JUnitProblem as exc:
        assert "no <testcase>" in str(exc)
    else:
        raise AssertionError("an empty report is an error")
