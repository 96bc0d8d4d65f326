"""Search in long lists: the requirements of a version and the cases of a test-case artifact filter as you type
(every word must match), with a count of what is shown."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.ui import api, register, sign_in
from tests.procutil import Server

SPEC = "# Accounts\n\n" + "\n".join(
    f"REQ-{i}: The system shall {what}." for i, what in enumerate(
        ["lock an account after 5 failed logins", "send a password reset email", "log every login",
         "show the last login time", "export the audit log as CSV", "delete an account on request"], start=1))


def test_search_filters_requirements_and_test_cases(new_page: Callable[..., Page], e2e_server: Server) -> None:
    base = e2e_server.base
    owner = register(base)
    project = api(base, owner, "POST", "/projects", {"name": "Search"})
    pid = project["id"]
    api(base, owner, "POST", f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/documents")
    rows = page.locator("#requirements tbody tr")
    expect(rows).to_have_count(6)
    search = page.get_by_label("Search requirements")
    search.fill("login LOG")
    expect(page.locator("#requirements tbody tr:not([hidden])")).to_have_count(3)  # REQ-1, REQ-3, REQ-4
    expect(page.locator(".search-count").first).to_have_text("3 of 6")
    search.fill("account delete")
    expect(page.locator("#requirements tbody tr:not([hidden])")).to_have_count(1)
    expect(page.locator("#requirements tr[data-uid='REQ-6']")).to_be_visible()
    search.fill("")
    expect(page.locator("#requirements tbody tr:not([hidden])")).to_have_count(6)

    task = api(base, owner, "POST", "/bot/test-cases", {"project_id": pid})
    page.goto(f"/#/p/{pid}/artifacts")
    expect(page.locator("#artifact-list a").first).to_be_visible(timeout=30_000)
    del task
    page.locator("#artifact-list a").first.click()
    cases = page.locator("#test-cases tbody tr")
    expect(cases.first).to_be_visible()
    total = cases.count()
    page.get_by_label("Search test cases").fill("REQ-5")
    count = page.locator(".search-count").first
    expect(count).to_have_text(re.compile(rf"^\d+ of {total}$"))  # filtered
    shown = page.locator("#test-cases tbody tr:not([hidden])").count()
    assert 0 < shown < total, (shown, total)
    expect(page.locator("#test-cases tbody tr:not([hidden])").first).to_contain_text("REQ-5")
