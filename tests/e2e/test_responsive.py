"""Every main view on a phone (390×844) and a laptop (1280×800): nothing overflows sideways, the top bar stays one
line, every tab is reachable (a menu on the phone), tables become labelled cards on the phone, and a project opens
at its top. Screenshots of each view at both sizes go to test-artifacts/screenshots/ (responsive-<size>-<view>)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import SIZES, api, horizontal_overflow, in_viewport, project_with_document, register, sign_in
from tests.procutil import Server

Shot = Callable[[Page, str], Path]

LONG_TITLE = ("Checkout with a saved card, a gift card and a discount code applied in a single order by a returning "
              "customer on a slow connection")


def seeded(base: str) -> dict[str, Any]:
    """An owner's project with a document, a teammate, a test-case suite, a coverage report and a chat."""
    owner, mate = register(base, "owner"), register(base, "mate")
    project = project_with_document(base, owner)
    pid = project["id"]
    api(base, owner, "POST", f"/projects/{pid}/members", {"username": mate["username"], "role": "editor"})
    cases = api(base, owner, "POST", f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Regression suite",
                "content": {"test_cases": [
                    {"id": "TC-1", "title": LONG_TITLE, "preconditions": "A registered customer with a saved card",
                     "steps": [{"action": "Add two items to the cart and open the checkout page",
                                "expected": "Total shown"},
                               {"action": "Apply the discount code SAVE10", "expected": "Total reduced by 10%"}],
                     "expected_result": "The order is placed and a confirmation e-mail is sent",
                     "priority": "high", "type": "functional", "requirement_uids": ["REQ-1"], "links": []},
                    {"id": "TC-2", "title": "Reset the password", "preconditions": "", "steps": [
                        {"action": "Request a reset e-mail", "expected": "E-mail arrives"}],
                     "expected_result": "Password changed", "priority": "medium", "type": "functional",
                     "requirement_uids": ["REQ-2"], "links": []}]}})
    report = api(base, owner, "POST", "/bot/coverage/sync", {"project_id": pid})
    chat = api(base, owner, "POST", "/chat/sessions", {"project_id": pid, "title": "Release questions"})
    return {"owner": owner, "mate": mate, "pid": pid, "cases": cases["id"], "report": report["artifact_id"],
            "chat": chat["id"]}


def views(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, URL, a control that must be visible) for every main view."""
    pid = data["pid"]
    return [
        ("projects", "/#/", "#new-project"),
        ("chat", f"/#/p/{pid}/chat/{data['chat']}", "#composer"),
        ("documents", f"/#/p/{pid}/documents", "#requirements"),
        ("new-version", f"/#/p/{pid}/documents/new", "#preview-version"),
        ("test-cases", f"/#/p/{pid}/artifacts/{data['cases']}", "#test-cases"),
        ("coverage", f"/#/p/{pid}/artifacts/{data['report']}", "#coverage-matrix"),
        ("import", f"/#/p/{pid}/artifacts/import", "#import-form"),
        ("files", f"/#/p/{pid}/files", "#upload-form"),
        ("members", f"/#/p/{pid}/members", "#members"),
        ("settings", f"/#/p/{pid}/settings", "#project-settings"),
        ("my-chats", "/#/chats", "#new-chat"),
    ]


def assert_fits(page: Page, what: str) -> None:
    problems = horizontal_overflow(page)
    assert not problems, f"{what}: {problems}"
    topbar = page.locator(".topbar").bounding_box()
    assert topbar and topbar["height"] <= 56, f"{what}: the top bar wraps ({topbar})"
    for link in page.locator("#nav a").all():
        link_box = link.bounding_box()
        assert link_box and link_box["height"] <= 30, f"{what}: a nav link wraps ({link_box})"


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_every_view_fits(new_page: Callable[..., Page], e2e_server: Server, shot: Shot, size: str) -> None:
    data = seeded(e2e_server.base)
    page = new_page(viewport=SIZES[size])
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#conn")).to_be_hidden()  # no red "Offline" before anyone signs in
    assert_fits(page, "sign-in")
    shot(page, f"responsive-{size}-sign-in")
    sign_in(page, data["owner"]["username"])
    for name, url, control in views(data):
        page.goto(url)
        expect(page.locator(control)).to_be_visible()
        if name in ("documents", "test-cases", "coverage", "members"):
            expect(page.locator(f"{control} tbody tr").first).to_be_visible()
        assert_fits(page, name)
        shot(page, f"responsive-{size}-{name}")
    page.goto("/api/docs")
    expect(page.locator("#docs details").first).to_be_visible()
    assert not horizontal_overflow(page), "api docs"
    shot(page, f"responsive-{size}-api-docs")


def test_phone_tabs_are_a_menu_and_tables_are_cards(
        new_page: Callable[..., Page], e2e_server: Server, shot: Shot,
) -> None:
    data = seeded(e2e_server.base)
    page = new_page(viewport=SIZES["phone"])
    sign_in(page, data["owner"]["username"])
    page.goto(f"/#/p/{data['pid']}/chat/{data['chat']}")
    expect(page.locator("#composer")).to_be_visible()
    # The project opens at its top, not scrolled down to the chat box.
    expect(page.locator("#project-name")).to_be_in_viewport()
    assert page.evaluate("document.getElementById('app').scrollTop") == 0
    # The tab row gives way to a menu that reaches every tab, Members and Settings included.
    expect(page.locator("nav.tabs")).to_be_hidden()
    menu = page.locator("#tab-menu")
    expect(menu).to_be_visible()
    expect(menu.locator("option")).to_have_text(["Chat", "Documents", "Artifacts", "Files", "Members", "Settings"])
    menu.select_option("settings")
    expect(page.locator("#project-settings")).to_be_visible()
    assert page.url.endswith("/settings")
    menu.select_option("members")
    expect(page.locator("#members")).to_be_visible()
    # Tables are cards: no header row, each cell labelled and as wide as the card (not a word per line).
    page.goto(f"/#/p/{data['pid']}/artifacts/{data['cases']}")
    table = page.locator("#test-cases")
    expect(table.locator("thead")).to_be_hidden()
    title_cell = table.locator("tr[data-id=TC-1] td[data-label=Title]")
    expect(title_cell).to_be_visible()
    cell_box, table_box = title_cell.bounding_box(), table.bounding_box()
    assert cell_box and table_box and cell_box["width"] >= table_box["width"] * 0.9
    label = page.evaluate("""() => getComputedStyle(document.querySelector(
        '#test-cases tr[data-id=TC-1] td[data-label=Title]'), '::before').content""")
    assert label == '"Title"'
    shot(page, "responsive-phone-test-case-cards")


def test_laptop_tabs_in_a_row(new_page: Callable[..., Page], e2e_server: Server) -> None:
    data = seeded(e2e_server.base)
    page = new_page(viewport=SIZES["laptop"])
    sign_in(page, data["owner"]["username"])
    page.goto(f"/#/p/{data['pid']}/documents")
    expect(page.locator("#requirements")).to_be_visible()
    expect(page.locator("#tab-menu")).to_be_hidden()
    for tab in ("chat", "documents", "artifacts", "files", "members", "settings"):
        assert in_viewport(page, f"a[data-tab={tab}]"), tab
    expect(page.locator("#requirements thead")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('#requirements')).display") == "table"
    assert page.locator(".topbar").bounding_box()["height"] <= 56  # type: ignore[index]
