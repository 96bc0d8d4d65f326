"""Small things a QA team tripped over: no "Offline" badge before signing in, a stopped reply without an empty
bullet, requirement rows without their text twice, coverage test ids that open the test case, a chat list that
keeps its highlight, and /api/docs rendering `code` spans (as text in <code>, never HTML) with a "try it" form."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import api, open_chat, project_with_document, register, send, sign_in
from tests.procutil import Server

# Slow replies: the test presses Stop while a list is still streaming.
pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=12)

LONG = ("REQ-9: The checkout page shall show the order total including taxes, shipping costs and every discount "
        "before the customer confirms the payment.")


def test_no_offline_badge_before_sign_in(new_page: Callable[..., Page], e2e_server: Server) -> None:
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#conn")).to_be_hidden()
    expect(page.get_by_text("Offline")).to_be_hidden()
    owner = register(e2e_server.base)
    sign_in(page, owner["username"])
    expect(page.locator("#conn")).to_be_visible()
    page.locator("#logout").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#conn")).to_be_hidden()


def test_a_stopped_reply_ends_without_an_empty_bullet(new_page: Callable[..., Page], e2e_server: Server) -> None:
    owner = register(e2e_server.base)
    project = project_with_document(e2e_server.base, owner)
    page = new_page()
    sign_in(page, owner["username"])
    # The renderer: a bare marker left by a cut-short reply is no list item, and the chat drops it.
    out = page.evaluate("""async () => {
      const md = await import('/static/js/markdown.js');
      const items = (text) => [...md.renderMarkdown(text).querySelectorAll('li')].map((li) => li.textContent);
      return {list: items('Requirements:\\n- REQ-1 lock\\n- '), trimmed: md.withoutDanglingMarker('a\\n- b\\n-  \\n'),
              numbered: md.withoutDanglingMarker('a\\n1. b\\n2.'), kept: md.withoutDanglingMarker('a\\n- b')};
    }""")
    assert out == {"list": ["REQ-1 lock"], "trimmed": "a\n- b", "numbered": "a\n1. b", "kept": "a\n- b"}
    # A real reply stopped in the middle of its list.
    open_chat(page, project["id"])
    send(page, "list requirements")
    reply = page.locator("#messages article.msg.assistant").last
    expect(reply.locator(".body li").first).to_be_visible(timeout=20_000)
    page.locator("#stop").click()
    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply.locator(".status")).to_have_text("Stopped by you")
    assert reply.locator(".body li").evaluate_all("(items) => items.filter((li) => !li.textContent.trim()).length") == 0


def test_requirement_rows_say_their_text_once(new_page: Callable[..., Page], e2e_server: Server) -> None:
    owner = register(e2e_server.base)
    project = api(e2e_server.base, owner, "POST", "/projects", {"name": "Shop"})
    api(e2e_server.base, owner, "POST", f"/projects/{project['id']}/document-versions",
        {"title": "Spec", "content": f"# Checkout\n\n{LONG}\n\nREQ-10: Login: the user must sign in with e-mail.\n"})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{project['id']}/documents")
    row = page.locator("#requirements tr[data-uid='REQ-9']")
    expect(row).to_be_visible()
    text = row.locator("td").nth(1).inner_text()
    assert text.count("The checkout page shall show") == 1, text
    assert "…" not in text
    expect(row.locator("strong")).to_have_count(0)


def test_coverage_test_ids_open_the_test_case(new_page: Callable[..., Page], e2e_server: Server) -> None:
    base = e2e_server.base
    owner = register(base)
    project = project_with_document(base, owner)
    pid = project["id"]
    case = {"preconditions": "", "steps": [{"action": "Do it", "expected": "Done"}], "expected_result": "Done",
            "priority": "high", "type": "functional", "links": []}
    suite = api(base, owner, "POST", f"/projects/{pid}/artifacts", {"type": "test_cases", "name": "Suite", "content": {
        "test_cases": [{**case, "id": f"TC-{n}", "title": f"Case {n}",
                        "requirement_uids": ["REQ-1" if n == 7 else "REQ-2"]} for n in range(1, 30)]}})
    report = api(base, owner, "POST", "/bot/coverage/sync", {"project_id": pid})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/artifacts/{report['artifact_id']}")
    link = page.locator("#coverage-matrix tr[data-uid='REQ-1'] a.tc-link[data-tc='TC-7']")
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("#test-cases")).to_be_visible()
    assert page.url.endswith(f"/artifacts/{suite['id']}/TC-7")
    target = page.locator("#test-cases tr.target")
    expect(target).to_have_attribute("data-id", "TC-7")
    expect(target).to_be_in_viewport()


def test_the_chat_list_keeps_its_highlight(new_page: Callable[..., Page], e2e_server: Server) -> None:
    base = e2e_server.base
    owner = register(base)
    project = project_with_document(base, owner)
    pid = project["id"]
    older = api(base, owner, "POST", "/chat/sessions", {"project_id": pid, "title": "Older"})
    newer = api(base, owner, "POST", "/chat/sessions", {"project_id": pid, "title": "Newer"})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{pid}/chat")  # no chat named: the newest opens, and is the highlighted one
    active = page.locator("#sessions li.active")
    expect(active).to_have_count(1)
    expect(active.locator("a")).to_have_attribute("data-id", newer["id"])
    api(base, owner, "PATCH", f"/projects/{pid}", {"name": "Renamed"})  # any live event re-renders the tab
    expect(page.locator("#project-name")).to_have_text("Renamed")
    expect(active).to_have_count(1)
    page.locator(f"#sessions a[data-id='{older['id']}']").click()
    expect(active.locator("a")).to_have_attribute("data-id", older["id"])
    api(base, owner, "PATCH", f"/projects/{pid}", {"name": "Renamed again"})
    expect(page.locator("#project-name")).to_have_text("Renamed again")
    expect(active.locator("a")).to_have_attribute("data-id", older["id"])


def test_api_docs_render_code_spans(new_page: Callable[..., Page], e2e_server: Server) -> None:
    page = new_page()
    page.goto("/api/docs")
    expect(page.locator("#docs details").first).to_be_attached()
    importer = page.locator("#docs details", has_text="/projects/{id}/artifacts/import").first
    importer.locator("summary").click()
    expect(importer.locator(".body code", has_text="content").first).to_be_visible()
    found = page.evaluate("""() => {
      const texts = [...document.querySelectorAll('#docs .body p, #docs summary span')].map((e) => e.textContent);
      const codes = [...document.querySelectorAll('#docs .body p code, #docs summary code')];
      return {raw: texts.filter((t) => /`[^`\\n]{1,500}`/.test(t)).length, codes: codes.length,
              nested: codes.filter((c) => c.children.length).length};
    }""")
    assert found["raw"] == 0 and found["codes"] > 10 and found["nested"] == 0, found


def test_api_docs_try_it_sends_the_call_as_the_signed_in_user(
        new_page: Callable[..., Page], e2e_server: Server,
) -> None:
    owner = register(e2e_server.base)
    page = new_page()
    sign_in(page, owner["username"])
    page.goto("/api/docs")
    create = page.locator('#docs details[data-search^="post /api/v1/projects "]')
    create.locator("summary").click()
    create.locator("form.try textarea").fill('{"name": "Tried from the docs"}')
    create.locator("form.try").get_by_role("button", name="Send").click()
    expect(create.locator("pre.answer")).to_contain_text("201")
    expect(create.locator("pre.answer")).to_contain_text('"name": "Tried from the docs"')
    listing = page.locator('#docs details[data-search^="get /api/v1/projects "]')
    listing.locator("summary").click()
    listing.locator("form.try input[name=query]").fill("limit=5")
    listing.locator("form.try").get_by_role("button", name="Send").click()
    expect(listing.locator("pre.answer")).to_contain_text("200")
    expect(listing.locator("pre.answer")).to_contain_text("Tried from the docs")
