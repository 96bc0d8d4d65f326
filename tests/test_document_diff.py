"""Identity across versions over HTTP: an edited requirement keeps its uid, coverage marks it stale and its
tests suspect, the version diff shows the change; the preview shows what a version would hold, saving nothing."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from chatsvc.schemas.documents import MAX_CONTENT_BYTES
from tests.helpers import add_member, assert_error, create_project, register_and_login
from tests.recorder import publications
from tests.test_large_documents import extract_in_workers, post_document

V1 = ("# Accounts\n\nThe system shall lock the account after 5 failed attempts.\n\n"
      "Reports should be exported as CSV.\n\nThe app must start in 2 seconds.\n")
V2 = ("# Accounts\n\nUsers may reset their password by mail.\n\n"
      "The system shall lock the account after 3 failed login attempts.\n\n"
      "Reports should be exported as CSV.\n")
REQ_FIELDS = {"uid", "title", "statement", "modality", "priority", "section", "fingerprint"}


async def version(user, pid: str, content: str) -> dict:
    r = await user.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": content})
    assert r.status == 201, r.body
    return r.body


async def requirements(user, version_id: str) -> list[dict]:
    r = await user.get(f"/document-versions/{version_id}/requirements")
    assert r.status == 200, r.body
    return r.body["items"]


def linked_test(tc_id: str, req: dict) -> dict:
    return {"id": tc_id, "title": "Lockout after failed logins", "preconditions": "",
            "steps": [{"action": "Fail to log in 5 times", "expected": "Refused"}], "expected_result": "Locked",
            "priority": "high", "type": "functional", "requirement_uids": [req["uid"]],
            "links": [{"req_uid": req["uid"], "fingerprint": req["fingerprint"], "origin": "generated"}]}


async def test_an_edited_requirement_keeps_its_uid_and_its_tests_become_suspect(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    v1 = await version(owner, pid, V1)
    lock, csv, start = await requirements(owner, v1["id"])
    assert lock["uid"].startswith("REQ-")  # generated: the sentence has no author id
    art = await owner.post(f"/projects/{pid}/artifacts", {
        "type": "test_cases", "name": "Tests", "document_version_id": v1["id"],
        "content": {"test_cases": [linked_test("TC-LOCK", lock), linked_test("TC-CSV", csv)]}})
    assert art.status == 201, art.body

    v2 = await version(owner, pid, V2)
    mail, lock2, csv2 = await requirements(owner, v2["id"])
    assert lock2["uid"] == lock["uid"] and lock2["fingerprint"] != lock["fingerprint"]
    assert "3 failed login attempts" in lock2["statement"]
    assert csv2 == csv and mail["uid"] not in {lock["uid"], csv["uid"], start["uid"]}

    report = (await owner.post("/bot/coverage/sync", {"project_id": pid})).body["report"]
    rows = {row["req_uid"]: row for row in report["rows"]}
    assert rows[lock["uid"]]["status"] == "stale" and rows[csv["uid"]]["status"] == "covered"
    assert report["suspect_tests"] == ["TC-LOCK"] and report["orphan_tests"] == []
    assert report["dangling_refs"] == []

    diff = await owner.get(f"/document-versions/{v2['id']}/diff")
    assert diff.status == 200, diff.body
    body = diff.body
    assert (body["from_version_id"], body["to_version_id"]) == (v1["id"], v2["id"])
    assert body["added"] == [mail] and body["removed"] == [start] and body["unchanged_count"] == 1
    assert body["changed"] == [{"uid": lock["uid"], "before": lock, "after": lock2}]
    assert body["suspect_tests"] == [{"tc_id": "TC-LOCK", "req_uids": [lock["uid"]]}]
    assert all(set(r) == REQ_FIELDS for r in body["added"] + body["removed"])

    backwards = (await owner.get(f"/document-versions/{v1['id']}/diff?against={v2['id']}")).body
    assert backwards["added"] == [start] and backwards["removed"] == [mail]
    assert backwards["changed"] == [{"uid": lock["uid"], "before": lock2, "after": lock}]
    assert backwards["suspect_tests"] == []  # the tests carry v1's fingerprint
    first = (await owner.get(f"/document-versions/{v1['id']}/diff")).body
    assert first["from_version_id"] is None and first["added"] == [lock, csv, start]
    assert first["changed"] == first["removed"] == [] and first["unchanged_count"] == 0

    v3 = await version(owner, pid, V2)  # unchanged text: the carried uid stays
    assert await requirements(owner, v3["id"]) == [mail, lock2, csv2]
    same = (await owner.get(f"/document-versions/{v3['id']}/diff")).body
    assert (same["added"], same["changed"], same["removed"], same["unchanged_count"]) == ([], [], [], 3)
    skip = (await owner.get(f"/document-versions/{v3['id']}/diff?against={v1['id']}")).body
    assert [c["uid"] for c in skip["changed"]] == [lock["uid"]]


async def test_diff_access_and_bad_ids(client):
    owner = await register_and_login(client)
    viewer, stranger = await register_and_login(client), await register_and_login(client)
    pid = (await create_project(owner))["id"]
    other = (await create_project(owner, "Other"))["id"]
    await add_member(owner, pid, viewer, "viewer")
    v1 = await version(owner, pid, V1)
    foreign = await version(owner, other, V2)
    url = f"/document-versions/{v1['id']}/diff"
    assert (await viewer.get(url)).status == 200
    assert_error(await stranger.get(url), 404, "not_found")
    assert_error(await owner.get(f"{url}?against={foreign['id']}"), 404, "not_found")
    assert_error(await owner.get(f"{url}?against=no-such-version"), 404, "not_found")
    assert_error(await owner.get(f"{url}?against=bad%20id"), 422, "validation_error")
    assert_error(await owner.get("/document-versions/nope/diff"), 404, "not_found")
    assert_error(await owner.get(f"{url}?against="), 422, "validation_error")  # empty is no id: leave it out


async def test_preview_shows_requirements_and_saves_nothing(client):
    owner = await register_and_login(client)
    viewer, stranger = await register_and_login(client), await register_and_login(client)
    pid = (await create_project(owner))["id"]
    await add_member(owner, pid, viewer, "viewer")
    url = f"/projects/{pid}/document-versions/preview"
    before = len(publications(client))
    r = await owner.post(url, {"title": "Draft", "content": V1})
    assert r.status == 200, r.body
    assert r.body["count"] == 3 and [q["statement"] for q in r.body["requirements"]] == [
        "The system shall lock the account after 5 failed attempts.", "Reports should be exported as CSV.",
        "The app must start in 2 seconds."]
    assert all(set(q) == REQ_FIELDS for q in r.body["requirements"])
    assert len(publications(client)) == before
    assert (await owner.get(f"/projects/{pid}/document-versions")).body["total"] == 0

    v1 = await version(owner, pid, V1)
    assert await requirements(owner, v1["id"]) == r.body["requirements"]
    edited = await owner.post(url, {"title": "Draft", "content": V2})
    assert edited.body["requirements"][1]["uid"] == r.body["requirements"][0]["uid"]  # carried, as create would
    assert (await owner.get(f"/projects/{pid}/document-versions")).body["total"] == 1

    assert_error(await viewer.post(url, {"title": "x", "content": V1}), 403, "forbidden")
    assert_error(await stranger.post(url, {"title": "x", "content": V1}), 404, "not_found")
    assert_error(await owner.post(url, {"content": V1}), 422, "validation_error")
    assert_error(await owner.post(url, {"title": "x", "file_id": "no-such-file"}), 422, "validation_error")
    big = json.dumps({"title": "Big", "content": "x" * (2 * 1024 * 1024 + 1)}).encode()
    r = await owner.call("POST", url, data=io.BytesIO(big), headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def sentences(count: int, *, edited: int = 0, inserted: int = 0) -> str:
    """A document of `count` requirements without author ids; every `edited`-th reworded, `inserted` new ones."""
    lines = ["# Large document without ids", ""]
    for i in range(count):
        verb = "store and record" if edited and i % edited == 0 else "record"
        lines.append(f"- The component {i % 7} shall {verb} event kind {i} for every signed-in user.")
        if i < inserted:
            lines.append(f"- The gateway shall throttle tenant {i} above its quota.")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(600)
async def test_identity_is_carried_on_a_large_document_through_the_workers(client):
    extract_in_workers(client)
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    count = 28_000
    text1 = await asyncio.to_thread(sentences, count)
    text2 = await asyncio.to_thread(sentences, count, edited=100, inserted=5)
    assert len(text2.encode()) <= MAX_CONTENT_BYTES
    v1 = await post_document(owner, pid, "v1", text1)
    assert v1.status == 201 and v1.body["requirement_count"] == count
    v2 = await post_document(owner, pid, "v2", text2)
    assert v2.status == 201 and v2.body["requirement_count"] == count + 5
    diff = (await owner.get(f"/document-versions/{v2.body['id']}/diff")).body
    assert len(diff["added"]) == 5 and diff["removed"] == []
    assert len(diff["changed"]) == count // 100 and diff["unchanged_count"] == count - count // 100
    assert all("store and record" in c["after"]["statement"] for c in diff["changed"])
