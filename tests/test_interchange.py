"""Test-suite interchange over HTTP: import TestRail, Xray, Zephyr CSV and Gherkin, export them back, coverage reports.

Fixtures in tests/fixtures/interchange/ are written for these tests (no third-party files).
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData

from agent.interchange import ImportProblem, export_cases, import_suite
from chatsvc.schemas.artifacts import TestCase, validate_content
from tests.helpers import add_member, assert_error, create_project, register_and_login
from tests.test_artifacts import REPORT

FIXTURES = Path(__file__).parent / "fixtures" / "interchange"
FILES = {"testrail_steps.csv": "testrail", "testrail_text.csv": "testrail", "xray.csv": "xray",
         "zephyr.csv": "zephyr", "login.feature": "gherkin"}
CSV_TYPE = "text/csv; charset=utf-8"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


CARRIED = ("id", "title", "preconditions", "steps", "expected_result", "priority", "type", "requirement_uids")


def without_links(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields a suite file carries (`links` hold fingerprints no format has a column for)."""
    return [{k: case[k] for k in CARRIED} for case in cases]


async def setup(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    return owner, pid


async def import_text(user, pid, text, **extra):
    return await user.post(f"/projects/{pid}/artifacts/import", {"content": text, **extra})


async def export(user, artifact_id, fmt):
    r = await user.get(f"/artifacts/{artifact_id}/export?format={fmt}")
    return r, (r.body.decode("utf-8") if isinstance(r.body, bytes) else r.body)


# -- reading each shape (pure) --------------------------------------------------------------------------------------


def test_testrail_steps_rows_and_skips():
    result = import_suite(fixture("testrail_steps.csv"))
    assert (result.format, result.detected, result.found, len(result.cases)) == ("testrail", True, 5, 4)
    first = result.cases[0]
    assert first["id"] == "C101" and first["priority"] == "high" and first["type"] == "functional"
    assert first["requirement_uids"] == ["REQ-1", "REQ-2"]
    assert [s["action"] for s in first["steps"]] == [
        "Open the sign-in page", 'Enter ana@example.org and the password "Tr0ub4dor&3"', "Press Sign in"]
    assert first["steps"][2]["expected"] == "The dashboard opens\nand greets Ana by name"  # a quoted line break
    assert first["expected_result"] == first["steps"][2]["expected"]  # no Expected Result column
    by_id = {c["id"]: c for c in result.cases}
    assert (by_id["C102"]["priority"], by_id["C102"]["type"]) == ("high", "negative")  # Critical
    assert (by_id["C103"]["priority"], by_id["C103"]["type"]) == ("medium", "boundary")  # "3 - Medium"
    assert by_id["C103"]["requirement_uids"] == ["FR-1.2", "NFR-PR1"]
    assert result.notes.skipped == [{"where": "row 9", "source_id": "C104", "reason": "The test case has no title."}]
    assert result.notes.warnings == [{"where": "header", "message": "Columns not imported: Template, Estimate."}]
    assert result.sections["C103"] == "Accounts > Passwords"


def test_testrail_text_template_with_excel_sep_line():
    result = import_suite(fixture("testrail_text.csv"))
    c7 = result.cases[0]
    assert [s["action"] for s in c7["steps"]] == ["Open the report list", "Select the monthly report",
                                                  "Choose Export > PDF"]
    assert c7["expected_result"] == "The PDF downloads and holds every table of the report"
    assert (c7["priority"], c7["requirement_uids"]) == ("high", ["U1", "S12"])  # "4 - Must Test"
    assert result.cases[1]["priority"] == "medium"  # P2


def test_xray_rows_grouped_by_key_with_bom():
    result = import_suite(fixture("xray.csv"))
    assert result.format == "xray"
    calc10 = result.cases[0]
    assert calc10["id"] == "CALC-10" and len(calc10["steps"]) == 3
    assert calc10["steps"][0] == {"action": "Type the first number\nTest data: 12", "expected": "The display shows 12"}
    assert calc10["priority"] == "high" and calc10["requirement_uids"] == ["CALC-1"]
    assert result.cases[1]["requirement_uids"] == ["CALC-2", "CALC-3"] and result.cases[1]["type"] == "negative"
    assert len(result.cases[2]["steps"]) == 2 and result.cases[2]["type"] == "boundary"


def test_zephyr_objective_and_coverage():
    result = import_suite(fixture("zephyr.csv"))
    t1, t2, t3 = result.cases
    assert t1["expected_result"] == "The basket holds the item and the total is updated"
    assert t1["requirement_uids"] == ["SHOP-5", "SHOP-6"] and len(t1["steps"]) == 2
    assert (t2["priority"], t2["type"]) == ("medium", "boundary")  # Normal; labels "boundary edge"
    assert t3["expected_result"] == ""  # an empty Objective stays empty
    assert result.sections == {"SHOP-T1": "/Basket", "SHOP-T2": "/Basket/Limits", "SHOP-T3": "/Checkout"}


def test_gherkin_background_outline_tags_and_rule():
    result = import_suite(fixture("login.feature"), filename="login.feature")
    assert result.format == "gherkin"
    by_title = {c["title"]: c for c in result.cases}
    ok = by_title["Successful sign-in"]
    assert ok["id"] == "LOGIN-1" and ok["priority"] == "high"
    assert ok["preconditions"] == ('a registered user "ana@example.org" with the password "Tr0ub4dor&3"\n'
                                   "the sign-in page is open")
    assert ok["steps"] == [
        {"action": "she enters her e-mail address and password", "expected": ""},
        {"action": 'she presses "Sign in"', "expected": "the dashboard opens\nit greets her by name"}]
    wrong = by_title["Wrong password"]
    assert wrong["type"] == "negative" and wrong["requirement_uids"] == ["REQ-1", "FR-1.2", "legacy_login"]
    assert wrong["expected_result"] == "she is still signed out"  # a second Then group
    assert wrong["id"].startswith("TC-") and len(wrong["id"]) == 13
    lock4, lock5 = by_title["Lock after 4 failures"], by_title["Lock after 5 failures"]
    assert (lock4["id"], lock5["id"]) == ("TC-LOCK-1-1", "TC-LOCK-1-2")
    assert lock5["steps"] == [{"action": "she enters a wrong password 5 times", "expected": "the account is locked"}]
    assert (lock5["priority"], lock5["type"]) == ("high", "boundary")
    assert "| e-mail   | text     |" in by_title["Sign-in form fields"]["steps"][0]["expected"]
    assert result.sections[lock4["id"]] == "Sign-in / Lockout"
    assert any("Not a Gherkin step" in w["message"] for w in result.notes.warnings)
    again = import_suite(fixture("login.feature"))
    assert [c["id"] for c in again.cases] == [c["id"] for c in result.cases]  # hashed ids are stable


@pytest.mark.parametrize("text", [
    "ID;Title;Priority\nC1;Semicolons work;High\n",
    "\ufeffID,Title,Priority\r\nC1,Semicolons work,High\r\n",
    "ID\tTitle\tPriority\nC1\tSemicolons work\tHigh\n",
    'sep=,\nID,Title,Priority\nC1,"Semicolons work",High\n',
])
def test_delimiters_bom_and_line_ends(text):
    result = import_suite(text)
    assert [(c["id"], c["title"], c["priority"]) for c in result.cases] == [("C1", "Semicolons work", "high")]


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ('{"test_cases": []}', "not a test suite"),
    ("Just some prose.\nAnd more prose.", "not a test suite"),
    ('ID,Title\nC1,"never closed\n', "malformed"),
    ("ID,Title\n", "no test case"),
    ("ID,Title\nC1,\nC2,\n", "no test case"),
    ("Scenario: no feature\n  When x\n", "not a test suite"),
    ("Feature: F\n  Scenario: S\n    Given a\n      \"\"\"\n      never closed\n", "not closed"),
    ("# language: fr\nFonctionnalité: F\n", "only English"),
    ("# language: fr\nFeature: F\n", "only English"),
])
def test_unimportable_files_are_refused(text, fragment):
    with pytest.raises(ImportProblem, match=fragment):
        import_suite(text)


def test_case_limit_and_long_fields():
    rows = "".join(f"C{i},Case {i}\n" for i in range(5001))
    with pytest.raises(ImportProblem, match="more than 5000"):
        import_suite("ID,Title\n" + rows)
    result = import_suite("ID,Title,References\nbad id!,"+ "x" * 600 + ",REQ-1 " + "R" * 70 + "\n")
    case = result.cases[0]
    assert len(case["title"]) == 500 and case["id"].startswith("TC-") and case["requirement_uids"] == ["REQ-1"]
    assert len(result.notes.warnings) == 3  # cut title, replaced id, dropped reference


def test_skips_are_listed_up_to_200_and_all_counted():
    text = "ID,Title\n" + "".join(f"C{i},\n" for i in range(300)) + "C999,Kept\n"
    result = import_suite(text)
    summary = result.summary("x.csv")
    assert (summary["imported"], summary["found"], summary["skipped_count"]) == (1, 301, 300)
    assert len(summary["skipped"]) == 200 and summary["skipped"][0]["where"] == "row 2"


def test_a_given_format_needs_its_title_column():
    with pytest.raises(ImportProblem, match="no title column"):
        import_suite("Key,Name\nT-1,x\n", "xray")
    assert import_suite("Key,Summary\nT-1,x\n", "xray").cases[0]["id"] == "T-1"


# -- HTTP: import, read back, export, round trip --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILES))
async def test_import_each_format_and_read_back(client, name):
    owner, pid = await setup(client)
    r = await import_text(owner, pid, fixture(name), filename=name)
    assert r.status == 201, r.body
    summary = r.body["import_summary"]
    assert (summary["format"], summary["detected"], summary["filename"]) == (FILES[name], True, name)
    assert summary["imported"] == len(r.body["content"]["test_cases"]) > 0
    assert (r.body["type"], r.body["name"], r.body["version"]) == ("test_cases", name, 1)
    expected = import_suite(fixture(name), filename=name)
    got = await owner.get(f"/artifacts/{r.body['id']}")
    assert got.status == 200
    assert got.body["content"]["test_cases"] == expected.cases
    assert got.body["content"]["imported_from"] == {"format": FILES[name], "filename": name}
    assert "import_summary" not in got.body


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("fmt", ["testrail", "xray", "zephyr", "gherkin"])
async def test_round_trip_over_http(client, name, fmt):
    owner, pid = await setup(client)
    made = await import_text(owner, pid, fixture(name), filename=name, name="Suite")
    assert made.status == 201, made.body
    r, text = await export(owner, made.body["id"], fmt)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == (CSV_TYPE if fmt != "gherkin" else "text/plain; charset=utf-8")
    ext = "feature" if fmt == "gherkin" else "csv"
    assert r.headers["Content-Disposition"].startswith(f'attachment; filename="Suite.{ext}"')
    back = await import_text(owner, pid, text, format=fmt)
    assert back.status == 201, back.body
    assert back.body["import_summary"]["skipped_count"] == 0
    before, after = made.body["content"], back.body["content"]
    if fmt == "gherkin" and name == "zephyr.csv":
        # Gherkin cannot say "no overall expected result" when the last step has one (agent.gherkin).
        before = copy.deepcopy(before)
        for case in before["test_cases"]:
            case["expected_result"] = case["expected_result"] or case["steps"][-1]["expected"]
    if fmt == "gherkin" and name == "testrail_text.csv":
        # ... nor an overall expected result when the last step has none: it becomes that step's.
        before = copy.deepcopy(before)
        for case in before["test_cases"]:
            case["steps"][-1]["expected"] = case["steps"][-1]["expected"] or case["expected_result"]
    assert without_links(after["test_cases"]) == without_links(before["test_cases"])
    if fmt != "gherkin":
        assert after.get("sections") == before.get("sections")


def test_round_trip_of_generated_cases():
    """Cases as the offline generator writes them survive every format exactly (links aside)."""
    from agent.testgen import generate_test_cases

    reqs = [{"uid": "REQ-1", "statement": "The system shall lock an account after at most 5 failed sign-ins."},
            {"uid": "FR-1.2", "statement": "Users must not export more than 100 rows per minute."}]
    cases = [{k: v for k, v in case.items() if k in TestCase.model_fields} for case in generate_test_cases(reqs)]
    content = validate_content("test_cases", {"test_cases": cases})
    for fmt in ("testrail", "xray", "zephyr", "gherkin"):
        back = import_suite(export_cases(content, fmt, "Generated"), fmt)
        assert without_links(back.cases) == without_links(content["test_cases"]), fmt


async def test_import_an_uploaded_file(client):
    owner, pid = await setup(client)
    form = FormData()
    form.add_field("file", fixture("login.feature").encode("utf-8"), filename="login.feature",
                   content_type="text/plain")
    up = await owner.post(f"/projects/{pid}/files", data=form)
    assert up.status == 201, up.body
    r = await owner.post(f"/projects/{pid}/artifacts/import", {"file_id": up.body["id"]})
    assert r.status == 201, r.body
    assert r.body["name"] == "login.feature" and r.body["import_summary"]["format"] == "gherkin"
    missing = await owner.post(f"/projects/{pid}/artifacts/import", {"file_id": "nope"})
    assert_error(missing, 422, "validation_error")
    assert missing.body["error"]["details"][0]["loc"] == ["body", "file_id"]


async def test_bad_inputs_are_422_or_413(client):
    owner, pid = await setup(client)
    r = await import_text(owner, pid, "Just prose, no columns we know.")
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "content"]
    assert "Columns found: Just prose" in r.body["error"]["message"]
    r = await import_text(owner, pid, 'ID,Title\nC1,"open\n')
    assert_error(r, 422, "validation_error")
    r = await import_text(owner, pid, "ID,Title\nC1,\n")
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][1]["msg"] == "row 2: The test case has no title."
    r = await import_text(owner, pid, "")
    assert_error(r, 422, "validation_error")
    r = await import_text(owner, pid, "ID,Title\nC1,x\n", format="cucumber")
    assert_error(r, 422, "validation_error")
    r = await owner.post(f"/projects/{pid}/artifacts/import", {"content": "ID,Title\nC1,x\n", "file_id": "abc"})
    assert_error(r, 422, "validation_error")
    r = await import_text(owner, pid, "ID,Title\nC1,x\n", format="gherkin")
    assert_error(r, 422, "validation_error")
    big = json.dumps({"content": "ID,Title\nC1," + "x" * (2 * 1024 * 1024) + "\n"}).encode()
    r = await owner.call("POST", f"/projects/{pid}/artifacts/import", data=io.BytesIO(big),
                         headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


async def test_who_may_import_and_export(client):
    owner, pid = await setup(client)
    viewer, editor, outsider = [await register_and_login(client) for _ in range(3)]
    await add_member(owner, pid, viewer, "viewer")
    await add_member(owner, pid, editor, "editor")
    text = fixture("xray.csv")
    assert_error(await import_text(viewer, pid, text), 403, "forbidden")
    assert_error(await import_text(outsider, pid, text), 404, "not_found")
    made = await import_text(editor, pid, text)
    assert made.status == 201 and made.body["created_by"] == editor.id
    r, _ = await export(viewer, made.body["id"], "xray")
    assert r.status == 200
    r, _ = await export(outsider, made.body["id"], "xray")
    assert_error(r, 404, "not_found")


async def test_export_guards_against_csv_injection(client):
    owner, pid = await setup(client)
    case = {"id": "TC-1", "title": "=1+2", "preconditions": "@SUM(A1)", "steps": [
        {"action": "-5 items", "expected": "+cmd|' /C calc'!A0"}, {"action": "\tTabbed", "expected": "'=quoted"}],
        "expected_result": "plain", "priority": "low", "type": "negative", "requirement_uids": ["REQ-1"]}
    made = await owner.post(f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Evil",
                                                           "content": {"test_cases": [case]}})
    assert made.status == 201, made.body
    for fmt in ("testrail", "xray", "zephyr"):
        r, text = await export(owner, made.body["id"], fmt)
        cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
        assert "'=1+2" in cells and "'@SUM(A1)" in cells and "'-5 items" in cells and "'\tTabbed" in cells
        assert "''=quoted" in cells
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
        back = import_suite(text, fmt)
        assert without_links(back.cases) == without_links([{**case, "links": []}])


async def test_export_format_must_fit_the_type(client):
    owner, pid = await setup(client)
    made = await import_text(owner, pid, fixture("xray.csv"))
    r, _ = await export(owner, made.body["id"], "html")
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["query", "format"]
    r, _ = await export(owner, made.body["id"], "pdf")
    assert_error(r, 422, "validation_error")
    note = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "N", "content": {"t": 1}})
    r, _ = await export(owner, note.body["id"], "csv")
    assert_error(r, 422, "validation_error")
    r, _ = await export(owner, "no-such-id", "csv")
    assert_error(r, 404, "not_found")


async def test_coverage_report_exports(client):
    owner, pid = await setup(client)
    report = copy.deepcopy(REPORT)
    report["rows"][0]["title"] = '<script>alert("x")</script> | *bold* =cmd'
    made = await owner.post(f"/projects/{pid}/artifacts", {"type": "coverage_report", "name": "Cov <1>",
                                                           "content": report})
    assert made.status == 201, made.body
    r, text = await export(owner, made.body["id"], "csv")
    assert r.headers["Content-Type"] == CSV_TYPE
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["Requirement", "Title", "Priority", "Status", "Tests"]
    assert rows[1][0] == "REQ-1" and rows[1][3] == "covered" and rows[1][4] == "TC-1 (explicit)"
    assert rows[2][:4] == ["REQ-2", "Length", "high", "uncovered"]
    r, text = await export(owner, made.body["id"], "markdown")
    assert r.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert "| Coverage (explicit) | 50.0 % |" in text and "\\<script\\>" in text and "\\| \\*bold\\*" in text
    assert "## Uncovered requirements\n\n- REQ\\-2" not in text and "- REQ-2" in text
    r, text = await export(owner, made.body["id"], "html")
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="Cov <1>.html"')
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in r.headers["Content-Security-Policy"]
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<script" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "<title>Coverage report: Cov &lt;1&gt;</title>" in text
    r, _ = await export(owner, made.body["id"], "testrail")
    assert_error(r, 422, "validation_error")


async def test_openapi_describes_import_and_export(client):
    spec = (await (await register_and_login(client)).get("/openapi.json")).body
    imp = spec["paths"]["/api/v1/projects/{id}/artifacts/import"]["post"]
    assert set(imp["requestBody"]["content"]) == {"application/json"}
    assert imp["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ArtifactImportOut"}
    assert {"403", "404", "413", "422"} <= set(imp["responses"])
    exp = spec["paths"]["/api/v1/artifacts/{id}/export"]["get"]
    assert "text/csv" in exp["responses"]["200"]["content"]
    assert any(p["name"] == "format" and p["in"] == "query" and p["required"] for p in exp["parameters"])
    assert "ImportSummary" in spec["components"]["schemas"]


async def test_a_thousand_cases_import_off_the_loop(client):
    owner, pid = await setup(client)
    rows = "".join(f'C{i},Case number {i},High,REQ-{i % 50},"Open page {i}",Page {i} shows\n' for i in range(1000))
    text = "ID,Title,Priority,References,Steps (Step),Steps (Expected Result)\n" + rows
    r = await import_text(owner, pid, text)
    assert r.status == 201, r.body
    assert r.body["import_summary"]["imported"] == 1000
