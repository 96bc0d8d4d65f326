"""Test runs in the browser: record a JUnit XML report from the import page, see its results, and the coverage
report's "with a passing test" figure beside "covered" — the number an auditor asks for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.ui import api, register, sign_in
from tests.procutil import Server

SPEC = ("# Login\n\nREQ-1: The system shall lock an account after 5 failed logins.\n\n"
        "REQ-2: The system shall log every login.\n")
CASES = {"test_cases": [
    {"id": "TC-LOCK", "title": "Lock after five failures", "preconditions": "", "steps": [
        {"action": "fail 5 logins", "expected": "locked"}], "expected_result": "locked", "priority": "high",
     "type": "functional", "requirement_uids": ["REQ-1"]},
    {"id": "TC-LOG", "title": "Every login is logged", "preconditions": "", "steps": [
        {"action": "log in", "expected": "a log line"}], "expected_result": "logged", "priority": "high",
     "type": "functional", "requirement_uids": ["REQ-2"]}]}
JUNIT = """<testsuite name="auth">
  <testcase classname="auth" name="TC-LOCK locks the account"/>
  <testcase classname="auth" name="TC-LOG logs"><failure message="no line"/></testcase>
  <testcase classname="auth" name="<b>an unknown one</b>"/>
</testsuite>
""".replace("<b>an unknown one</b>", "&lt;b&gt;an unknown one&lt;/b&gt;")


def test_record_a_junit_run_and_see_coverage_with_a_passing_test(
        new_page: Callable[..., Page], e2e_server: Server, tmp_path: Path) -> None:
    base = e2e_server.base
    owner = register(base)
    project = api(base, owner, "POST", "/projects", {"name": "Runs"})
    pid = project["id"]
    api(base, owner, "POST", f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})
    api(base, owner, "POST", f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Suite", "content": CASES})
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/artifacts")
    page.locator("#import-cases").click()
    page.locator("#junit-form input[name=report]").set_input_files(str(report))
    page.locator("#junit-form").get_by_role("button", name="Record run").click()
    result = page.locator("#junit-result")
    expect(result).to_contain_text("Recorded 2 results: 1 passed, 1 failed, 0 skipped.")
    expect(result).to_contain_text("<b>an unknown one</b>")  # shown as text
    assert result.locator("b").count() == 0

    coverage = api(base, owner, "POST", "/bot/coverage/sync", {"project_id": pid})
    page.goto(f"/#/p/{pid}/artifacts/{coverage['artifact_id']}")
    expect(page.locator("#coverage-pct .value")).to_have_text("100.0%")
    expect(page.locator("#verified-pct .value")).to_have_text("50.0%")
    expect(page.locator("#coverage-matrix tr[data-uid='REQ-2']")).to_contain_text("failed")
