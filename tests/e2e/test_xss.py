"""Hostile text stays text: markup in chat messages (the user's and the model's echo of it), document titles and
content, project names and uploaded file names is shown literally, never parsed, run or turned into a link.

Each payload would set `window.__xss` (or open no dialog, insert no element) if it ever reached the DOM as markup.
The requirement parser drops Markdown's `__`, so in extracted requirements the same payloads set `window.xss`;
both globals are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.ui import REPLY_MS, register, sign_in
from tests.e2e.ui import api as rest

# The replies stream fast: this module waits for several complete answers, not for tokens.
pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=400)

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
LINK = "[click](javascript:window.__xss=1)"
SVG = '"><svg onload=window.__xss=1>'
PAYLOADS = [IMG, SCRIPT, LINK, SVG]

SPEC = f"""# Spec {SCRIPT}

REQ-1: The page shall show {IMG} as text.
REQ-2: The page shall show {SVG} as text.
REQ-3: The page shall show {SCRIPT} as text.
REQ-4: The page shall show {LINK} as text.
"""


# --- helpers ----------------------------------------------------------------------------------------------------


def watched_page(new_page: Callable[..., Page]) -> tuple[Page, list[str]]:
    """A page that records every dialog (alert, confirm, prompt) instead of letting it block."""
    page = new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page, dialogs


def assert_nothing_ran(page: Page, dialogs: list[str]) -> None:
    """No payload ran, inserted an element or attribute, became a javascript: link or opened a dialog."""
    assert page.evaluate("[typeof window.__xss, typeof window.xss]") == ["undefined", "undefined"]
    # The client renders no images, scripts or inline SVG of its own, so any of them would be injected.
    for selector in ("#app img", "#app script", "#app svg", "#app iframe", "#app [onerror]", "#app [onload]"):
        expect(page.locator(selector)).to_have_count(0)
    expect(page.locator('a[href^="javascript:" i]')).to_have_count(0)
    assert dialogs == []


# --- tests ------------------------------------------------------------------------------------------------------


def test_the_page_csp_enforces_trusted_types(new_page: Callable[..., Page]):
    page = new_page()
    response = page.goto("/")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "require-trusted-types-for 'script'" in policy, policy
    assert "'unsafe-inline'" not in policy, policy


def test_project_name_and_document_render_as_text(new_page: Callable[..., Page], e2e_server):
    user = register(e2e_server.base)
    page, dialogs = watched_page(new_page)
    sign_in(page, user["username"])

    name = " ".join(PAYLOADS)
    page.locator("#new-project input[name=name]").fill(name)
    page.locator("#new-project button[type=submit]").click()
    expect(page.locator("#project-name")).to_have_text(name)

    title = f"{IMG} {SVG}"
    form = page.locator("#version-form")
    form.locator("input[name=title]").fill(title)
    form.locator("textarea[name=content]").fill(SPEC)
    form.get_by_role("button", name="Create version").click()
    expect(page.locator("#version-title")).to_have_text(f"v1 · {title}")
    expect(page.locator("#versions li a[data-id]")).to_have_text([f"v1 · {title}"])
    expect(page.get_by_text(title).first).to_be_visible()

    # Extracted requirements: the parser drops `__` and reduces a Markdown link to its text.
    rows = page.locator("#requirements tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#requirements tr[data-uid='REQ-1']")).to_contain_text(f"show {IMG.replace('__', '')} as")
    expect(page.locator("#requirements tr[data-uid='REQ-2']")).to_contain_text(f"show {SVG.replace('__', '')} as")
    expect(page.locator("#requirements tr[data-uid='REQ-3']")).to_contain_text(f"show {SCRIPT.replace('__', '')} as")
    expect(page.locator("#requirements tr[data-uid='REQ-4']")).to_contain_text("show click as text")
    expect(page.locator("#requirements tr[data-uid='REQ-1'] td").last).to_have_text(f"Spec {SCRIPT.replace('__', '')}")

    page.get_by_text("Document text").click()
    text = page.locator("pre.doc-text")
    expect(text).to_be_visible()
    expect(text).to_have_text(SPEC)
    assert_nothing_ran(page, dialogs)

    page.locator("a.brand").click()
    expect(page.locator("#project-list li[data-id] a.title")).to_have_text([name])
    assert_nothing_ran(page, dialogs)


def test_chat_messages_and_replies_render_as_text(new_page: Callable[..., Page], e2e_server):
    base = e2e_server.base
    user = register(base)
    project = rest(base, user, "POST", "/projects", {"name": "Chat XSS"})
    rest(base, user, "POST", f"/projects/{project['id']}/document-versions", {"title": "Spec", "content": SPEC})
    chat = rest(base, user, "POST", "/chat/sessions", {"project_id": project["id"]})
    page, dialogs = watched_page(new_page)
    sign_in(page, user["username"])
    page.goto(f"/#/p/{project['id']}/chat/{chat['id']}")
    expect(page.locator("#messages .empty")).to_be_visible()

    replies = page.locator("#messages article.msg.assistant")
    users = page.locator("#messages article.msg.user")

    def send(text: str, turn: int) -> None:
        page.locator("#composer").fill(text)
        page.locator("#composer").press("Enter")
        expect(users).to_have_count(turn)
        expect(replies.nth(turn - 1)).to_have_attribute("data-status", "complete", timeout=REPLY_MS)

    # The user's own message: all payloads, one per line, shown verbatim.
    send("\n".join(PAYLOADS), 1)
    body = users.nth(0).locator(".body")
    for payload in PAYLOADS:
        expect(body).to_contain_text(payload)
    expect(page.get_by_text(IMG).first).to_be_visible()
    assert_nothing_ran(page, dialogs)

    # The offline model echoes a search's terms (lower-cased, quotes trimmed) and the matching statements.
    send(f"search requirements about {IMG}", 2)
    reply = replies.nth(1).locator(".body")
    expect(reply).to_contain_text(f'Requirements about "{IMG}" in Spec (version 1)')
    expect(reply).to_contain_text(f"REQ-1: The page shall show {IMG.replace('__', '')} as text.")
    expect(reply).to_contain_text(f"REQ-3: The page shall show {SCRIPT.replace('__', '')} as text.")
    assert_nothing_ran(page, dialogs)

    send(f"search requirements about {SCRIPT}", 3)
    expect(replies.nth(2).locator(".body")).to_contain_text(f'Requirements about "{SCRIPT}" in')

    send(f"search requirements about {SVG}", 4)
    expect(replies.nth(3).locator(".body")).to_contain_text(f'Requirements about "{SVG.lstrip(chr(34))}" in')
    expect(replies.nth(3).locator(".body")).to_contain_text(f"REQ-2: The page shall show {SVG.replace('__', '')}")

    # A Markdown link to javascript: renders as its plain text, not as a link.
    send(f"search requirements about {LINK}", 5)
    reply = replies.nth(4).locator(".body")
    expect(reply).to_contain_text(re.compile(r'(Requirements about|matches) "click"'))
    expect(reply.locator("a")).to_have_count(0)
    assert_nothing_ran(page, dialogs)


def test_uploaded_file_names_render_as_text(new_page: Callable[..., Page], e2e_server):
    base = e2e_server.base
    user = register(base)
    project = rest(base, user, "POST", "/projects", {"name": "Files XSS"})
    names = ["<img src=x onerror=window.__xss=1>.md", f"{SVG}.md", f"{LINK}.md"]
    page, dialogs = watched_page(new_page)
    sign_in(page, user["username"])
    page.goto(f"/#/p/{project['id']}/files")

    page.locator("#file-input").set_input_files([
        {"name": n, "mimeType": "text/markdown", "buffer": f"REQ-1: The file {n} shall be text.\n".encode()}
        for n in names
    ])
    page.locator("#upload-form").get_by_role("button", name="Upload").click()
    links = page.locator("#files tr[data-id] td:first-child a")
    expect(links).to_have_count(3)
    for n in names:
        expect(page.locator("#files tr[data-id]", has_text=n)).to_have_count(1)
        expect(page.get_by_text(n, exact=True)).to_be_visible()
    assert sorted(links.evaluate_all("links => links.map((a) => a.getAttribute('download'))")) == sorted(names)
    assert_nothing_ran(page, dialogs)

    # A document version made from an uploaded file takes the file's name as its title.
    page.locator("a[data-tab=documents]").click()
    form = page.locator("#version-form")
    expect(form.locator("select[name=file_id] option")).to_have_count(4)  # "—" and the three files
    form.locator("select[name=file_id]").select_option(label=names[0])
    form.get_by_role("button", name="Create version").click()
    expect(page.locator("#version-title")).to_have_text(f"v1 · {names[0]}")
    expect(page.locator("#versions li a[data-id]")).to_have_text([f"v1 · {names[0]}"])
    assert_nothing_ran(page, dialogs)
