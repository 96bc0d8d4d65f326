"""The QA endpoints in the browser: preview a document version before saving it, the diff of two versions with the
tests it makes suspect, import a TestRail CSV and a Gherkin .feature file (read with FileReader, the summary shown
with its skipped rows), export links, each generated case's source, and suspect tests beside orphans in coverage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.ui import SPEC, api, project_with_document, register, sign_in
from tests.procutil import Server

Shot = Callable[[Page, str], Path]

V2 = """# Login

REQ-1: The system shall lock an account after 3 failed logins.

## Search

- The search page should answer within 2 seconds.
- REQ-4: The system shall log every search query.
"""

TESTRAIL_CSV = """ID,Title,Section,Priority,Type,Preconditions,Steps (Step),Steps (Expected Result),References
C1,Lock the account,Login,High,Functional,A user exists,Fail to sign in 5 times,The account is locked,REQ-1
C2,Reset the password,Login,Medium,Functional,,Request a reset e-mail,The e-mail arrives,REQ-2
<img src=x onerror=window.pwned=1>,,Login,Low,Functional,,Do something,Nothing happens,
"""

FEATURE = """Feature: Login
  Scenario: Lock after failed logins
    Given a registered user
    When they fail to sign in 5 times
    Then the account is locked

  Scenario: Reset the password by e-mail
    Given a registered user
    When they ask for a reset e-mail
    Then the e-mail arrives
"""


def test_preview_then_create_a_version(new_page: Callable[..., Page], e2e_server: Server, shot: Shot) -> None:
    owner = register(e2e_server.base)
    project = api(e2e_server.base, owner, "POST", "/projects", {"name": "Preview"})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{project['id']}/documents/new")
    form = page.locator("#version-form")
    form.locator("textarea[name=content]").fill(SPEC)
    form.locator("#preview-version").click()
    preview = page.locator("#version-preview")
    expect(preview.locator("h3")).to_have_text("Preview: 3 requirements would be extracted")
    row = preview.locator("tr[data-uid='REQ-1']")
    expect(row.locator("td").nth(1)).to_have_text("Login")
    expect(row.locator("td").nth(2)).to_have_text("shall")
    expect(row.locator("td").nth(3)).to_contain_text("lock an account")
    shot(page, "qa-preview")
    assert api(e2e_server.base, owner, "GET", f"/projects/{project['id']}/document-versions")["total"] == 0
    form.get_by_role("button", name="Create version").click()
    expect(page.locator("#requirements tbody tr")).to_have_count(3)
    expect(preview).to_be_hidden()


def test_version_diff_with_suspect_tests(new_page: Callable[..., Page], e2e_server: Server, shot: Shot) -> None:
    base = e2e_server.base
    owner = register(base)
    project = project_with_document(base, owner)
    pid = project["id"]
    v1 = api(base, owner, "GET", f"/projects/{pid}/document-versions")["items"][0]
    req1 = next(r for r in api(base, owner, "GET", f"/document-versions/{v1['id']}/requirements")["items"]
                if r["uid"] == "REQ-1")
    suite = api(base, owner, "POST", f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Suite", "content": {
        "test_cases": [{"id": "TC-LOCK", "title": "Lockout", "preconditions": "", "steps": [
            {"action": "Fail 5 logins", "expected": "Locked"}], "expected_result": "Locked", "priority": "high",
            "type": "functional", "requirement_uids": ["REQ-1"],
            "links": [{"req_uid": "REQ-1", "fingerprint": req1["fingerprint"], "origin": "manual"}]}]}})
    v2 = api(base, owner, "POST", f"/projects/{pid}/document-versions", {"title": "Spec v2", "content": V2})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/documents/{v2['id']}")
    expect(page.locator("#requirements")).to_be_visible()
    page.locator(f"#versions a.diff-link[data-diff='{v2['id']}']").click()
    diff = page.locator("#diff")
    expect(diff).to_be_visible()
    assert page.url.endswith(f"/documents/{v2['id']}/diff")
    expect(page.locator("#diff-title")).to_have_text("Changes in v2 · Spec v2")
    expect(diff.locator("[data-stat=changed] .value")).to_have_text("1")
    expect(diff.locator("[data-stat=removed] .value")).to_have_text("1")
    expect(diff.locator("[data-stat=added] .value")).to_have_text("1")
    expect(diff.locator("[data-stat='suspect tests'] .value")).to_have_text("1")
    changed = page.locator("#diff-changed tr[data-uid='REQ-1']")
    expect(changed.locator("td.diff-before")).to_contain_text("after 5 failed logins")
    expect(changed.locator("td").nth(2)).to_contain_text("after 3 failed logins")
    expect(page.locator("#diff-removed tr[data-uid='REQ-2']")).to_be_visible()
    expect(page.locator("#diff-added tr[data-uid='REQ-4']")).to_be_visible()
    suspect = page.locator("#suspect-tests li[data-tc='TC-LOCK']")
    expect(suspect).to_contain_text("REQ-1")
    shot(page, "qa-diff")
    # v1 chosen explicitly: the same comparison as the default one (the version just before).
    page.locator("#diff-against").select_option(v1["id"])
    expect(page.locator("#diff-against")).to_have_value(v1["id"])
    expect(diff.locator("[data-stat=changed] .value")).to_have_text("1")
    # The suspect test links to the test case.
    suspect.locator("a.tc-link").click()
    expect(page.locator("#test-cases tr.target")).to_have_attribute("data-id", "TC-LOCK")
    assert page.url.endswith(f"/artifacts/{suite['id']}/TC-LOCK")

    # Coverage lists the suspect test beside the orphans.
    report = api(base, owner, "POST", "/bot/coverage/sync", {"project_id": pid})
    assert report["report"]["suspect_tests"] == ["TC-LOCK"]
    page.goto(f"/#/p/{pid}/artifacts/{report['artifact_id']}")
    expect(page.locator("#suspect-tests a.tc-link[data-tc='TC-LOCK']")).to_be_visible()
    shot(page, "qa-coverage-suspect")


def import_file(page: Page, path: Path) -> Any:
    page.locator("#import-form input[name=suite]").set_input_files(str(path))
    page.locator("#import-form").get_by_role("button", name="Import").click()
    summary = page.locator("#import-summary")
    expect(summary).to_be_visible()
    return summary


def test_import_csv_and_feature_then_export(
        new_page: Callable[..., Page], e2e_server: Server, shot: Shot, tmp_path: Path,
) -> None:
    base = e2e_server.base
    owner = register(base)
    project = project_with_document(base, owner)
    pid = project["id"]
    csv_file = tmp_path / "testrail-suite.csv"
    csv_file.write_text(TESTRAIL_CSV)
    feature = tmp_path / "login.feature"
    feature.write_text(FEATURE)
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/artifacts")
    page.locator("#import-cases").click()
    expect(page.locator("#import-form")).to_be_visible()

    summary = import_file(page, csv_file)
    expect(summary.locator("h3")).to_have_text("Imported 2 of 3 test cases")
    expect(summary).to_contain_text("Format: testrail (detected)")
    expect(summary.locator("#import-skipped li")).to_have_count(1)
    expect(summary.locator("#import-skipped li")).to_contain_text("no title")
    # The file's text reaches the page as text: the skipped row's id is shown, not run.
    expect(summary.locator("#import-skipped li")).to_contain_text("(<img src=x onerror=window.pwned=1>)")
    assert page.evaluate("window.pwned") is None and summary.locator("img").count() == 0
    shot(page, "qa-import-csv")
    summary.locator("#open-import").click()
    expect(page.locator("#artifact-name")).to_have_text("testrail-suite.csv")
    expect(page.locator("#test-cases tbody tr")).to_have_count(2)

    page.locator("#import-cases").click()
    summary = import_file(page, feature)
    expect(summary.locator("h3")).to_have_text("Imported 2 of 2 test cases")
    expect(summary).to_contain_text("Format: gherkin")
    summary.locator("#open-import").click()
    expect(page.locator("#test-cases tbody tr")).to_have_count(2)
    expect(page.locator("#test-cases")).to_contain_text("Lock after failed logins")

    # Export links: each format downloads the suite with this session's cookie.
    links = page.locator("#export a[data-format]")
    expect(links).to_have_count(4)
    for fmt in ("testrail", "gherkin"):
        href = page.locator(f"#export a[data-format={fmt}]").get_attribute("href")
        assert href and href.endswith(f"/export?format={fmt}")
        response = page.request.get(href)
        assert response.status == 200
        assert "attachment" in response.headers["content-disposition"]
        assert ("Feature:" if fmt == "gherkin" else "Title") in response.text()


def test_generated_cases_show_their_source(new_page: Callable[..., Page], e2e_server: Server) -> None:
    base = e2e_server.base
    owner = register(base)
    project = project_with_document(base, owner)
    pid = project["id"]
    started = api(base, owner, "POST", "/bot/test-cases", {"project_id": pid})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/documents")
    done = page.locator(f"#tasks .task[data-task-id='{started['task_id']}'][data-status=succeeded]")
    expect(done).to_be_visible(timeout=30_000)
    done.locator("a.open-artifact").click()
    expect(page.locator("#test-cases tbody tr").first).to_be_visible()
    expect(page.locator("#test-cases tbody tr .source").first).to_have_text("offline")
    report_links = page.locator("#export a[data-format]")
    expect(report_links).to_have_text(["TestRail CSV", "Xray CSV", "Zephyr CSV", "Gherkin"])
