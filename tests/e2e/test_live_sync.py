"""Live sync between browsers: what one member does shows up on another member's open page (and in the same
user's other tab) without a reload, carried by the websocket's project and chat topics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import REPLY_MS, register, send, sign_in, unique
from tests.e2e.ui import api as rest

# Replies stream for about two seconds: long enough to see one streaming on the other page, short enough to wait for.
pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=80)

SPEC = """# Login

REQ-1: The system shall lock an account after 5 failed logins.
REQ-2: The user must be able to reset the password by email.
"""


# --- helpers ----------------------------------------------------------------------------------------------------


def shared_project(base: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """alice owns a project with one document version; bob is an editor of it. Returns (alice, bob, project)."""
    alice, bob = register(base, "alice"), register(base, "bob")
    project = rest(base, alice, "POST", "/projects", {"name": unique("Sync ")})
    rest(base, alice, "POST", f"/projects/{project['id']}/document-versions", {"title": "Spec v1", "content": SPEC})
    rest(base, alice, "POST", f"/projects/{project['id']}/members", {"username": bob["username"], "role": "editor"})
    return alice, bob, project


def open_project(page: Page, project_id: str, tab: str, item: str = "") -> None:
    """Open a project tab and wait until it is rendered (so the page watches the project's topic)."""
    page.goto(f"/#/p/{project_id}/{tab}{f'/{item}' if item else ''}")
    expect(page.locator(f"a[data-tab={tab}][aria-selected=true]")).to_be_visible()


# --- tests ------------------------------------------------------------------------------------------------------


def test_rename_and_new_document_version_reach_the_other_member(new_page: Callable[..., Page], e2e_server):
    alice, bob, project = shared_project(e2e_server.base)
    pid = project["id"]
    pa, pb = new_page(), new_page()
    sign_in(pa, alice["username"])
    sign_in(pb, bob["username"])
    open_project(pa, pid, "settings")
    open_project(pb, pid, "documents")
    expect(pb.locator("#project-name")).to_have_text(project["name"])
    expect(pb.locator("#versions li a[data-id]")).to_have_text(["v1 · Spec v1"])

    renamed = unique("Renamed ")
    settings = pa.locator("#project-settings")
    settings.locator("input[name=name]").fill(renamed)
    settings.get_by_role("button", name="Save").click()
    expect(pa.locator("#project-name")).to_have_text(renamed)
    expect(pb.locator("#project-name")).to_have_text(renamed)

    pa.locator("a[data-tab=documents]").click()
    # Wait for the current version: documents.js mounts it when its REST load finishes, even over a
    # "New version" form opened meanwhile (renderVersion checks only the tab, not the item).
    expect(pa.locator("#version-title")).to_have_text("v1 · Spec v1")
    pa.locator("#new-version").click()
    form = pa.locator("#version-form")
    form.locator("input[name=title]").fill("Spec v2")
    form.locator("textarea[name=content]").fill(SPEC + "REQ-3: The system should log every sign-in.\n")
    form.get_by_role("button", name="Create version").click()
    expect(pa.locator("#version-title")).to_have_text("v2 · Spec v2")
    expect(pb.locator("#versions li a[data-id]")).to_have_text(["v2 · Spec v2", "v1 · Spec v1"])
    expect(pb.locator("#versions li", has_text="v2 · Spec v2")).to_contain_text("3 requirements")


def test_chat_messages_edits_and_deletions_reach_the_other_member(new_page: Callable[..., Page], e2e_server,
                                                                  shot: Callable[[Page, str], Path]):
    base = e2e_server.base
    alice, bob, project = shared_project(base)
    pid = project["id"]
    chat = rest(base, alice, "POST", "/chat/sessions", {"project_id": pid})
    pa, pb = new_page(), new_page()
    sign_in(pa, alice["username"])
    sign_in(pb, bob["username"])
    for page in (pa, pb):
        open_project(page, pid, "chat", chat["id"])
        expect(page.locator("#messages .empty")).to_be_visible()  # loaded after subscribing to the chat

    # alice asks; bob sees her message and the reply stream in and complete.
    send(pa, "help")
    a_user = pa.locator("#messages article.msg.user")
    expect(a_user).to_have_count(1)
    first_id = a_user.first.get_attribute("data-id")
    b_first = pb.locator(f"#messages article.msg.user[data-id='{first_id}']")
    expect(b_first.locator(".body")).to_have_text("help")
    expect(b_first.locator(".who")).to_have_text(alice["username"])  # another member's message: its author
    b_reply = pb.locator("#messages article.msg.assistant").first
    expect(b_reply).to_have_attribute("data-status", "streaming")
    expect(b_reply).to_have_attribute("data-status", "complete", timeout=REPLY_MS)
    expect(b_reply.locator(".body")).to_contain_text("I'm chatsvc's built-in offline model")
    expect(b_reply.locator(".body")).to_contain_text("Configure an OpenAI-compatible server to chat freely.")
    expect(b_reply.locator(".body li")).to_have_count(6)
    expect(pa.locator("#messages article.msg.assistant").first).to_have_attribute("data-status", "complete",
                                                                                  timeout=REPLY_MS)

    send(pa, "list requirements")
    expect(pb.locator("#messages article.msg.user")).to_have_count(2)
    expect(pb.locator("#messages article.msg.assistant")).to_have_count(2)
    b_second_reply = pb.locator("#messages article.msg.assistant").nth(1)
    expect(b_second_reply).to_have_attribute("data-status", "complete", timeout=REPLY_MS)
    expect(b_second_reply.locator(".body")).to_contain_text("has 2 requirements")
    expect(pa.locator("#messages article.msg.assistant").nth(1)).to_have_attribute("data-status", "complete",
                                                                                   timeout=REPLY_MS)
    shot(pa, "live-sync-chat-alice")
    shot(pb, "live-sync-chat-bob")

    # alice deletes her first message (two clicks): it disappears for bob.
    a_first = pa.locator(f"#messages article.msg[data-id='{first_id}']")
    a_first.get_by_role("button", name="Delete").click()
    a_first.get_by_role("button", name="Click again to confirm").click()
    expect(pa.locator(f"#messages article.msg[data-id='{first_id}']")).to_have_count(0)
    expect(b_first).to_have_count(0)
    expect(pb.locator("#messages article.msg.user")).to_have_count(1)
    expect(pb.locator("#messages article.msg.assistant")).to_have_count(1)  # a deleted prompt takes its reply

    # alice edits her other message (Save, no regeneration): bob sees the new text, marked as edited.
    second = pa.locator("#messages article.msg.user").first
    second_id = second.get_attribute("data-id")
    second.get_by_role("button", name="Edit").click()
    second.get_by_label("Edit message").fill("list the requirements, please")
    second.get_by_role("button", name="Save", exact=True).click()
    expect(second.locator(".body")).to_have_text("list the requirements, please")
    b_second = pb.locator(f"#messages article.msg.user[data-id='{second_id}']")
    expect(b_second.locator(".body")).to_have_text("list the requirements, please")
    expect(b_second).to_contain_text("(edited)")
    expect(pb.locator("#messages article.msg.assistant")).to_have_count(1)  # no regeneration: its reply stays


def test_uploads_and_deletions_of_files_reach_the_other_member(new_page: Callable[..., Page], e2e_server):
    alice, bob, project = shared_project(e2e_server.base)
    pid = project["id"]
    pa, pb = new_page(), new_page()
    sign_in(pa, alice["username"])
    sign_in(pb, bob["username"])
    open_project(pa, pid, "files")
    open_project(pb, pid, "files")
    expect(pa.locator("#files tbody")).to_contain_text("No files yet.")

    name = f"{unique('notes-')}.md"
    pb.locator("#file-input").set_input_files({"name": name, "mimeType": "text/markdown", "buffer": b"# Notes\n"})
    pb.locator("#upload-form").get_by_role("button", name="Upload").click()
    expect(pb.locator("#files tr[data-id]")).to_have_count(1)
    a_row = pa.locator("#files tr[data-id]", has_text=name)
    expect(a_row).to_have_count(1)
    expect(a_row.get_by_role("link", name=name)).to_have_attribute("download", name)

    # alice asks to delete it; bob uploads another file before she confirms: her pending confirmation survives
    # the live update of the list.
    a_row.get_by_role("button", name="Delete").click()
    expect(a_row.get_by_role("button", name="Click again to confirm")).to_be_visible()
    other = f"{unique('other-')}.md"
    pb.locator("#file-input").set_input_files({"name": other, "mimeType": "text/markdown", "buffer": b"# Other\n"})
    pb.locator("#upload-form").get_by_role("button", name="Upload").click()
    expect(pa.locator("#files tr[data-id]")).to_have_count(2)
    a_row.get_by_role("button", name="Click again to confirm").click()
    expect(pa.locator("#files tr[data-id]")).to_have_count(1)
    expect(pb.locator("#files tr[data-id]", has_text=name)).to_have_count(0)
    expect(pb.locator("#files tr[data-id]")).to_have_text([re.compile(re.escape(other))])

    pa.locator("#files tr[data-id]").get_by_role("button", name="Delete").click()
    pa.locator("#files tr[data-id]").get_by_role("button", name="Click again to confirm").click()
    expect(pb.locator("#files tr[data-id]")).to_have_count(0)
    expect(pb.locator("#files tbody")).to_contain_text("No files yet.")


def test_membership_changes_reach_the_other_member(new_page: Callable[..., Page], e2e_server):
    base = e2e_server.base
    alice, bob, project = shared_project(base)
    carol = register(base, "carol")
    pid = project["id"]
    pa, pb = new_page(), new_page()
    sign_in(pa, alice["username"])
    sign_in(pb, bob["username"])
    open_project(pa, pid, "members")
    open_project(pb, pid, "members")
    expect(pb.locator("#members tr[data-user-id]")).to_have_count(2)
    expect(pb.locator("#add-member")).to_be_hidden()  # only owners add members

    form = pa.locator("#add-member")
    expect(form.locator("select[name=role]")).to_have_value("editor")
    form.locator("input[name=username]").fill(carol["username"])
    form.get_by_role("button", name="Add member").click()
    b_carol = pb.locator(f"#members tr[data-user-id='{carol['id']}']")
    expect(b_carol).to_contain_text(carol["username"])
    expect(b_carol.locator(".badge")).to_have_text("editor")
    expect(form.locator("input[name=username]")).to_have_value("")
    expect(form.locator("select[name=role]")).to_have_value("editor")  # the form is ready for the next one

    a_carol = pa.locator(f"#members tr[data-user-id='{carol['id']}']")
    a_carol.get_by_label(f"Role of {carol['username']}").select_option("viewer")
    expect(b_carol.locator(".badge")).to_have_text("viewer")

    # A pending "Click again to confirm" survives another member's change arriving meanwhile.
    a_carol.get_by_role("button", name="Remove").click()
    dave = register(base, "dave")
    rest(base, alice, "POST", f"/projects/{pid}/members", {"username": dave["username"], "role": "viewer"})
    expect(pa.locator(f"#members tr[data-user-id='{dave['id']}']")).to_be_visible()
    a_carol.get_by_role("button", name="Click again to confirm").click()
    expect(b_carol).to_have_count(0)
    expect(pb.locator("#members tr[data-user-id] strong")).to_have_text(
        sorted([alice["username"], bob["username"], dave["username"]]))


def test_a_second_tab_of_the_same_user_stays_in_sync(new_page: Callable[..., Page], e2e_server,
                                                     shot: Callable[[Page, str], Path]):
    base = e2e_server.base
    alice, _bob, project = shared_project(base)
    pid = project["id"]
    chat = rest(base, alice, "POST", "/chat/sessions", {"project_id": pid})
    tab1, tab2 = new_page(), new_page()  # two contexts: two sign-ins (sessions) of the same user
    sign_in(tab1, alice["username"])
    sign_in(tab2, alice["username"])
    expect(tab2.locator("#project-list li[data-id] a.title")).to_have_text([project["name"]])

    # A project created in one tab joins the other tab's list (user topic); a rename there follows (project topic).
    tab1.locator("#new-project input[name=name]").fill("Another project")
    tab1.locator("#new-project button[type=submit]").click()
    expect(tab1.locator("#project-name")).to_have_text("Another project")
    expect(tab2.locator("#project-list li[data-id] a.title")).to_have_text(
        sorted(["Another project", project["name"]]))

    open_project(tab1, pid, "settings")
    renamed = unique("Renamed ")
    tab1.locator("#project-settings input[name=name]").fill(renamed)
    tab1.locator("#project-settings").get_by_role("button", name="Save").click()
    expect(tab2.locator(f"#project-list li[data-id='{pid}'] a.title")).to_have_text(renamed)

    # The same chat open in both tabs: a message sent in one shows in the other as the user's own.
    for tab in (tab1, tab2):
        open_project(tab, pid, "chat", chat["id"])
        expect(tab.locator("#messages .empty")).to_be_visible()
    send(tab1, "help")
    mine = tab2.locator("#messages article.msg.user")
    expect(mine.locator(".body")).to_have_text(["help"])
    expect(mine).to_contain_text("You")
    expect(tab2.locator("#messages article.msg.assistant")).to_have_attribute("data-status", "complete",
                                                                              timeout=REPLY_MS)
    expect(mine.get_by_role("button", name="Edit")).to_be_visible()
    shot(tab2, "live-sync-second-tab")
