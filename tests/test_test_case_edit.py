"""Editing test cases one by one — add by hand, edit, delete in bulk — and each case's history, as a QA engineer
and their teammates see it through the API (and a second tab sees it over the websocket)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from chatsvc import keys
from storage import test_cases, users
from storage.db import Database
from storage.migrate import alembic_config, run_migrations_blocking
from storage.models import Artifact, Project, TestCaseRevision
from tests.conftest import drop_postgres_schema, postgres_schema
from tests.helpers import User, add_member, assert_error, create_project, register_and_login
from tests.wsutil import WsClient

FP = "a" * 64
SPEC = """# Accounts
REQ-1: The system shall lock an account after five failed login attempts.
REQ-2: The system shall send a password reset email within one minute.
"""


def case(tc_id: str, title: str, **fields: Any) -> dict[str, Any]:
    return {"id": tc_id, "title": title, "preconditions": "", "steps": [{"action": "do it", "expected": "done"}],
            "expected_result": "ok", "priority": "high", "type": "functional", "requirement_uids": [],
            "links": [], **fields}


async def make_suite(owner: User, cases: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]]:
    """A project of the owner's with a test_cases artifact; answers (project id, artifact)."""
    project = await create_project(owner)
    cases = cases if cases is not None else [case("TC-1", "Lock after five failures"),
                                             case("TC-2", "Reset email within a minute")]
    r = await owner.post(f"/projects/{project['id']}/artifacts",
                         {"type": "test_cases", "name": "Suite", "content": {"test_cases": cases}})
    assert r.status == 201, r.body
    return project["id"], r.body


async def artifact(user: User, artifact_id: str) -> dict[str, Any]:
    r = await user.get(f"/artifacts/{artifact_id}")
    assert r.status == 200, r.body
    return r.body


def by_id(art: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in art["content"]["test_cases"]}


async def history(user: User, artifact_id: str, tc_id: str, **query: Any) -> dict[str, Any]:
    r = await user.get(f"/artifacts/{artifact_id}/test-cases/{tc_id}/history", params=query)
    assert r.status == 200, r.body
    return r.body


async def test_adding_cases_by_hand(client):
    owner = await register_and_login(client)
    _pid, suite = await make_suite(owner)
    url = f"/artifacts/{suite['id']}/test-cases"

    made = await owner.post(url, {"title": "Unlock by email link"})
    assert made.status == 201, made.body
    assert re.fullmatch(r"TC-[0-9A-F]{8}", made.body["test_case"]["id"])
    assert made.body["artifact_id"] == suite["id"] and made.body["artifact_version"] == 2
    assert made.body["revision"] == 1
    assert made.body["test_case"] == {"id": made.body["test_case"]["id"], "title": "Unlock by email link",
                                      "preconditions": "", "steps": [], "expected_result": "", "priority": "medium",
                                      "type": "functional", "requirement_uids": [], "links": []}

    given = await owner.post(url, {"id": "TC-MINE", "title": "Mine", "priority": "low", "type": "boundary",
                                   "steps": [{"action": "try 0", "expected": "refused"}],
                                   "requirement_uids": ["REQ-1"]})
    assert given.status == 201 and given.body["test_case"]["id"] == "TC-MINE"
    assert given.body["artifact_version"] == 3
    assert_error(await owner.post(url, {"id": "TC-1", "title": "Again"}), 409, "conflict")
    assert_error(await owner.post(url, {"id": "TC-MINE", "title": "Again"}), 409, "conflict")

    art = await artifact(owner, suite["id"])
    assert [c["id"] for c in art["content"]["test_cases"]] == ["TC-1", "TC-2", made.body["test_case"]["id"],
                                                                "TC-MINE"]
    assert art["version"] == 3
    assert by_id(art)["TC-MINE"] == given.body["test_case"]

    added = await history(owner, suite["id"], "TC-MINE")
    assert added["total"] == 1 and len(added["items"]) == 1
    entry = added["items"][0]
    assert entry["revision"] == 1 and entry["action"] == "created"
    assert entry["changed_by"] == owner.id and entry["changed_by_name"] == owner.username
    assert entry["snapshot"] == given.body["test_case"]
    assert entry["changes"]["title"] == {"from": None, "to": "Mine"}


async def test_adding_refuses_what_it_must(client):
    owner, editor, viewer, stranger = [await register_and_login(client) for _ in range(4)]
    pid, suite = await make_suite(owner)
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")
    note = (await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "N", "content": "x"})).body
    url = f"/artifacts/{suite['id']}/test-cases"

    wrong_type = await owner.post(f"/artifacts/{note['id']}/test-cases", {"title": "T"})
    assert_error(wrong_type, 422, "validation_error")
    assert wrong_type.body["error"]["details"][0]["loc"] == ["path", "id"]
    assert_error(await viewer.post(url, {"title": "T"}), 403, "forbidden")
    assert_error(await stranger.post(url, {"title": "T"}), 404, "not_found")
    assert_error(await owner.post("/artifacts/no-such-artifact/test-cases", {"title": "T"}), 404, "not_found")
    for bad in ({}, {"title": "  "}, {"title": "T", "priority": "urgent"}, {"title": "T", "type": "smoke"},
                {"title": "T", "id": None}, {"title": "T", "id": "has space"}, {"title": "T", "id": "delete"},
                {"title": "T", "surprise": 1},
                {"title": "T", "steps": [{"action": "", "expected": ""}]}, {"title": "T\x00"},
                {"title": "T", "requirement_uids": [""]}, {"title": "x" * 501},
                {"title": "T", "links": [{"req_uid": "R", "fingerprint": "nope", "origin": "manual"}]}):
        assert_error(await owner.post(url, bad), 422, "validation_error")
    assert (await editor.post(url, {"title": "By the editor"})).status == 201
    assert (await artifact(owner, suite["id"]))["version"] == 2  # only the editor's add was written


async def watched_5000_case_suite(client: Any) -> tuple[User, User, list[dict[str, Any]], str, dict[str, Any],
                                                         WsClient]:
    """A suite at the 5000-case limit: its owner, a viewer whose socket watches the project, the cases, the
    project id, the artifact and that socket."""
    owner, teammate = await register_and_login(client), await register_and_login(client)
    cases = [{**case(f"TC-{n}", f"Case {n}"), "steps": []} for n in range(5000)]
    pid, suite = await make_suite(owner, cases)
    await add_member(owner, pid, teammate, "viewer")
    ws = await WsClient.connect(client, teammate)
    assert (await ws.op("subscribe", topic=f"project:{pid}"))["ok"]
    return owner, teammate, cases, pid, suite, ws


async def test_an_artifact_holds_at_most_5000_cases(client):
    # A content this big is changed in an agent worker process, never in the server's (the loop guard watches).
    owner, teammate, cases, pid, suite, ws = await watched_5000_case_suite(client)
    url = f"/artifacts/{suite['id']}/test-cases"

    assert_error(await owner.post(url, {"title": "One too many"}), 422, "validation_error")
    assert_error(await owner.patch(f"{url}/TC-5000", {"title": "No such case"}), 404, "not_found")
    edited = await owner.patch(f"{url}/TC-221", {"title": "Still editable", "base_revision": 1})
    assert edited.status == 200 and edited.body["revision"] == 2, edited.body
    assert edited.body["test_case"] == {**cases[221], "title": "Still editable"}
    event = await ws.recv_until(lambda f: f["type"] == "event" and f["name"] == "artifact.updated")
    assert event["data"]["version"] == 2 and "resource" not in event["data"]  # too big to ride along
    stale = await owner.patch(f"{url}/TC-221", {"title": "From an old copy", "base_revision": 1})
    assert_error(stale, 409, "conflict")
    assert "revision 2" in stale.body["error"]["message"]
    deleted = await owner.post(f"{url}/delete", {"ids": ["TC-0", "TC-4999", "TC-5000"]})
    assert deleted.body == {"deleted": ["TC-0", "TC-4999"], "missing": ["TC-5000"]}
    assert (await owner.post(url, {"title": "Room again"})).status == 201
    untouched = await teammate.get(f"{url}/TC-7/history")  # never changed: found in the content
    assert [item["action"] for item in untouched.body["items"]] == ["created"], untouched.body
    assert untouched.body["items"][0]["snapshot"] == cases[7]
    assert (await teammate.get(f"{url}/TC-0/history")).body["items"][0]["action"] == "deleted"
    assert (await owner.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})).status == 201
    reviewed = await owner.post(f"/artifacts/{suite['id']}/links", {"tc_id": "TC-9", "req_uid": "REQ-1",
                                                                    "decision": "accept"})
    assert reviewed.status == 200, reviewed.body  # the answer holds the whole suite, as stored
    assert reviewed.body["version"] == 5 and len(reviewed.body["content"]["test_cases"]) == 4999
    assert by_id(reviewed.body)["TC-9"]["requirement_uids"] == ["REQ-1"]
    assert (await history(teammate, suite["id"], "TC-9"))["items"][0]["changes"]["links"]["to"][0]["origin"] == \
        "accepted"
    stored = await artifact(owner, suite["id"])
    titles = [tc["title"] for tc in stored["content"]["test_cases"]]
    assert len(titles) == 4999 and titles[219:221] == ["Case 220", "Still editable"] and titles[-1] == "Room again"
    renamed = await owner.patch(f"/artifacts/{suite['id']}", {"name": "Regression"})  # the content is not read
    assert renamed.status == 200 and renamed.body["name"] == "Regression" and renamed.body["version"] == 6
    assert renamed.body["content"] == stored["content"]
    event = await ws.recv_until(lambda f: f["type"] == "event" and f["name"] == "artifact.updated"
                                and f["data"]["version"] == 6)
    assert "resource" not in event["data"]
    await ws.close()


async def test_a_whole_5000_case_suite_replaced_by_patch_records_each_case(client):
    """A whole-content PATCH at the limit: the body (~1 MiB), the stored suite and the new one are decoded,
    compared and encoded by a worker (the loop guard watches), each case's revision made there; the answer
    and the event are those of any update, and an unchanged content or a bad one changes nothing."""
    owner, teammate, cases, pid, suite, ws = await watched_5000_case_suite(client)
    url = f"/artifacts/{suite['id']}"
    replaced = [c for c in cases if c["id"] != "TC-0"]  # one deleted, one edited, one added: 5000 again
    replaced[41] = {**replaced[41], "title": "Retitled", "priority": "low"}
    for i in range(42, 642):  # 600 more edits: the revision rows take more than one statement (500 each)
        replaced[i] = {**replaced[i], "title": f"Bulk {i}"}
    replaced.append(case("TC-NEW", "Added by the PATCH"))

    assert_error(await teammate.patch(url, {"content": {"test_cases": replaced}}), 403, "forbidden")
    bad = await owner.patch(url, {"content": {"test_cases": [*replaced[:-1], {"id": "TC-X"}]}})
    assert_error(bad, 422, "validation_error")
    assert bad.body["error"]["details"][0]["loc"][:3] == ["body", "content", "test_cases"], bad.body
    assert_error(await owner.patch(url, {"content": {"test_cases": [*replaced, case("TC-5001", "Too many")]}}),
                 422, "validation_error")
    same = await owner.patch(url, {"content": {"test_cases": cases}})
    assert same.status == 200 and same.body["version"] == 1  # unchanged: no new version, nothing published

    r = await owner.patch(url, {"content": {"test_cases": replaced}, "name": "Suite v2"})
    assert r.status == 200, r.body
    assert (r.body["version"], r.body["name"], len(r.body["content"]["test_cases"])) == (2, "Suite v2", 5000)
    assert r.body["content"]["test_cases"][41]["title"] == "Retitled"
    event = await ws.recv_until(lambda f: f["type"] == "event" and f["name"] == "artifact.updated")
    assert event["data"]["version"] == 2 and "resource" not in event["data"]  # too big to ride along
    assert [(i["revision"], i["action"]) for i in (await history(teammate, suite["id"], "TC-0"))["items"]] == [
        (2, "deleted"), (1, "created")]
    edit = (await history(teammate, suite["id"], "TC-42"))["items"][0]
    assert edit["changes"] == {"priority": {"from": "high", "to": "low"}, "title": {"from": "Case 42",
                                                                                  "to": "Retitled"}}
    assert (await history(teammate, suite["id"], "TC-NEW"))["items"][0]["action"] == "created"
    async with client.app[keys.DB].read() as s:  # one row per case changed: 601 edited, 1 created, 1 deleted
        rows = (await s.execute(select(TestCaseRevision.action, func.count()).where(
            TestCaseRevision.artifact_id == suite["id"]).group_by(TestCaseRevision.action))).all()
    assert dict(rows) == {"edited": 601, "created": 1, "deleted": 1}
    last_bulk = (await history(teammate, suite["id"], "TC-642"))["items"]
    assert [(i["revision"], i["action"], i["snapshot"]["title"] if i["snapshot"] else None) for i in last_bulk][0] \
        == (2, "edited", "Bulk 641")
    assert (await history(teammate, suite["id"], "TC-7"))["total"] == 1  # untouched: no row of its own
    assert (await artifact(owner, suite["id"]))["content"] == r.body["content"]
    await ws.close()


async def test_editing_a_case(client):
    owner = await register_and_login(client)
    pid, suite = await make_suite(owner)
    url = f"/artifacts/{suite['id']}/test-cases"

    r = await owner.patch(f"{url}/TC-1", {"title": "Lock after five failed logins", "priority": "medium"})
    assert r.status == 200, r.body
    assert r.body["revision"] == 2 and r.body["artifact_version"] == 2
    assert r.body["test_case"] == {**case("TC-1", "Lock after five failed logins"), "priority": "medium"}
    art = await artifact(owner, suite["id"])
    assert by_id(art)["TC-1"] == r.body["test_case"] and by_id(art)["TC-2"] == case("TC-2",
                                                                                   "Reset email within a minute")

    unchanged = await owner.patch(f"{url}/TC-1", {})
    assert unchanged.status == 200 and unchanged.body == r.body
    same = await owner.patch(f"{url}/TC-1", {"priority": "medium"})  # the value it has: nothing to write
    assert same.status == 200 and same.body == r.body

    for bad in ({"title": None}, {"title": ""}, {"priority": "urgent"}, {"steps": [{"action": "x"}]},
                {"steps": None}, {"requirement_uids": ["x" * 65]}, {"base_revision": "2"}, {"base_revision": 0},
                {"base_revision": True}, {"id": "TC-9"}, {"source": "model"}):
        assert_error(await owner.patch(f"{url}/TC-1", bad), 422, "validation_error")
    assert_error(await owner.patch(f"{url}/TC-404", {"title": "Nobody"}), 404, "not_found")
    assert_error(await owner.patch(f"/artifacts/{suite['id']}/test-cases/not%20an%20id", {}), 404, "not_found")
    after = await artifact(owner, suite["id"])
    assert after["version"] == 2 and after["content"] == art["content"]
    assert (await history(owner, suite["id"], "TC-1"))["total"] == 2

    # Steps replace the list; the other fields stay.
    steps = [{"action": "fail five times", "expected": "locked"}, {"action": "wait", "expected": "still locked"}]
    r = await owner.patch(f"{url}/TC-1", {"steps": steps, "expected_result": "locked", "base_revision": 2})
    assert r.status == 200 and r.body["revision"] == 3 and r.body["test_case"]["steps"] == steps
    assert r.body["test_case"]["priority"] == "medium"


async def test_a_stale_edit_is_refused_with_who_changed_it(client):
    owner, editor = await register_and_login(client), await register_and_login(client)
    pid, suite = await make_suite(owner)
    await add_member(owner, pid, editor, "editor")
    url = f"/artifacts/{suite['id']}/test-cases/TC-2"

    assert (await editor.patch(url, {"title": "Editor's title", "base_revision": 1})).status == 200
    before = await artifact(owner, suite["id"])
    stale = await owner.patch(url, {"title": "Owner's title", "base_revision": 1})
    assert_error(stale, 409, "conflict")
    assert editor.username in stale.body["error"]["message"] and "revision 2" in stale.body["error"]["message"]
    after = await artifact(owner, suite["id"])
    assert after["version"] == before["version"] and after["content"] == before["content"]
    assert (await history(owner, suite["id"], "TC-2"))["total"] == 2  # nothing written
    # Never edited: still revision 1, made with the artifact.
    assert_error(await owner.patch(f"/artifacts/{suite['id']}/test-cases/TC-1", {"title": "X", "base_revision": 4}),
                 409, "conflict")
    fresh = await owner.patch(url, {"title": "Owner's title", "base_revision": 2})
    assert fresh.status == 200 and fresh.body["revision"] == 3


async def test_requirement_uids_and_links_stay_consistent(client):
    owner = await register_and_login(client)
    linked = case("TC-1", "Linked", requirement_uids=["REQ-1", "REQ-2"], rejected_uids=["REQ-3"],
                  links=[{"req_uid": "REQ-1", "fingerprint": FP, "origin": "generated"},
                         {"req_uid": "REQ-2", "fingerprint": FP, "origin": "accepted"}])
    _pid, suite = await make_suite(owner, [linked])
    url = f"/artifacts/{suite['id']}/test-cases/TC-1"

    r = await owner.patch(url, {"requirement_uids": ["REQ-2", "REQ-3"]})
    assert r.status == 200, r.body
    tc = r.body["test_case"]
    assert tc["requirement_uids"] == ["REQ-2", "REQ-3"]
    assert tc["links"] == [{"req_uid": "REQ-2", "fingerprint": FP, "origin": "accepted"}]  # REQ-3: explicit, no link
    assert "rejected_uids" not in tc  # declaring REQ-3 by hand lifts its rejection
    # Links sent with the uids are kept only for the uids listed.
    r = await owner.patch(url, {"requirement_uids": ["REQ-9"], "links": [
        {"req_uid": "REQ-9", "origin": "manual"}, {"req_uid": "REQ-2", "fingerprint": FP, "origin": "manual"}]})
    assert r.body["test_case"]["links"] == [{"req_uid": "REQ-9", "fingerprint": None, "origin": "manual"}]
    changes = (await history(owner, suite["id"], "TC-1", limit=1))["items"][0]["changes"]
    assert changes["requirement_uids"] == {"from": ["REQ-2", "REQ-3"], "to": ["REQ-9"]}


async def test_bulk_delete(client):
    owner, viewer = await register_and_login(client), await register_and_login(client)
    pid, suite = await make_suite(owner, [case(f"TC-{n}", f"Case {n}") for n in range(1, 5)])
    await add_member(owner, pid, viewer, "viewer")
    url = f"/artifacts/{suite['id']}/test-cases/delete"

    assert_error(await viewer.post(url, {"ids": ["TC-1"]}), 403, "forbidden")
    for bad in ({"ids": []}, {"ids": ["TC-1", "TC-1"]}, {"ids": "TC-1"}, {}, {"ids": [""]}):
        assert_error(await owner.post(url, bad), 422, "validation_error")
    r = await owner.post(url, {"ids": ["TC-3", "TC-9", "TC-1"]})
    assert r.status == 200 and r.body == {"deleted": ["TC-3", "TC-1"], "missing": ["TC-9"]}
    art = await artifact(owner, suite["id"])
    assert [c["id"] for c in art["content"]["test_cases"]] == ["TC-2", "TC-4"] and art["version"] == 2
    nothing = await owner.post(url, {"ids": ["TC-1", "TC-7"]})
    assert nothing.body == {"deleted": [], "missing": ["TC-1", "TC-7"]}
    assert (await artifact(owner, suite["id"]))["version"] == 2  # nothing there, nothing written

    gone = await history(viewer, suite["id"], "TC-3")
    assert [(i["revision"], i["action"]) for i in gone["items"]] == [(2, "deleted"), (1, "created")]
    assert gone["items"][0]["snapshot"] is None and gone["items"][0]["changes"]["title"] == {"from": "Case 3",
                                                                                            "to": None}
    assert gone["items"][1]["snapshot"] == case("TC-3", "Case 3")  # what was deleted, made from the deletion
    assert_error(await owner.patch(f"/artifacts/{suite['id']}/test-cases/TC-3", {"title": "X"}), 404, "not_found")
    # The id can be used again; its history goes on.
    again = await owner.post(f"/artifacts/{suite['id']}/test-cases", {"id": "TC-3", "title": "Case 3 again"})
    assert again.status == 201 and again.body["revision"] == 3


async def test_history_tells_who_changed_what(client):
    owner, editor, viewer, stranger = [await register_and_login(client) for _ in range(4)]
    pid, suite = await make_suite(owner)
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")
    base = f"/artifacts/{suite['id']}/test-cases"

    untouched = await history(viewer, suite["id"], "TC-2")
    assert untouched["total"] == 1 and untouched["limit"] == 50 and untouched["offset"] == 0
    first = untouched["items"][0]
    assert first["revision"] == 1 and first["action"] == "created"
    assert first["changed_by"] == owner.id and first["changed_by_name"] == owner.username
    assert first["changed_at"] == suite["created_at"]
    assert first["snapshot"] == case("TC-2", "Reset email within a minute")

    assert (await editor.patch(f"{base}/TC-1", {"title": "Edit one"})).status == 200
    assert (await owner.patch(f"{base}/TC-1", {"priority": "low", "title": "Edit two"})).status == 200
    assert (await editor.post(f"{base}/delete", {"ids": ["TC-1"]})).status == 200
    full = await history(viewer, suite["id"], "TC-1")
    assert full["total"] == 4
    assert [(i["revision"], i["action"], i["changed_by_name"]) for i in full["items"]] == [
        (4, "deleted", editor.username), (3, "edited", owner.username), (2, "edited", editor.username),
        (1, "created", owner.username)]
    assert full["items"][1]["changes"] == {"priority": {"from": "high", "to": "low"},
                                           "title": {"from": "Edit one", "to": "Edit two"}}
    assert full["items"][1]["snapshot"]["title"] == "Edit two"
    assert full["items"][2]["changes"] == {"title": {"from": "Lock after five failures", "to": "Edit one"}}
    assert full["items"][3]["snapshot"] == case("TC-1", "Lock after five failures")  # as it was made
    assert full["items"][0]["changed_at"] >= full["items"][1]["changed_at"] >= full["items"][3]["changed_at"]

    pages = [await history(viewer, suite["id"], "TC-1", limit=3, offset=offset) for offset in (0, 3, 4)]
    assert [[i["revision"] for i in p["items"]] for p in pages] == [[4, 3, 2], [1], []]
    assert all(p["total"] == 4 for p in pages)
    assert (await history(viewer, suite["id"], "TC-1", limit=2, offset=1))["items"][1]["revision"] == 2

    assert_error(await viewer.get(f"{base}/TC-NEVER/history"), 404, "not_found")
    assert_error(await stranger.get(f"{base}/TC-2/history"), 404, "not_found")
    assert_error(await viewer.get(f"{base}/TC-2/history?limit=500"), 422, "validation_error")


async def test_whole_content_patch_and_link_review_record_history(client):
    owner = await register_and_login(client)
    pid, suite = await make_suite(owner)
    content = {"test_cases": [case("TC-1", "Lock after five failures", priority="low"), case("TC-3", "New one")]}
    r = await owner.patch(f"/artifacts/{suite['id']}", {"content": content, "name": "Suite v2"})
    assert r.status == 200 and r.body["version"] == 2 and r.body["name"] == "Suite v2"  # one write, one version

    edited = await history(owner, suite["id"], "TC-1")
    assert [(i["revision"], i["action"]) for i in edited["items"]] == [(2, "edited"), (1, "created")]
    assert edited["items"][0]["changes"] == {"priority": {"from": "high", "to": "low"}}
    assert edited["items"][0]["changed_by_name"] == owner.username
    deleted = await history(owner, suite["id"], "TC-2")
    assert [(i["revision"], i["action"]) for i in deleted["items"]] == [(2, "deleted"), (1, "created")]
    created = await history(owner, suite["id"], "TC-3")
    assert [(i["revision"], i["action"]) for i in created["items"]] == [(1, "created")]
    assert created["items"][0]["snapshot"] == case("TC-3", "New one")
    # A rename alone records nothing; the per-case API goes on from the revision the PATCH left.
    assert (await owner.patch(f"/artifacts/{suite['id']}", {"name": "Renamed"})).status == 200
    assert (await history(owner, suite["id"], "TC-1"))["total"] == 2
    later = await owner.patch(f"/artifacts/{suite['id']}/test-cases/TC-1", {"title": "T", "base_revision": 2})
    assert later.status == 200 and later.body["revision"] == 3 and later.body["artifact_version"] == 4

    # Link review goes through the same update: accepting a link is an edit of the case.
    assert (await owner.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": SPEC})).status == 201
    accepted = await owner.post(f"/artifacts/{suite['id']}/links",
                                {"tc_id": "TC-3", "req_uid": "REQ-2", "decision": "accept"})
    assert accepted.status == 200, accepted.body
    review = (await history(owner, suite["id"], "TC-3"))["items"][0]
    assert review["revision"] == 2 and review["action"] == "edited"
    assert review["changes"]["requirement_uids"] == {"from": [], "to": ["REQ-2"]}
    assert review["changes"]["links"]["to"][0]["origin"] == "accepted"


async def test_concurrent_edits_of_different_cases_are_both_kept(any_db_client):
    owner = await register_and_login(any_db_client)
    _pid, suite = await make_suite(owner, [case(f"TC-{n}", f"Case {n}") for n in range(1, 5)])
    url = f"/artifacts/{suite['id']}/test-cases"
    one, two = await asyncio.gather(owner.patch(f"{url}/TC-1", {"title": "First", "base_revision": 1}),
                                    owner.patch(f"{url}/TC-4", {"title": "Second", "base_revision": 1}))
    assert one.status == 200 and two.status == 200, (one.body, two.body)
    assert {one.body["artifact_version"], two.body["artifact_version"]} == {2, 3}
    art = await artifact(owner, suite["id"])
    assert art["version"] == 3
    assert by_id(art)["TC-1"]["title"] == "First" and by_id(art)["TC-4"]["title"] == "Second"
    # Adds and deletes race the same way; the same case edited from the same revision twice: one wins.
    results = await asyncio.gather(owner.post(url, {"title": "Added"}), owner.post(f"{url}/delete", {"ids": ["TC-2"]}),
                                   owner.patch(f"{url}/TC-3", {"title": "A", "base_revision": 1}),
                                   owner.patch(f"{url}/TC-3", {"title": "B", "base_revision": 1}))
    assert [r.status for r in results[:2]] == [201, 200]
    assert sorted(r.status for r in results[2:]) == [200, 409]
    art = await artifact(owner, suite["id"])
    assert art["version"] == 6 and len(art["content"]["test_cases"]) == 4
    assert (await history(owner, suite["id"], "TC-3"))["total"] == 2


async def test_a_second_tab_sees_the_edit(client):
    owner, viewer = await register_and_login(client), await register_and_login(client)
    pid, suite = await make_suite(owner)
    await add_member(owner, pid, viewer, "viewer")
    ws = await WsClient.connect(client, viewer)
    assert (await ws.op("subscribe", topic=f"project:{pid}"))["ok"]
    r = await owner.patch(f"/artifacts/{suite['id']}/test-cases/TC-1", {"title": "Seen elsewhere"})
    assert r.status == 200
    event = await ws.recv_until(lambda f: f["type"] == "event" and f["name"] == "artifact.updated")
    data = event["data"]
    assert data["id"] == suite["id"] and data["version"] == 2 and data["actor"] == owner.id
    assert data["resource"]["version"] == 2 and data["resource"]["name"] == "Suite"
    assert by_id(data["resource"])["TC-1"]["title"] == "Seen elsewhere"
    assert data["resource"]["updated_at"] > suite["updated_at"]
    assert (await owner.post(f"/artifacts/{suite['id']}/test-cases/delete", {"ids": ["TC-2"]})).status == 200
    event = await ws.recv_until(lambda f: f["type"] == "event" and f["name"] == "artifact.updated")
    assert event["data"]["version"] == 3
    assert (await owner.patch(f"/artifacts/{suite['id']}/test-cases/TC-1", {})).status == 200
    await ws.nothing_more()  # nothing changed: no event
    await ws.close()


# --- storage: the table, on both databases -------------------------------------------------------------------

async def test_revisions_follow_their_artifact_and_outlive_their_author(db: Database):
    async with db.write() as s:
        user = await users.create(s, email="r@example.com", username="reviser", password_hash="x")
        project = Project(name="p")
        s.add(project)
        await s.flush()
        art = Artifact(project_id=project.id, type="test_cases", name="S", content={"test_cases": []},
                       created_by=user.id)
        s.add(art)
        await s.flush()
        row = {"tc_id": "TC-1", "revision": 1, "action": "created", "changes": '{"title":{"from":null,"to":"T"}}',
               "snapshot": '{"id":"TC-1","title":"T"}'}
        await test_cases.add_revisions(s, artifact_id=art.id, project_id=project.id, changed_by=user.id,
                                       now=art.created_at, rows=[row, {**row, "revision": 2, "action": "deleted",
                                                                       "snapshot": None}])
    async with db.read() as s:
        assert await test_cases.current_revisions(s, art.id) == {"TC-1": 2}
        first = await test_cases.first_change(s, art.id, "TC-1")
        assert first is not None and first.snapshot == {"id": "TC-1", "title": "T"}
        assert first.changes == {"title": {"from": None, "to": "T"}} and first.changed_by_name == "reviser"
        last = await test_cases.last_change(s, art.id, "TC-1")
        assert last is not None and last.action == "deleted" and last.snapshot is None
    async with db.write() as s:
        await s.delete(await s.get(type(user), user.id))
    async with db.read() as s:
        assert set(await s.scalars(select(TestCaseRevision.changed_by))) == {None}
    async with db.write() as s:
        await s.delete(await s.get(Artifact, art.id))
    async with db.read() as s:
        assert list(await s.scalars(select(TestCaseRevision.id))) == []


def _upgrade_to(url: str, connect_args: dict[str, Any] | None, target: str) -> None:
    """Upgrade a database to one revision only (what an older server left); blocking, so run it in a thread."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(url, connect_args=connect_args or {})
        try:
            async with engine.begin() as conn:
                def upgrade(sync_conn: Any) -> None:
                    cfg = alembic_config()
                    cfg.attributes["connection"] = sync_conn
                    command.upgrade(cfg, target)

                await conn.run_sync(upgrade)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migration_from_0003_keeps_what_was_there(backend: str, tmp_path: Path):
    schema = None
    if backend == "sqlite":
        url, connect_args = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", None
    else:
        url, connect_args, schema = await postgres_schema()
    await asyncio.to_thread(_upgrade_to, url, connect_args, "0003")
    database = Database(url, connect_args=connect_args)
    try:
        async with database.write() as s:
            assert await s.scalar(text("SELECT version_num FROM alembic_version")) == "0003"
            s.add(Project(name="kept"))
        await asyncio.to_thread(run_migrations_blocking, url, connect_args)
        async with database.read() as s:
            assert await s.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
            assert await s.scalar(select(Project.name)) == "kept"
            assert await s.scalar(text("SELECT count(*) FROM test_case_revisions")) == 0
    finally:
        await database.close()
        if schema:
            await drop_postgres_schema(schema)
