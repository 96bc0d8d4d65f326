"""Document versions over HTTP: numbering, the current version, immutability, deletion, requirements, files."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from aiohttp import FormData

from tests.helpers import add_member, assert_error, create_project, register_and_login
from tests.recorder import publications

SPEC = "# Login\n\nREQ-1: The system shall log in users.\nREQ-2: Passwords must be 8 to 72 bytes.\n"
SPEC2 = "# Login\n\nREQ-1: The system shall log in users.\n\n# Export\n\nReports should be exported as CSV.\n"
FIXTURES = Path(__file__).parent / "fixtures" / "documents"
SUMMARY_FIELDS = {"id", "project_id", "number", "title", "notes", "is_current", "requirement_count", "created_by",
                  "created_at", "updated_at", "version"}


def events(client, name_prefix: str = "document_version.") -> list[tuple[str, dict]]:
    """The (name, data) of published events whose name starts with a prefix, oldest first."""
    return [(name, data) for _topics, name, data in publications(client) if name.startswith(name_prefix)]


async def new_version(user, pid: str, content: str = SPEC, **extra) -> dict:
    r = await user.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": content, **extra})
    assert r.status == 201, r.body
    return r.body


async def upload(user, pid: str, data: bytes, filename: str = "spec.md") -> dict:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type="text/markdown")
    r = await user.call("POST", f"/projects/{pid}/files", data=form)
    assert r.status == 201, r.body
    return r.body


async def test_create_numbers_and_current(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    v1 = await new_version(owner, pid, notes="first")
    assert set(v1) == SUMMARY_FIELDS | {"content"}
    assert (v1["number"], v1["is_current"], v1["requirement_count"], v1["version"]) == (1, True, 2, 1)
    assert v1["content"] == SPEC and v1["notes"] == "first" and v1["created_by"] == owner.id
    assert v1["created_at"].endswith("Z")
    v2 = await new_version(owner, pid, SPEC2)
    assert (v2["number"], v2["is_current"], v2["requirement_count"]) == (2, True, 2)

    old = await owner.get(f"/document-versions/{v1['id']}")
    assert old.status == 200 and old.body["is_current"] is False and old.body["version"] == 2
    assert old.body["content"] == SPEC

    listed = await owner.get(f"/projects/{pid}/document-versions")
    assert listed.status == 200 and listed.body["total"] == 2 and listed.body["limit"] == 50
    assert [v["number"] for v in listed.body["items"]] == [2, 1]
    assert all(set(v) == SUMMARY_FIELDS for v in listed.body["items"])  # no content in lists
    page = await owner.get(f"/projects/{pid}/document-versions?limit=1&offset=1")
    assert [v["number"] for v in page.body["items"]] == [1] and page.body["offset"] == 1

    current = await owner.get(f"/projects/{pid}/document-versions/current")
    assert current.status == 200 and current.body["id"] == v2["id"] and current.body["content"] == SPEC2

    seen = events(client)
    assert [(n, d["id"]) for n, d in seen] == [
        ("document_version.created", v1["id"]), ("document_version.created", v2["id"]),
        ("document_version.updated", v1["id"])]
    assert seen[2][1]["resource"]["is_current"] is False and seen[2][1]["actor"] == owner.id
    topics = [t for t, n, _d in publications(client) if n.startswith("document_version.")]
    assert all(t == (f"project:{pid}",) for t in topics)


async def test_make_current_false_and_first_always_current(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    first = await new_version(owner, pid, make_current=False)
    assert first["is_current"] is True  # exactly one current whenever any exist
    second = await new_version(owner, pid, make_current=False)
    assert (second["number"], second["is_current"]) == (2, False)
    current = await owner.get(f"/projects/{pid}/document-versions/current")
    assert current.body["id"] == first["id"]


async def test_no_current_is_404(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    assert_error(await owner.get(f"/projects/{pid}/document-versions/current"), 404, "not_found")
    empty = await owner.get(f"/projects/{pid}/document-versions")
    assert empty.body == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_patch_title_notes_and_make_current(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    v1 = await new_version(owner, pid)
    v2 = await new_version(owner, pid)
    r = await owner.patch(f"/document-versions/{v2['id']}", {"title": "Spec v2", "notes": "reviewed"})
    assert r.status == 200 and (r.body["title"], r.body["notes"], r.body["version"]) == ("Spec v2", "reviewed", 2)
    assert r.body["content"] == SPEC

    before = len(events(client))
    r = await owner.patch(f"/document-versions/{v1['id']}", {"is_current": True})
    assert r.status == 200 and r.body["is_current"] is True
    assert (await owner.get(f"/document-versions/{v2['id']}")).body["is_current"] is False
    assert [(n, d["id"]) for n, d in events(client)[before:]] == [
        ("document_version.updated", v1["id"]), ("document_version.updated", v2["id"])]
    again = await owner.patch(f"/document-versions/{v1['id']}", {"is_current": True})
    assert again.status == 200 and again.body["version"] == r.body["version"]  # nothing changed
    assert len(events(client)) == before + 2


async def test_content_is_immutable_and_bad_patches(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    v1 = await new_version(owner, pid)
    r = await owner.patch(f"/document-versions/{v1['id']}", {"content": "changed"})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"] == ["body", "content"]
    r = await owner.patch(f"/document-versions/{v1['id']}", {"is_current": False})
    assert_error(r, 422, "validation_error")
    assert r.body["error"]["details"][0]["loc"][:2] == ["body", "is_current"]
    assert_error(await owner.patch(f"/document-versions/{v1['id']}", {"title": ""}), 422, "validation_error")
    assert (await owner.get(f"/document-versions/{v1['id']}")).body["content"] == SPEC


async def test_bad_create_bodies(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    url = f"/projects/{pid}/document-versions"
    for body in ({"title": "x"}, {"content": SPEC}, {"title": "x", "content": "   "},
                 {"title": "x", "content": "a\u0000b"}, {"title": "x", "content": SPEC, "file_id": "abc"},
                 {"title": "x", "content": SPEC, "extra": 1}, {"title": "x" * 301, "content": SPEC},
                 {"title": "x", "content": 5}, [], "text"):
        assert_error(await owner.post(url, body), 422, "validation_error")
    assert_error(await owner.post(url, {"title": "x", "file_id": "no-such-file"}), 422, "validation_error")
    r = await owner.call("POST", url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")


async def test_content_size_limit_is_413(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    big = json.dumps({"title": "Big", "content": "x" * (2 * 1024 * 1024 + 1)}).encode()
    r = await owner.call("POST", f"/projects/{pid}/document-versions", data=io.BytesIO(big),
                         headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    assert (await owner.get(f"/projects/{pid}/document-versions")).body["total"] == 0


async def test_delete_current_promotes_newest_remaining(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    v1, v2, v3 = [await new_version(owner, pid) for _ in range(3)]
    art = await owner.post(f"/projects/{pid}/artifacts", {"type": "note", "name": "n", "content": {"t": 1},
                                                           "document_version_id": v3["id"]})
    assert art.status == 201
    before = len(publications(client))
    r = await owner.delete(f"/document-versions/{v3['id']}")
    assert r.status == 204 and r.body == b""
    assert_error(await owner.get(f"/document-versions/{v3['id']}"), 404, "not_found")
    assert_error(await owner.get(f"/document-versions/{v3['id']}/requirements"), 404, "not_found")
    current = await owner.get(f"/projects/{pid}/document-versions/current")
    assert current.body["id"] == v2["id"]
    names = [(n, d["id"]) for _t, n, d in list(publications(client))[before:]]
    assert names == [("document_version.deleted", v3["id"]), ("artifact.updated", art.body["id"]),
                     ("document_version.updated", v2["id"])]
    kept = await owner.get(f"/artifacts/{art.body['id']}")
    assert kept.status == 200 and kept.body["document_version_id"] is None and kept.body["version"] == 2

    assert (await owner.delete(f"/document-versions/{v1['id']}")).status == 204  # not current: nothing moves
    assert (await owner.get(f"/projects/{pid}/document-versions/current")).body["id"] == v2["id"]
    assert (await owner.delete(f"/document-versions/{v2['id']}")).status == 204
    assert_error(await owner.get(f"/projects/{pid}/document-versions/current"), 404, "not_found")
    v4 = await new_version(owner, pid)
    # Numbers are never reused: "version 2" always means the same document, even after deletes.
    assert v4["number"] == 4 and v4["is_current"] is True


async def test_requirements_listing(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    doc = await new_version(owner, pid, (FIXTURES / "explicit.md").read_text())
    assert doc["requirement_count"] == 8
    r = await owner.get(f"/document-versions/{doc['id']}/requirements")
    assert r.status == 200 and r.body["total"] == 8
    assert [q["uid"] for q in r.body["items"]][:5] == ["REQ-1", "REQ-2", "AUTH-3", "SEC-1", "SEC-2"]
    first = r.body["items"][0]
    assert set(first) == {"uid", "title", "statement", "modality", "priority", "section", "fingerprint"}
    assert (first["modality"], first["priority"], first["section"]) == ("shall", "high", "Authentication")
    assert len(first["fingerprint"]) == 64
    page = await owner.get(f"/document-versions/{doc['id']}/requirements?limit=2&offset=6")
    assert [q["uid"] for q in page.body["items"]] == ["REQ-4", "REQ-1_2"]
    assert_error(await owner.get(f"/document-versions/{doc['id']}/requirements?limit=201"), 422, "validation_error")


async def test_create_from_uploaded_file(client):
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    other = (await create_project(owner, "Other"))["id"]
    f = await upload(owner, pid, "\ufeff# Spec\n\nThe app shall start fast.\n".encode())
    r = await owner.post(f"/projects/{pid}/document-versions", {"file_id": f["id"], "notes": "from file"})
    assert r.status == 201, r.body
    assert r.body["title"] == "spec.md" and r.body["content"] == "# Spec\n\nThe app shall start fast.\n"
    assert r.body["requirement_count"] == 1
    r = await owner.post(f"/projects/{pid}/document-versions", {"title": "Named", "file_id": f["id"]})
    assert r.status == 201 and r.body["title"] == "Named" and r.body["number"] == 2

    binary = await upload(owner, pid, b"\xff\xfe\x00\x01binary", "blob.bin")
    for file_id, project in ((binary["id"], pid), (f["id"], other)):
        r = await owner.post(f"/projects/{project}/document-versions", {"title": "x", "file_id": file_id})
        assert_error(r, 422, "validation_error")
        assert r.body["error"]["details"][0]["loc"] == ["body", "file_id"]


async def test_roles_and_non_members(client):
    owner = await register_and_login(client)
    editor, viewer, stranger = [await register_and_login(client) for _ in range(3)]
    pid = (await create_project(owner))["id"]
    await add_member(owner, pid, editor, "editor")
    await add_member(owner, pid, viewer, "viewer")
    doc = await new_version(editor, pid)
    assert doc["created_by"] == editor.id
    for user in (viewer, editor, owner):
        assert (await user.get(f"/document-versions/{doc['id']}")).status == 200
        assert (await user.get(f"/projects/{pid}/document-versions")).status == 200
    url = f"/projects/{pid}/document-versions"
    assert_error(await viewer.post(url, {"title": "x", "content": SPEC}), 403, "forbidden")
    assert_error(await viewer.patch(f"/document-versions/{doc['id']}", {"title": "y"}), 403, "forbidden")
    assert_error(await viewer.delete(f"/document-versions/{doc['id']}"), 403, "forbidden")
    doc_url = f"/document-versions/{doc['id']}"
    for path in (url, url + "/current", doc_url, doc_url + "/requirements"):
        assert_error(await stranger.get(path), 404, "not_found")
    assert_error(await stranger.post(url, {"title": "x", "content": SPEC}), 404, "not_found")
    assert_error(await stranger.patch(f"/document-versions/{doc['id']}", {"title": "y"}), 404, "not_found")
    assert_error(await stranger.delete(f"/document-versions/{doc['id']}"), 404, "not_found")
    for junk in ("nope", "x" * 65, "..%2F..", "%00"):
        assert_error(await owner.get(f"/document-versions/{junk}"), 404, "not_found")
    assert_error(await owner.get("/projects/nope/document-versions"), 404, "not_found")


async def test_concurrent_creates_number_uniquely(any_db_client):
    client = any_db_client
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    results = await asyncio.gather(*(
        owner.post(f"/projects/{pid}/document-versions", {"title": f"v{i}", "content": SPEC}) for i in range(6)))
    assert [r.status for r in results] == [201] * 6
    assert sorted(r.body["number"] for r in results) == [1, 2, 3, 4, 5, 6]
    listed = (await owner.get(f"/projects/{pid}/document-versions")).body["items"]
    assert sum(v["is_current"] for v in listed) == 1 and listed[0]["is_current"] and listed[0]["number"] == 6
    reqs = await owner.get(f"/document-versions/{listed[0]['id']}/requirements")
    assert [q["uid"] for q in reqs.body["items"]] == ["REQ-1", "REQ-2"]
    r = await owner.delete(f"/document-versions/{listed[0]['id']}")
    assert r.status == 204
    assert (await owner.get(f"/projects/{pid}/document-versions/current")).body["number"] == 5


async def test_prohibitions_are_listed_with_their_modality(client):
    """Extraction may report `shall not` as its own modality: the listing answers it (never a 500)."""
    owner = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    doc = await new_version(owner, pid, "# Rules\n\nREQ-1: The app shall not store card numbers.\n"
                                        "REQ-2: Users must not share accounts.\n")
    r = await owner.get(f"/document-versions/{doc['id']}/requirements")
    assert r.status == 200, r.body
    assert [q["modality"] for q in r.body["items"]] in (["shall", "must"], ["shall not", "must not"])
