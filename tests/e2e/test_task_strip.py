"""Tasks pile up without taking the page: five tasks leave a one-line strip (the newest finished one, the rest in a
collapsed "N more" list), each finished task can be dismissed, the chat input stays in view at 1280×800, the strip
stays small on a phone, and the "… started" notice does not cover the strip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.ui import (
    SIZES,
    api,
    box,
    in_viewport,
    overlaps,
    project_with_document,
    register,
    sign_in,
)
from tests.procutil import Server

Shot = Callable[[Page, str], Path]

TASK_MS = 30_000


def five_tasks(base: str) -> tuple[dict[str, str], str, str]:
    """A project with five finished-or-running tasks (three generations, two coverage runs) and a chat."""
    owner = register(base, "busy")
    project = project_with_document(base, owner)
    pid = project["id"]
    for path in ("/bot/test-cases", "/bot/coverage", "/bot/test-cases", "/bot/coverage", "/bot/test-cases"):
        api(base, owner, "POST", path, {"project_id": pid})
    chat = api(base, owner, "POST", "/chat/sessions", {"project_id": pid})
    return owner, pid, chat["id"]


def test_five_tasks_keep_the_chat_input_in_view(new_page: Callable[..., Page], e2e_server: Server, shot: Shot) -> None:
    owner, pid, chat_id = five_tasks(e2e_server.base)
    page = new_page(viewport=SIZES["laptop"])
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/chat/{chat_id}")
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#tasks .task")).to_have_count(5)
    expect(page.locator("#tasks .task:is([data-status=succeeded], [data-status=failed])")).to_have_count(
        5, timeout=TASK_MS)
    # One chip in view (the newest finished task), the other four in a collapsed list.
    expect(page.locator("#tasks > .task")).to_have_count(1)
    expect(page.locator("#tasks-more summary")).to_have_text("4 more tasks")
    expect(page.locator("#tasks-more .task").first).to_be_hidden()
    assert box(page, "#tasks")["height"] <= 40
    assert in_viewport(page, "#composer") and in_viewport(page, "#send")
    shot(page, "tasks-laptop-collapsed")

    # Opened, the list scrolls inside itself: the chat input is still in view.
    page.locator("#tasks-more summary").click()
    expect(page.locator("#tasks-more .task")).to_have_count(4)
    expect(page.locator("#tasks-more .task").first).to_be_visible()
    assert in_viewport(page, "#composer")
    shot(page, "tasks-laptop-open")

    # Dismiss one (×), then the rest ("Dismiss finished"); a reload remembers it.
    newest = page.locator("#tasks > .task").first.get_attribute("data-task-id")
    page.locator("#tasks > .task .dismiss").click()
    expect(page.locator(f"#tasks .task[data-task-id='{newest}']")).to_have_count(0)
    expect(page.locator("#tasks .task")).to_have_count(4)
    page.locator("#dismiss-finished").click()
    expect(page.locator("#tasks")).to_be_hidden()
    page.reload()
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#tasks")).to_be_hidden()


def test_five_tasks_on_a_phone_and_the_started_notice(
        new_page: Callable[..., Page], e2e_server: Server, shot: Shot,
) -> None:
    owner, pid, chat_id = five_tasks(e2e_server.base)
    phone = new_page(viewport=SIZES["phone"])
    sign_in(phone, owner["username"])
    phone.goto(f"/#/p/{pid}/chat/{chat_id}")
    expect(phone.locator("#tasks .task")).to_have_count(5)
    expect(phone.locator("#tasks .task:is([data-status=succeeded], [data-status=failed])")).to_have_count(
        5, timeout=TASK_MS)
    assert box(phone, "#tasks")["height"] <= SIZES["phone"]["height"] / 6
    expect(phone.locator("#composer")).to_be_visible()
    shot(phone, "tasks-phone")

    laptop = new_page(viewport=SIZES["laptop"])
    sign_in(laptop, owner["username"])
    laptop.goto(f"/#/p/{pid}/documents")
    laptop.locator("#run-coverage").click()
    notice = laptop.locator("#notices .notice", has_text="Coverage analysis started")
    expect(notice).to_be_visible()
    expect(laptop.locator("#tasks")).to_be_visible()
    assert not overlaps(box(laptop, "#notices .notice"), box(laptop, "#tasks"))
    shot(laptop, "tasks-started-notice")
