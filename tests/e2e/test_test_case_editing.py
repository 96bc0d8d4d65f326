"""Test cases edited by hand in the browser, at a laptop's 1280×800 and a phone's 390×844: edit a case and see it
live in another editor's tab, add one, check two and delete them, read a case's history, meet a stale edit (409:
the form keeps what was typed and offers Reload), field errors beside their fields, a viewer without edit
controls, and the filter boxes of the chat and artifact lists. Screenshots go to test-artifacts/screenshots/
(test-case-editing-<size>-<step>)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.ui import SIZES, api, horizontal_overflow, project_with_document, register, sign_in
from tests.procutil import Server

Shot = Callable[[Page, str], Path]
XSS = "<img src=x onerror=window.pwned=1>"


def case(tc_id: str, title: str, uid: str = "REQ-1") -> dict[str, Any]:
    return {"id": tc_id, "title": title, "preconditions": "A registered user",
            "steps": [{"action": "Open the sign-in page", "expected": "The form is shown"},
                      {"action": "Enter a wrong password five times", "expected": "An error each time"}],
            "expected_result": "The account is locked", "priority": "high", "type": "functional",
            "requirement_uids": [uid], "links": []}


def seeded(base: str) -> dict[str, Any]:
    """alice owns a project with a four-case suite; bob edits and carol views it."""
    alice, bob, carol = register(base, "alice"), register(base, "bob"), register(base, "carol")
    pid = project_with_document(base, alice)["id"]
    api(base, alice, "POST", f"/projects/{pid}/members", {"username": bob["username"], "role": "editor"})
    api(base, alice, "POST", f"/projects/{pid}/members", {"username": carol["username"], "role": "viewer"})
    suite = api(base, alice, "POST", f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Login suite",
                "content": {"test_cases": [case("TC-1", "Lock after failed logins"),
                                           case("TC-2", "Reset the password by email", "REQ-2"),
                                           case("TC-3", "Obsolete case one"), case("TC-4", "Obsolete case two")]}})
    return {"alice": alice, "bob": bob, "carol": carol, "pid": pid, "suite": suite["id"]}


def open_suite(page: Page, data: dict[str, Any], user: str) -> None:
    sign_in(page, data[user]["username"])
    page.goto(f"/#/p/{data['pid']}/artifacts/{data['suite']}")
    expect(page.locator("#test-cases tbody tr")).to_have_count(4)


def row(page: Page, tc_id: str) -> Locator:
    return page.locator(f"#test-cases tbody tr[data-id='{tc_id}']")


def fits(page: Page, what: str) -> None:
    problems = horizontal_overflow(page)
    assert not problems, f"{what}: {problems}"


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_edit_add_delete_and_history(new_page: Callable[..., Page], e2e_server: Server, shot: Shot, size: str) -> None:
    data = seeded(e2e_server.base)
    alice, bob = new_page(viewport=SIZES[size]), new_page(viewport=SIZES[size])
    open_suite(alice, data, "alice")
    open_suite(bob, data, "bob")

    # Edit TC-1: a new title, one step removed and one added, another priority and requirement.
    row(alice, "TC-1").get_by_role("button", name="Edit TC-1").click()
    form = alice.locator("#tc-form")
    expect(form.locator("input[name=title]")).to_have_value("Lock after failed logins")
    expect(form.locator("li.step-row")).to_have_count(2)
    form.locator("input[name=title]").fill("Lock the account after five failed logins")
    form.locator("li.step-row").nth(1).get_by_role("button", name="Remove this step").click()
    form.locator("#tc-add-step").click()
    step = form.locator("li.step-row").nth(1)
    step.locator("textarea[name=action]").fill("Enter a wrong password 5 times")
    step.locator("textarea[name=expected]").fill("The account is locked for 15 minutes")
    form.locator("select[name=priority]").select_option("medium")
    form.locator("input[name=requirement_uids]").fill("REQ-1, REQ-2")
    fits(alice, "edit form")
    shot(alice, f"test-case-editing-{size}-edit-form")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    for page in (alice, bob):   # bob's tab shows it live, without a reload
        edited = row(page, "TC-1")
        expect(edited).to_contain_text("Lock the account after five failed logins")
        expect(edited).to_contain_text("The account is locked for 15 minutes")
        expect(edited.locator("code.req")).to_have_text(["REQ-1", "REQ-2"])
        expect(edited.locator(".prio")).to_have_text("medium")
    shot(bob, f"test-case-editing-{size}-live-in-other-tab")

    # Add a case by hand: its text is shown as text, never run.
    alice.locator("#tc-add").click()
    form = alice.locator("#tc-form")
    form.locator("input[name=title]").fill(f"Manual check {XSS}")
    form.locator("#tc-add-step").click()
    form.locator("li.step-row textarea[name=action]").fill("Open the audit log")
    form.locator("li.step-row textarea[name=expected]").fill("The lock is logged")
    form.locator("select[name=type]").select_option("negative")
    form.locator("input[name=requirement_uids]").fill("REQ-1")
    form.get_by_role("button", name="Add test case").click()
    expect(form).to_have_count(0)
    for page in (alice, bob):
        expect(page.locator("#test-cases tbody tr")).to_have_count(5)
        added = page.locator("#test-cases tbody tr", has_text="Manual check")
        expect(added).to_contain_text(XSS)
        expect(added.locator("code").first).to_have_text(re.compile(r"^TC-[0-9A-Fa-f]{8}$"))
        assert page.locator("#test-cases img").count() == 0 and page.evaluate("window.pwned") is None

    # Check two cases and delete them (the button asks for a second click).
    delete = alice.locator("#tc-delete-selected")
    expect(delete).to_be_disabled()
    row(alice, "TC-3").get_by_label("Select TC-3").check()
    row(alice, "TC-4").get_by_label("Select TC-4").check()
    expect(delete).to_have_text("Delete selected (2)")
    fits(alice, "two selected")
    shot(alice, f"test-case-editing-{size}-selected")
    delete.click()
    expect(delete).to_have_text("Click again to confirm")
    delete.click()
    for page in (alice, bob):
        expect(page.locator("#test-cases tbody tr")).to_have_count(3)
        expect(row(page, "TC-3")).to_have_count(0)
        expect(row(page, "TC-4")).to_have_count(0)
    expect(alice.locator("#tc-delete-selected")).to_have_text("Delete selected (0)")

    # The history of TC-1 (read in bob's tab): alice's edit, field by field, then the case as created.
    row(bob, "TC-1").get_by_role("button", name="History of TC-1").click()
    history = bob.locator("#tc-history")
    revisions = history.locator("li.tc-revision")
    expect(revisions).to_have_count(2)
    newest = revisions.first
    expect(newest).to_have_attribute("data-action", "edited")
    expect(newest.locator(".who")).to_have_text(data["alice"]["username"])
    title = newest.locator("dd[data-field=title]")
    expect(title.locator(".diff-before")).to_have_text("Lock after failed logins")
    expect(title.locator(".diff-after")).to_contain_text("Lock the account after five failed logins")
    expect(newest.locator("dd[data-field=priority]")).to_contain_text("high")
    expect(newest.locator("dd[data-field=requirement_uids] .diff-after")).to_contain_text("REQ-1, REQ-2")
    expect(revisions.nth(1)).to_have_attribute("data-action", "created")
    fits(bob, "history")
    shot(bob, f"test-case-editing-{size}-history")
    fits(alice, "after the edits")
    shot(alice, f"test-case-editing-{size}-table")


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_stale_edit_is_a_conflict_that_keeps_the_text(
        new_page: Callable[..., Page], e2e_server: Server, page_errors: Any, shot: Shot, size: str,
) -> None:
    page_errors.expect("status of 409")
    data = seeded(e2e_server.base)
    alice, bob = new_page(viewport=SIZES[size]), new_page(viewport=SIZES[size])
    open_suite(alice, data, "alice")
    open_suite(bob, data, "bob")
    for page in (alice, bob):
        row(page, "TC-2").get_by_role("button", name="Edit TC-2").click()
        expect(page.locator("#tc-form input[name=title]")).to_have_value("Reset the password by email")

    # bob saves first; alice's open form is kept and says the case changed.
    bob.locator("#tc-form input[name=title]").fill("Reset the password with an emailed link")
    bob.locator("#tc-form").get_by_role("button", name="Save").click()
    expect(bob.locator("#tc-form")).to_have_count(0)
    form = alice.locator("#tc-form")
    expect(form.locator(".tc-banner")).to_contain_text("This test case changed")
    expect(row(alice, "TC-2")).to_contain_text("Reset the password with an emailed link")

    # alice saves anyway: the server refuses (409), her text stays, and Reload brings bob's version.
    typed = "Reset the password and sign in again"
    form.locator("input[name=title]").fill(typed)
    form.locator("textarea[name=expected_result]").fill("Signed in with the new password")
    form.get_by_role("button", name="Save").click()
    banner = form.locator(".tc-banner")
    expect(banner).to_contain_text(data["bob"]["username"])
    expect(banner.get_by_role("button", name="Reload")).to_be_visible()
    expect(form.locator("input[name=title]")).to_have_value(typed)
    expect(form.locator("textarea[name=expected_result]")).to_have_value("Signed in with the new password")
    fits(alice, "conflict")
    shot(alice, f"test-case-editing-{size}-conflict")
    banner.get_by_role("button", name="Reload").click()
    expect(form.locator("input[name=title]")).to_have_value("Reset the password with an emailed link")
    expect(banner).to_be_hidden()
    # From the newest version an edit goes through.
    form.locator("input[name=title]").fill(typed)
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    expect(row(bob, "TC-2")).to_contain_text(typed)


def test_save_mine_anyway_and_a_case_deleted_while_open(
        new_page: Callable[..., Page], e2e_server: Server, page_errors: Any,
) -> None:
    page_errors.expect("status of 409")
    base = e2e_server.base
    data = seeded(base)
    page = new_page()
    open_suite(page, data, "alice")
    row(page, "TC-1").get_by_role("button", name="Edit TC-1").click()
    form = page.locator("#tc-form")
    expect(form.locator("input[name=title]")).to_have_value("Lock after failed logins")
    # bob changes the expected result over REST; alice changes the title and keeps hers after the 409.
    api(base, data["bob"], "PATCH", f"/artifacts/{data['suite']}/test-cases/TC-1",
        {"expected_result": "Locked for an hour", "base_revision": 1})
    expect(form.locator(".tc-banner")).to_contain_text("This test case changed")
    form.locator("input[name=title]").fill("Lock after five failed logins")
    form.get_by_role("button", name="Save").click()
    form.locator(".tc-banner").get_by_role("button", name="Save mine anyway").click()
    expect(form).to_have_count(0)
    # Only the fields alice changed were sent: bob's expected result stays.
    expect(row(page, "TC-1")).to_contain_text("Lock after five failed logins")
    expect(row(page, "TC-1")).to_contain_text("Locked for an hour")

    row(page, "TC-2").get_by_role("button", name="Edit TC-2").click()
    expect(form.locator("input[name=title]")).to_have_value("Reset the password by email")
    form.locator("input[name=title]").fill("Still typing")
    api(base, data["bob"], "POST", f"/artifacts/{data['suite']}/test-cases/delete", {"ids": ["TC-2"]})
    expect(form.locator(".tc-banner")).to_contain_text("deleted")
    expect(form.locator("input[name=title]")).to_have_value("Still typing")
    expect(row(page, "TC-2")).to_have_count(0)


def test_field_errors_are_shown_beside_their_fields(
        new_page: Callable[..., Page], e2e_server: Server, page_errors: Any, shot: Shot,
) -> None:
    page_errors.expect("status of 422")
    data = seeded(e2e_server.base)
    page = new_page(viewport=SIZES["phone"])
    open_suite(page, data, "alice")
    row(page, "TC-1").get_by_role("button", name="Edit TC-1").click()
    form = page.locator("#tc-form")
    form.locator("input[name=title]").fill("")
    form.get_by_role("button", name="Save").click()
    expect(form.locator("label.field-title .field-error")).to_have_text("A title is required.")
    form.locator("input[name=title]").fill("A fine title")
    # The server's 422: a step without an action, a requirement id longer than 64 characters.
    form.locator("li.step-row").first.locator("textarea[name=action]").fill("")
    form.locator("input[name=requirement_uids]").fill("REQ-1 " + "X" * 70)
    form.get_by_role("button", name="Save").click()
    expect(form.locator("li.step-row").first.locator(".field-error")).to_be_visible()
    expect(form.locator("label.field-requirement_uids .field-error")).to_be_visible()
    expect(form.locator("input[name=title]")).to_have_value("A fine title")
    fits(page, "field errors")
    shot(page, "test-case-editing-phone-field-errors")


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_a_viewer_sees_no_edit_controls(new_page: Callable[..., Page], e2e_server: Server, shot: Shot,
                                        size: str) -> None:
    data = seeded(e2e_server.base)
    page = new_page(viewport=SIZES[size])
    open_suite(page, data, "carol")
    expect(page.locator("#tc-add")).to_have_count(0)
    expect(page.locator("#tc-toolbar")).to_be_hidden()
    expect(page.locator("#test-cases .tc-edit")).to_have_count(0)
    expect(page.locator("#test-cases input[type=checkbox]")).to_have_count(0)
    row(page, "TC-1").get_by_role("button", name="History of TC-1").click()
    expect(page.locator("#tc-history li.tc-revision")).to_have_count(1)
    fits(page, "viewer")
    shot(page, f"test-case-editing-{size}-viewer")


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_search_the_chat_and_artifact_lists(new_page: Callable[..., Page], e2e_server: Server, shot: Shot,
                                            size: str) -> None:
    base = e2e_server.base
    data = seeded(base)
    alice = data["alice"]
    for title in ("Release questions", "Login bugs", "Release notes draft"):
        api(base, alice, "POST", "/chat/sessions", {"title": title})
    api(base, alice, "POST", f"/projects/{data['pid']}/artifacts",
        {"type": "note", "name": "Release checklist", "content": {"text": "ship it"}})
    page = new_page(viewport=SIZES[size])
    sign_in(page, alice["username"])

    page.goto("/#/chats")
    chats = page.locator("#sessions li:has(a):not([hidden])")
    expect(chats).to_have_count(3)
    page.get_by_label("Search chats").fill("release")
    expect(chats).to_have_count(2)
    expect(page.locator(".list-filter .list-count")).to_have_text("2 of 3")
    page.get_by_label("Search chats").fill("release draft")
    expect(chats.locator("a")).to_have_text(["Release notes draft"])
    fits(page, "chat search")
    shot(page, f"test-case-editing-{size}-chat-search")
    page.get_by_label("Search chats").fill("nothing like it")
    expect(chats).to_have_count(0)
    expect(page.locator("#sessions li.no-match")).to_be_visible()

    for title in ("Coverage gaps", "Sprint review"):  # the project's chat tab has the same search
        api(base, alice, "POST", "/chat/sessions", {"title": title, "project_id": data["pid"]})
    page.goto(f"/#/p/{data['pid']}/chat")
    expect(chats).to_have_count(2)
    page.get_by_label("Search chats").fill("sprint")
    expect(chats.locator("a")).to_have_text(["Sprint review"])
    fits(page, "project chat search")

    page.goto(f"/#/p/{data['pid']}/artifacts")
    items = page.locator("#artifact-list li a")
    expect(items).to_have_count(2)
    page.get_by_label("Filter artifacts by name").fill("release")
    expect(items).to_have_text(["Release checklist"])
    expect(page.locator("#artifact-count")).to_have_text("1 of 2")
    page.get_by_label("Filter artifacts by name").fill("")
    page.locator("#artifact-type").select_option("test_cases")
    expect(items).to_have_text(["Login suite"])
    page.get_by_label("Filter artifacts by name").fill("release")
    expect(items).to_have_count(0)
    expect(page.locator("#artifact-list")).to_contain_text("No artifact matches the filter.")
    fits(page, "artifact filter")
    shot(page, f"test-case-editing-{size}-artifact-filter")
