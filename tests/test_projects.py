"""Projects: create, list with my_role, read, rename, delete (with everything in it), events, errors."""

from __future__ import annotations

from aiohttp import FormData

from chatsvc import keys
from tests.helpers import add_member, assert_error, call, create_project, make_admin, register_and_login
from tests.recorder import publications


def published(client, name: str) -> list[tuple[tuple[str, ...], dict]]:
    """Return (topics, data) of the events with this name, oldest first."""
    return [(topics, data) for topics, n, data in publications(client) if n == name]


async def upload(user, project_id: str, content: bytes, filename: str = "a.txt"):
    form = FormData()
    form.add_field("file", content, filename=filename, content_type="text/plain")
    return await user.call("POST", f"/projects/{project_id}/files", data=form)


async def test_create_read_list(client):
    owner = await register_and_login(client)
    r = await owner.post("/projects", {"name": "  Apollo  ", "description": "Moon"})
    assert r.status == 201, r.body
    p = r.body
    assert set(p) == {"id", "name", "description", "created_by", "created_at", "updated_at", "version", "my_role"}
    assert p["name"] == "Apollo" and p["description"] == "Moon" and p["created_by"] == owner.id
    assert p["version"] == 1 and p["my_role"] == "owner" and p["created_at"].endswith("Z")
    got = await owner.get(f"/projects/{p['id']}")
    assert got.status == 200 and got.body == p
    members = await owner.get(f"/projects/{p['id']}/members")
    assert [(m["user_id"], m["role"]) for m in members.body["items"]] == [(owner.id, "owner")]

    second = await create_project(owner, "Gemini")
    listing = await owner.get("/projects")
    assert listing.status == 200
    assert listing.body["total"] == 2 and listing.body["limit"] == 50 and listing.body["offset"] == 0
    assert [x["name"] for x in listing.body["items"]] == ["Gemini", "Apollo"]  # newest first
    page = await owner.get("/projects?limit=1&offset=1")
    assert [x["id"] for x in page.body["items"]] == [p["id"]] and page.body["total"] == 2
    assert second["my_role"] == "owner"


async def test_list_shows_only_my_projects_with_my_role(client, settings):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner, "Shared")
    await create_project(owner, "Private")
    await add_member(owner, p["id"], viewer, "viewer")
    mine = await viewer.get("/projects")
    assert [(x["name"], x["my_role"]) for x in mine.body["items"]] == [("Shared", "viewer")]
    assert (await stranger.get("/projects")).body == {"items": [], "total": 0, "limit": 50, "offset": 0}
    admin = await make_admin(client, settings)
    everything = await admin.get("/projects")
    assert everything.body["total"] == 2 and {x["my_role"] for x in everything.body["items"]} == {"owner"}
    assert (await admin.get(f"/projects/{p['id']}")).body["my_role"] == "owner"


async def test_bad_bodies_and_queries_are_422(client):
    owner = await register_and_login(client)
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": 5}, {"name": "a", "extra": 1},
                 {"name": "a\x00b"}, {"name": "ok", "description": "bad\x00"}, {"name": "\ud800"}, [1]):
        assert_error(await owner.post("/projects", body), 422, "validation_error")
    r = await owner.post("/projects", {"name": "x", "owner": "me"})
    assert r.body["error"]["details"][0]["loc"] == ["body", "owner"]
    assert (await owner.post("/projects", {"name": "x" * 200})).status == 201
    for q in ("limit=0", "limit=201", "offset=-1", "limit=abc"):
        assert_error(await owner.get(f"/projects?{q}"), 422, "validation_error")
    bad_json = await owner.call("POST", "/projects", data=b"{nope", headers={"Content-Type": "application/json"})
    assert_error(bad_json, 400, "bad_request")
    text = await owner.call("POST", "/projects", data=b"name=x", headers={"Content-Type": "text/plain"})
    assert_error(text, 415, "unsupported_media_type")


async def test_anonymous_is_401(client):
    for method, path in (("GET", "/projects"), ("POST", "/projects"), ("GET", "/projects/x"),
                         ("PATCH", "/projects/x"), ("DELETE", "/projects/x")):
        assert_error(await call(client, method, path, json={"name": "x"}), 401, "unauthorized")


async def test_create_needs_the_global_permission(client):
    from sqlalchemy import delete

    from storage.models import UserRole

    user = await register_and_login(client)
    async with client.app[keys.DB].write() as s:  # take away the built-in `member` role
        await s.execute(delete(UserRole).where(UserRole.user_id == user.id))
    assert_error(await user.post("/projects", {"name": "Nope"}), 403, "forbidden")
    assert (await user.get("/projects")).body["total"] == 0
    assert published(client, "project.created") == []


async def test_patch_owner_only_and_versioned(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    viewer = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner)
    await add_member(owner, p["id"], editor, "editor")
    await add_member(owner, p["id"], viewer, "viewer")
    r = await owner.patch(f"/projects/{p['id']}", {"name": "Renamed", "description": "New"})
    assert r.status == 200 and r.body["name"] == "Renamed" and r.body["description"] == "New"
    assert r.body["version"] == 2 and r.body["my_role"] == "owner"
    only_desc = await owner.patch(f"/projects/{p['id']}", {"description": None})
    assert only_desc.body["name"] == "Renamed" and only_desc.body["description"] == ""
    assert only_desc.body["version"] == 3
    same = await owner.patch(f"/projects/{p['id']}", {})
    assert same.status == 200 and same.body["version"] == 3
    assert_error(await owner.patch(f"/projects/{p['id']}", {"name": None}), 422, "validation_error")
    assert_error(await owner.patch(f"/projects/{p['id']}", {"name": ""}), 422, "validation_error")
    assert_error(await owner.patch(f"/projects/{p['id']}", {"version": 1}), 422, "validation_error")
    assert_error(await editor.patch(f"/projects/{p['id']}", {"name": "E"}), 403, "forbidden")
    assert_error(await viewer.patch(f"/projects/{p['id']}", {"name": "V"}), 403, "forbidden")
    assert_error(await stranger.patch(f"/projects/{p['id']}", {"name": "S"}), 404, "not_found")
    assert (await viewer.get(f"/projects/{p['id']}")).body["my_role"] == "viewer"


async def test_non_member_and_junk_ids_are_404(client):
    owner = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner)
    hidden = await stranger.get(f"/projects/{p['id']}")
    missing = await stranger.get("/projects/00000000-0000-7000-8000-000000000000")
    assert_error(hidden, 404, "not_found")
    assert hidden.body == missing.body  # existence is not revealed
    for junk in ("x" * 65, "%00", "a%20b", "..%2F..", "'; drop table projects;--", "%F0%9F%98%80"):
        assert_error(await owner.get(f"/projects/{junk}"), 404, "not_found")
        assert_error(await owner.delete(f"/projects/{junk}"), 404, "not_found")
    assert_error(await stranger.delete(f"/projects/{p['id']}"), 404, "not_found")


async def test_delete_removes_everything_and_unused_blobs(client, settings):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    editor = await register_and_login(client)
    doomed = await create_project(owner, "Doomed")
    kept = await create_project(owner, "Kept")
    await add_member(owner, doomed["id"], viewer, "viewer")
    await add_member(owner, doomed["id"], editor, "editor")
    only_here = await upload(owner, doomed["id"], b"only in the doomed project")
    shared = await upload(owner, doomed["id"], b"in both projects")
    assert (await upload(owner, kept["id"], b"in both projects")).status == 201
    blobs = client.app[keys.BLOBS]
    assert blobs.path_for(only_here.body["sha256"]).is_file()

    assert_error(await editor.delete(f"/projects/{doomed['id']}"), 403, "forbidden")
    assert_error(await viewer.delete(f"/projects/{doomed['id']}"), 403, "forbidden")
    r = await owner.delete(f"/projects/{doomed['id']}")
    assert r.status == 204 and r.body == b""
    assert_error(await owner.get(f"/projects/{doomed['id']}"), 404, "not_found")
    assert_error(await owner.get(f"/files/{only_here.body['id']}"), 404, "not_found")
    assert (await viewer.get("/projects")).body["total"] == 0
    assert not blobs.path_for(only_here.body["sha256"]).exists()
    assert blobs.path_for(shared.body["sha256"]).is_file()  # still used by the other project
    kept_files = await owner.get(f"/projects/{kept['id']}/files")
    assert kept_files.body["total"] == 1
    assert_error(await owner.delete(f"/projects/{doomed['id']}"), 404, "not_found")


async def test_events_after_each_mutation(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    p = await create_project(owner)
    pid = p["id"]
    [(topics, data)] = published(client, "project.created")
    assert set(topics) == {f"project:{pid}", f"user:{owner.id}"}
    assert data["id"] == pid and data["version"] == 1 and data["actor"] == owner.id
    assert data["resource"]["name"] == "Project" and "my_role" not in data["resource"]

    await add_member(owner, pid, viewer, "viewer")
    await owner.patch(f"/projects/{pid}", {"name": "New name"})
    [(topics, data)] = published(client, "project.updated")
    assert topics == (f"project:{pid}",) and data["version"] == 2 and data["resource"]["name"] == "New name"
    await owner.patch(f"/projects/{pid}", {"name": "New name"})  # no change: no event
    assert len(published(client, "project.updated")) == 1

    assert (await owner.delete(f"/projects/{pid}")).status == 204
    [(topics, data)] = published(client, "project.deleted")
    assert set(topics) == {f"project:{pid}", f"user:{owner.id}", f"user:{viewer.id}"}
    assert data == {"id": pid, "version": 2, "actor": owner.id}


async def test_failed_mutations_publish_nothing(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    p = await create_project(owner)
    await add_member(owner, p["id"], viewer, "viewer")
    before = len(publications(client))
    await viewer.patch(f"/projects/{p['id']}", {"name": "no"})
    await viewer.delete(f"/projects/{p['id']}")
    await owner.post("/projects", {"name": ""})
    assert len(publications(client)) == before
