"""Reviewing coverage's inferred links: accept one (it becomes a declared link with the requirement's current
fingerprint) or reject one (coverage never infers it again) — what a QA engineer does with a suggestion."""

from __future__ import annotations

from typing import Any

from tests.helpers import add_member, assert_error, create_project, register_and_login

SPEC = """# Accounts
REQ-1: The system shall lock an account after five failed login attempts.
REQ-2: The system shall send a password reset email within one minute.
"""


def unlinked(tc_id: str, title: str, action: str) -> dict[str, Any]:
    return {"id": tc_id, "title": title, "preconditions": "", "steps": [{"action": action, "expected": "ok"}],
            "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": []}


async def coverage_rows(user: Any, project_id: str) -> dict[str, dict[str, Any]]:
    r = await user.post("/bot/coverage/sync", {"project_id": project_id})
    assert r.status == 200, r.body
    return {row["req_uid"]: row for row in r.body["report"]["rows"]}


async def test_accepting_and_rejecting_inferred_links(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    assert (await owner.post(f"/projects/{project['id']}/document-versions",
                             {"title": "Spec", "content": SPEC})).status == 201
    cases = [unlinked("TC-LOCK", "Account locked after five failed login attempts", "fail the login five times"),
             unlinked("TC-MAIL", "Password reset email arrives within one minute", "request a password reset email")]
    suite = await owner.post(f"/projects/{project['id']}/artifacts",
                             {"type": "test_cases", "name": "Suite", "content": {"test_cases": cases}})
    assert suite.status == 201, suite.body
    rows = await coverage_rows(owner, project["id"])
    assert rows["REQ-1"]["status"] == "inferred" and rows["REQ-2"]["status"] == "inferred"

    url = f"/artifacts/{suite.body['id']}/links"
    accepted = await owner.post(url, {"tc_id": "TC-LOCK", "req_uid": "REQ-1", "decision": "accept"})
    assert accepted.status == 200, accepted.body
    case = accepted.body["content"]["test_cases"][0]
    assert case["requirement_uids"] == ["REQ-1"] and case["links"][0]["origin"] == "accepted"
    assert len(case["links"][0]["fingerprint"]) == 64 and accepted.body["version"] == 2
    rejected = await owner.post(url, {"tc_id": "TC-MAIL", "req_uid": "REQ-2", "decision": "reject"})
    assert rejected.status == 200 and rejected.body["content"]["test_cases"][1]["rejected_uids"] == ["REQ-2"]

    rows = await coverage_rows(owner, project["id"])
    assert rows["REQ-1"]["status"] == "covered" and rows["REQ-1"]["tests"][0]["origin"] == "explicit"
    assert rows["REQ-2"]["status"] == "uncovered"
    # Changing one's mind: accepting a rejected pair clears the rejection.
    again = await owner.post(url, {"tc_id": "TC-MAIL", "req_uid": "REQ-2", "decision": "accept"})
    assert "rejected_uids" not in again.body["content"]["test_cases"][1]
    assert (await coverage_rows(owner, project["id"]))["REQ-2"]["status"] == "covered"


async def test_link_review_errors_and_rights(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    project = await create_project(owner)
    await add_member(owner, project["id"], viewer, "viewer")
    assert (await owner.post(f"/projects/{project['id']}/document-versions",
                             {"title": "Spec", "content": SPEC})).status == 201
    suite = (await owner.post(f"/projects/{project['id']}/artifacts", {"type": "test_cases", "name": "S", "content": {
        "test_cases": [unlinked("TC-1", "Lock", "fail five times")]}})).body
    note = (await owner.post(f"/projects/{project['id']}/artifacts", {"type": "note", "name": "N",
                                                                      "content": "x"})).body
    body = {"tc_id": "TC-1", "req_uid": "REQ-1", "decision": "accept"}
    assert_error(await viewer.post(f"/artifacts/{suite['id']}/links", body), 403, "forbidden")
    assert_error(await (await register_and_login(client)).post(f"/artifacts/{suite['id']}/links", body), 404,
                 "not_found")
    assert_error(await owner.post(f"/artifacts/{note['id']}/links", body), 422, "validation_error")
    assert_error(await owner.post(f"/artifacts/{suite['id']}/links", {**body, "tc_id": "TC-9"}), 422,
                 "validation_error")
    assert_error(await owner.post(f"/artifacts/{suite['id']}/links", {**body, "req_uid": "REQ-9"}), 422,
                 "validation_error")
    assert_error(await owner.post(f"/artifacts/{suite['id']}/links", {**body, "decision": "maybe"}), 422,
                 "validation_error")
