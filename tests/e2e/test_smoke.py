"""The browser-test machinery works: a real page from the real server, rendered by its script in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageErrors, server_log_problems


def csp_directive(policy: str, name: str) -> str | None:
    """Return the sources of one directive of a Content-Security-Policy, or None when it is absent."""
    for directive in policy.split(";"):
        key, _, sources = directive.strip().partition(" ")
        if key == name:
            return sources
    return None


def test_api_docs_page_renders_under_a_strict_csp(new_page: Callable[..., Page], page_errors: PageErrors,
                                                   shot: Callable[[Page, str], Path]):
    page = new_page()
    response = page.goto("/api/docs")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    scripts = csp_directive(policy, "script-src") or csp_directive(policy, "default-src")
    assert scripts is not None and "'unsafe-inline'" not in scripts, policy

    expect(page).to_have_title("chatsvc API")
    expect(page.get_by_role("heading", level=1)).to_have_text("chatsvc API")
    register = page.locator("details", has_text="/api/v1/users/register")
    expect(register).to_be_visible()  # apidocs.js ran under the CSP and rendered the OpenAPI document

    page.get_by_label("Filter endpoints").fill("healthz")
    expect(register).to_be_hidden()
    expect(page.locator("details", has_text="/healthz").first).to_be_visible()
    shot(page, "api-docs")


def test_page_errors_are_recorded_and_can_be_expected(new_page: Callable[..., Page], page_errors: PageErrors):
    page = new_page()
    page.goto("/api/docs")
    with page.expect_console_message(lambda message: "401" in message.text):
        page.evaluate("fetch('/api/v1/users/me')")  # Chromium logs the failed load as a console error
    assert any("status of 401" in error for error in page_errors.seen), page_errors.seen
    assert page_errors.unexpected()
    page_errors.expect("status of 401")
    assert page_errors.unexpected() == []


def test_server_log_problems_finds_blocked_loops_and_tracebacks():
    """Only the guard's verdict counts: asyncio's wall-clock warning also fires when the machine is busy."""
    lines = [
        "12:00:00 INFO chatsvc: database ready",
        "12:00:01 WARNING asyncio: Executing <Handle busy()> took 0.650 seconds",
        "LOOP BLOCKED: <Handle slow()> blocked the loop: 80 ms CPU, 81 ms wall",
        "12:00:03 ERROR aiohttp.server: Error handling request",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "ValueError: boom",
        "12:00:04 INFO chatsvc: still fine",
    ]
    assert server_log_problems("\n".join(lines)) == [
        "LOOP BLOCKED: <Handle slow()> blocked the loop: 80 ms CPU, 81 ms wall",
        "\n".join(lines[3:7]),
    ]
