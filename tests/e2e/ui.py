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
    project: dict[str, Any] = api(base, owner, "POST", "/projects", {"name": name})
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


# --- layout checks (phones and laptops) -------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "laptop": LAPTOP}

# What overflows sideways: the page itself, the scrolling <main>, and any visible table, bar or strip.
_OVERFLOW_JS = """() => {
  const wide = (e) => e.scrollWidth > e.clientWidth + 1;
  const main = document.getElementById('app');
  const watched = '.table-wrap, .topbar, .tab-bar, .task-strip, .page, .chat-panel, .stats';
  const parts = [...document.querySelectorAll(watched)]
    .filter((e) => e.offsetParent !== null && wide(e))
    .map((e) => `${e.tagName.toLowerCase()}.${e.className} (${e.scrollWidth} > ${e.clientWidth})`);
  return {page: document.documentElement.scrollWidth, window: window.innerWidth,
          main: main ? main.scrollWidth : 0, mainWidth: main ? main.clientWidth : 0, parts};
}"""


def horizontal_overflow(page: Page) -> list[str]:
    """Return what is wider than the window (nothing, on a usable page): the page, <main>, tables, bars."""
    out = page.evaluate(_OVERFLOW_JS)
    problems = list(out["parts"])
    if out["page"] > out["window"]:
        problems.append(f"the page is {out['page']} px wide in a {out['window']} px window")
    if out["main"] > out["mainWidth"]:
        problems.append(f"<main> scrolls sideways ({out['main']} > {out['mainWidth']})")
    return problems


def in_viewport(page: Page, selector: str) -> bool:
    """Whether the element is entirely inside the window, without scrolling anything."""
    return bool(page.evaluate("""(sel) => { const e = document.querySelector(sel); if (!e) return false;
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
    }""", selector))


def box(page: Page, selector: str) -> dict[str, float]:
    """The element's bounding box in window coordinates (x, y, width, height)."""
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return {"x": found["x"], "y": found["y"], "width": found["width"], "height": found["height"]}


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
