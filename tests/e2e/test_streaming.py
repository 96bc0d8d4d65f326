"""Streaming replies in the browser: stopping one keeps its partial text, and a websocket the server closes
mid-reply reconnects, resumes with `since`, and still shows the whole reply."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import PASSWORD, api, open_chat, project_with_document, register, send, sign_in, unique
from tests.procutil import ROOT, http, server_env

pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=12)  # a reply takes seconds: time to act mid-stream


def reply_of(page):
    return page.locator("#messages article.msg.assistant").last


def rest_messages(base, user, session_id):
    return api(base, user, "GET", f"/chat/sessions/{session_id}/messages")["items"]


def test_stop_keeps_the_partial_reply(new_page, e2e_server, shot):
    alice = register(e2e_server.base)
    project = project_with_document(e2e_server.base, alice)
    page = new_page()
    sign_in(page, alice["username"])
    open_chat(page, project["id"])
    send(page, "help")
    reply = reply_of(page)
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply.locator(".body")).to_contain_text("offline")  # some words arrived
    page.locator("#composer").press("Escape")                  # Esc stops, like the Stop button
    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(reply.locator(".status")).to_have_text("Stopped by you")  # who stopped it: run.cancelled says
    expect(page.locator("#send")).to_be_visible()
    session_id = page.locator("article.msg").first.evaluate("el => el.closest('.chat-panel').dataset.sessionId")
    stored = rest_messages(e2e_server.base, alice, session_id)[-1]
    assert stored["status"] == "cancelled" and stored["content"]
    # A cut-off reply may end inside **bold**: the open marker shows as text, so compare the words alone.
    assert _rendered_words(reply.locator(".body").inner_text()) == _rendered_words(stored["content"])
    shot(page, "07-chat-stopped")

    # The Stop button works too, and the chat takes the next message afterwards.
    send(page, "help")
    reply = reply_of(page)
    expect(reply).to_have_attribute("data-status", "streaming")
    page.locator("#stop").click()
    expect(reply).to_have_attribute("data-status", "cancelled")


def make_admin(base, data_dir):
    name = unique("root")
    subprocess.run([sys.executable, "run.py", "create-user", "--admin", "--username", name, "--email",
                    f"{name}@example.com", "--password-stdin", "--data-dir", str(data_dir)],
                   input=PASSWORD, text=True, cwd=ROOT, env=server_env(), check=True, capture_output=True)
    status, body = http("POST", f"{base}/api/v1/users/login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    return {"token": body["access_token"]}


def test_server_closing_the_socket_mid_reply_loses_nothing(new_page, e2e_server, shot):
    base = e2e_server.base
    admin = make_admin(base, e2e_server.data_dir)
    alice = register(base)
    project = project_with_document(base, alice)
    page = new_page()
    sign_in(page, alice["username"])
    open_chat(page, project["id"])
    send(page, "help")
    reply = reply_of(page)
    expect(reply.locator(".body")).to_contain_text("offline")
    page.evaluate("""() => { window.connStates = [];
        new MutationObserver(() => window.connStates.push(document.querySelector('#conn').dataset.state))
          .observe(document.querySelector('#conn'), {attributes: true}); }""")
    closed = api(base, admin, "POST", f"/admin/users/{alice['id']}/reconnect")
    assert closed == {"closed": 1}
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    states = page.evaluate("window.connStates")
    assert "reconnecting" in states, states
    session_id = reply.evaluate("el => el.closest('.chat-panel').dataset.sessionId")
    stored = rest_messages(base, alice, session_id)[-1]
    assert stored["status"] == "complete"
    # A cut-off reply may end inside **bold**: the open marker shows as text, so compare the words alone.
    assert _rendered_words(reply.locator(".body").inner_text()) == _rendered_words(stored["content"])
    shot(page, "08-chat-after-reconnect")


def _rendered_words(markdown: str) -> list[str]:
    """The words a reader sees: Markdown markers (bold, code, list bullets) are not shown."""
    plain = re.sub(r"(?m)^\s*(?:[-*+]|\d+[.)])\s+", "", markdown)
    return plain.replace("**", "").replace("`", "").split()
