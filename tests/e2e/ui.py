"""Small steps the browser tests share: accounts and projects made over REST, sign-in through the UI."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.procutil import http

PASSWORD = "a long password"
# A whole streamed reply (seconds at the test server's 40 tokens/s; a loaded 2-core machine stretches it well
# past Playwright's default 5 s or a 10 s wait): waits for a reply's end use this.
REPLY_MS = 30_000
SPEC = """# Login

REQ-1: The system shall lock an account after 5 failed logins.
REQ-2: The user must be able to reset the password by email.

## Search

- The search page should answer within 2 seconds.
"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def register(base: str, prefix: str = "u") -> dict[str, Any]:
    """Register a fresh user (a unique name starting with prefix) over REST; return {id, username, token}."""
    username = unique(prefix)
    status, body = http("POST", f"{base}/api/v1/users/register",
                        {"email": f"{username}@example.com", "username": username, "password": PASSWORD})
    assert status == 201, body
    status, tok = http("POST", f"{base}/api/v1/users/login", {"username": username, "password": PASSWORD})
    assert status == 200, tok
    return {"id": body["id"], "username": username, "token": tok["access_token"]}


def api(base: str, user: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    status, out = http(method, f"{base}/api/v1{path}", body, token=user["token"])
    assert 200 <= status < 300, (status, out)
    return out


def project_with_document(base: str, owner: dict[str, Any], name: str = "Checkout") -> dict[str, Any]:
    project = api(base, owner, "POST", "/projects", {"name": name})
    api(base, owner, "POST", f"/projects/{project['id']}/document-versions", {"title": "Spec", "content": SPEC})
    return project


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form and wait until the live channel is up."""
    page.goto("/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def open_chat(page: Page, project_id: str) -> None:
    """Open the project's chat tab and start a new chat."""
    page.goto(f"/#/p/{project_id}/chat")
    page.locator("#new-chat").click()
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#messages .empty")).to_be_visible()


def send(page: Page, text: str) -> None:
    page.locator("#composer").fill(text)
    page.locator("#composer").press("Enter")
