"""Teammates in one chat: each message says who wrote it, your own on the right and a teammate's on the left (a
different colour), and Stop is offered only to those the server lets stop a reply (whoever may post in the chat:
an editor or owner, not a viewer), and a stopped reply says who stopped it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui import REPLY_MS, register, send, sign_in, unique
from tests.e2e.ui import api as rest
from tests.procutil import Server

Shot = Callable[[Page, str], Path]

# Slow replies: a teammate presses Stop while one is still streaming.
pytestmark = pytest.mark.e2e_server(offline_tokens_per_s=15)

SPEC = "# Login\n\nREQ-1: The system shall lock an account after 5 failed logins.\n"


def align(page: Page, selector: str) -> str:
    return str(page.locator(selector).evaluate("(e) => getComputedStyle(e).alignSelf"))


def test_teammates_messages_are_theirs_and_stop_follows_the_server(
        new_page: Callable[..., Page], e2e_server: Server, shot: Shot,
) -> None:
    base = e2e_server.base
    alice, bob = register(base, "alice"), register(base, "bob")
    project = rest(base, alice, "POST", "/projects", {"name": unique("Team ")})
    pid = project["id"]
    rest(base, alice, "POST", f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})
    rest(base, alice, "POST", f"/projects/{pid}/members", {"username": bob["username"], "role": "editor"})
    chat = rest(base, alice, "POST", "/chat/sessions", {"project_id": pid})
    pa, pb = new_page(), new_page()
    sign_in(pa, alice["username"])
    sign_in(pb, bob["username"])
    for page in (pa, pb):
        page.goto(f"/#/p/{pid}/chat/{chat['id']}")
        expect(page.locator("#composer")).to_be_visible()

    send(pb, "Hello from Bob")
    for page in (pa, pb):
        expect(page.locator("#messages article.msg.assistant").last).to_have_attribute(
            "data-status", "complete", timeout=REPLY_MS)
    # Bob's message: his own on his page (right, "You"), a teammate's on Alice's (left, his name, another colour).
    on_b = pb.locator("#messages article.msg.user", has_text="Hello from Bob")
    on_a = pa.locator("#messages article.msg.user", has_text="Hello from Bob")
    expect(on_b).to_have_class("msg user mine")
    expect(on_b.locator(".who")).to_have_text("You")
    expect(on_a).to_have_class("msg user theirs")
    expect(on_a.locator(".who")).to_have_text(bob["username"])
    assert align(pb, "#messages article.msg.user.mine") == "flex-end"
    assert align(pa, "#messages article.msg.user.theirs") == "flex-start"
    colours = [p.locator("#messages article.msg.user").evaluate("(e) => getComputedStyle(e).backgroundColor")
               for p in (pa, pb)]
    assert colours[0] != colours[1]
    # The message JSON carries the author: the client's choice of side is the server's author_id.
    messages = rest(base, alice, "GET", f"/chat/sessions/{chat['id']}/messages")["items"]
    assert next(m for m in messages if m["role"] == "user")["author_id"] == bob["id"]
    shot(pa, "teammates-alice-sees-bob")
    shot(pb, "teammates-bob-sees-himself")

    # An editor may stop a teammate's reply (the server allows whoever may post): Bob sees Stop on Alice's run.
    send(pa, "list requirements")
    expect(pa.locator("#stop")).to_be_visible()
    expect(pb.locator("#messages article.msg.assistant").last).to_have_attribute("data-status", "streaming")
    expect(pb.locator("#stop")).to_be_visible()
    expect(pb.locator("#stop")).to_have_attribute("title", f"Stop the reply to {alice['username']}")
    # Bob stops it: both pages say who did.
    pb.locator("#stop").click()
    for page, who in ((pa, bob["username"]), (pb, "you")):
        reply = page.locator("#messages article.msg.assistant").last
        expect(reply).to_have_attribute("data-status", "cancelled")
        expect(reply.locator(".status")).to_have_text(f"Stopped by {who}")

    # A viewer may not: once Bob is a viewer he sees Alice's reply stream, but neither Stop nor the composer.
    rest(base, alice, "PATCH", f"/projects/{pid}/members/{bob['id']}", {"role": "viewer"})
    expect(pb.locator("#my-role")).to_have_text("viewer")
    send(pa, "help")
    expect(pa.locator("#stop")).to_be_visible()
    expect(pb.locator("#messages article.msg.assistant").last).to_have_attribute("data-status", "streaming")
    expect(pb.locator("#stop")).to_be_hidden()
    expect(pb.locator("#composer")).to_be_hidden()
    expect(pa.locator("#messages article.msg.assistant").last).to_have_attribute(
        "data-status", "complete", timeout=REPLY_MS)
