"""The whole journey a new user takes, in a real browser: register, project, document, generate test cases
from the chat, watch tokens and progress, open the artifact, run coverage, read the percentage."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.ui import PASSWORD, SPEC, api, unique


def test_register_to_coverage(new_page, e2e_server, shot):
    page = new_page()
    page.goto("/")
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Create an account").click()
    name = unique("ann")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    page.locator("#new-project input[name=name]").fill("Checkout")
    page.locator("#new-project button[type=submit]").click()
    expect(page.locator("#project-name")).to_have_text("Checkout")
    form = page.locator("#version-form")
    form.locator("input[name=title]").fill("Spec")
    form.locator("textarea[name=content]").fill(SPEC)
    form.get_by_role("button", name="Create version").click()
    expect(page.locator("#requirements tbody tr")).to_have_count(3)
    expect(page.locator("#requirements tr[data-uid='REQ-1']")).to_contain_text("lock an account")
    shot(page, "02-document")

    page.locator("a[data-tab=chat]").click()
    page.locator("#new-chat").click()
    composer = page.locator("#composer")
    composer.fill("Please generate")
    composer.press("Shift+Enter")  # a new line, not a send
    composer.press_sequentially("test cases")
    expect(composer).to_have_value("Please generate\ntest cases")
    expect(page.locator("#messages .empty")).to_be_visible()
    page.locator("#composer").fill("Please generate test cases")
    page.locator("#composer").press("Enter")
    reply = page.locator("#messages article.msg.assistant").last
    # Streaming: the reply is visibly incomplete first, with the Stop button offered, then completes.
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(page.locator("#stop")).to_be_visible()
    expect(reply.locator(".body")).not_to_be_empty()
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(page.locator("#send")).to_be_visible()
    tool = reply.locator(".tool[data-tool=generate_test_cases]")
    expect(tool).to_be_visible()
    # The task's progress bar fills and links to the artifact it made.
    task = tool.locator(".task")
    expect(task).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(task.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator("#tasks .task[data-status=succeeded]")).to_have_count(1)
    shot(page, "03-chat-generation")
    task.locator("a.open-artifact").click()
    expect(page.locator("#artifact-name")).to_contain_text("Test cases")
    rows = page.locator("#test-cases tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3
    expect(page.locator("#test-cases tr", has_text="REQ-1").first).to_be_visible()
    expect(page.locator("#test-cases ol.steps li").first).to_be_visible()
    shot(page, "04-test-cases")

    # Coverage from the Documents tab's button this time; the task strip shows it and links to the report.
    page.locator("a[data-tab=documents]").click()
    page.locator("#run-coverage").click()
    done = page.locator("#tasks .task[data-status=succeeded]", has_text="Coverage")
    expect(done).to_be_visible(timeout=20_000)
    done.locator("a.open-artifact").click()
    expect(page.locator("#coverage-pct")).to_contain_text(re.compile(r"\d+(\.\d)?%"))
    project_id = page.url.split("/p/")[1].split("/")[0]
    report_id = page.url.rsplit("/", 1)[1]
    token_user = {"token": _token(e2e_server.base, name)}
    report = api(e2e_server.base, token_user, "GET", f"/artifacts/{report_id}")["content"]
    assert report["summary"]["requirements_total"] == 3
    expect(page.locator("#coverage-pct")).to_contain_text(f"{report['summary']['coverage_pct']}%")
    expect(page.locator("#coverage-matrix tbody tr")).to_have_count(3)
    assert project_id
    shot(page, "05-coverage")


def test_uncovered_and_stale_rows_are_highlighted(new_page, e2e_server, shot):
    from tests.e2e.ui import project_with_document, register, sign_in

    owner = register(e2e_server.base)
    project = project_with_document(e2e_server.base, owner)
    base = e2e_server.base
    path = f"/projects/{project['id']}/artifacts"
    api(base, owner, "POST", path, {"type": "test_cases", "name": "Manual", "content": {
        "test_cases": [{"id": "TC-1", "title": "Lockout", "preconditions": "", "steps": [{"action": "Fail 5 logins",
                        "expected": "Locked"}], "expected_result": "Locked", "priority": "high", "type": "functional",
                        "requirement_uids": [], "links": [{"req_uid": "REQ-1", "fingerprint": "0" * 64,
                                                           "origin": "manual"}]}]}})
    out = api(base, owner, "POST", "/bot/coverage/sync", {"project_id": project["id"]})
    page = new_page()
    sign_in(page, owner["username"])
    page.goto(f"/#/p/{project['id']}/artifacts/{out['artifact_id']}")
    expect(page.locator("#coverage-pct")).to_contain_text("0")
    expect(page.locator("#coverage-matrix tr[data-uid='REQ-1']")).to_have_attribute("data-status", "stale")
    expect(page.locator("#coverage-matrix tr[data-status=uncovered]").first).to_be_visible()
    uncovered = page.locator("#coverage-matrix tr.status-uncovered").first
    expect(uncovered).to_have_css("background-color", "rgb(253, 240, 239)")
    shot(page, "06-coverage-stale-uncovered")


def _token(base: str, username: str) -> str:
    from tests.procutil import http

    status, body = http("POST", f"{base}/api/v1/users/login", {"username": username, "password": PASSWORD})
    assert status == 200
    return body["access_token"]
