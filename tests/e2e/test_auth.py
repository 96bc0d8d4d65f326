"""Signing up, in and out in the browser: the forms, their error messages, the login rate limit, and a cookie
session that survives a reload until the user signs out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e import ui
from tests.e2e.conftest import PageErrors
from tests.e2e.ui import PASSWORD, unique

FAILS_ALLOWED = 10  # Settings.login_fail_limit_account: the 11th wrong attempt in the window is refused


def register(base: str) -> dict[str, Any]:
    return ui.register(base, "auth")


def fill_sign_in(page: Page, login: str, password: str) -> None:
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(password)


def sign_in_attempt(page: Page, login: str, password: str) -> int:
    """Submit the sign-in form once; return the status the server answered."""
    fill_sign_in(page, login, password)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/users/session")
                              and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    return answer.value.status


def expect_sign_in_form(page: Page) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username or email")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#logout")).to_have_count(0)


def expect_signed_in(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    expect(page.locator("#new-project")).to_be_visible()
    expect(page.locator("#logout")).to_have_text("Sign out")


def test_register_sign_out_and_sign_in_again(new_page: Callable[..., Page]):
    page = new_page()
    page.goto("/")
    expect_sign_in_form(page)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")

    page.get_by_role("button", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    name = unique("reg")
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Full name (optional)").fill("Regina Register")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect_signed_in(page)
    expect(page.locator("#account")).to_contain_text("Regina Register")
    expect(page.locator("#project-list")).to_contain_text("No projects yet.")

    page.locator("#logout").click()
    expect_sign_in_form(page)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.get_by_role("status").filter(has_text="Signed out.")).to_be_visible()
    expect(page.locator("#account")).to_be_empty()

    # The new account signs in with its email as well.
    fill_sign_in(page, f"{name}@example.com", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in(page)


def test_wrong_password_is_reported(new_page: Callable[..., Page], page_errors: PageErrors, e2e_server):
    page_errors.expect("status of 401")  # Chromium logs the refused sign-in as a console error
    user = register(e2e_server.base)
    page = new_page()
    page.goto("/")
    assert sign_in_attempt(page, user["username"], "not the password") == 401
    expect(page.locator("#auth-error")).to_have_text("Wrong username or password.")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")

    # An unknown account gets the same words (nothing tells which accounts exist).
    assert sign_in_attempt(page, unique("nobody"), PASSWORD) == 401
    expect(page.locator("#auth-error")).to_have_text("Wrong username or password.")

    # The right password clears the error and signs in.
    assert sign_in_attempt(page, user["username"], PASSWORD) == 200
    expect_signed_in(page)


def test_repeated_failures_are_rate_limited(new_page: Callable[..., Page], page_errors: PageErrors, e2e_server):
    page_errors.expect("status of 401")
    page_errors.expect("status of 429")
    user = register(e2e_server.base)
    page = new_page()
    page.goto("/")
    for n in range(FAILS_ALLOWED):
        assert sign_in_attempt(page, user["username"], f"wrong password {n}") == 401, f"attempt {n + 1}"
        expect(page.locator("#auth-error")).to_have_text("Wrong username or password.")

    assert sign_in_attempt(page, user["username"], "wrong again") == 429
    error = page.locator("#auth-error")
    expect(error).to_contain_text("Too many failed sign-in attempts. Try again in")
    expect(error).to_have_text(re.compile(r"^Too many failed sign-in attempts\. Try again in \d+ (minutes|seconds)\.$"))

    # While limited, even the right password is refused (no guessing through the limit), and it says so.
    assert sign_in_attempt(page, user["username"], PASSWORD) == 429
    expect(error).to_contain_text("Try again in")
    expect(page.locator("#logout")).to_have_count(0)


def test_session_survives_reload_until_sign_out(new_page: Callable[..., Page], e2e_server):
    user = register(e2e_server.base)
    page = new_page()
    page.goto("/")
    assert sign_in_attempt(page, user["username"], PASSWORD) == 200
    expect_signed_in(page)

    page.reload()
    expect_signed_in(page)
    expect(page.locator("#account")).to_contain_text(user["username"])
    expect(page.get_by_label("Username or email")).to_have_count(0)

    # A second page of the same browser shares the cookie session.
    other = page.context.new_page()
    other.goto("/")
    expect_signed_in(other)
    other.close()

    page.locator("#logout").click()
    expect_sign_in_form(page)
    page.reload()
    expect_sign_in_form(page)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
