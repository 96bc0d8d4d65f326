"""Project members: add by id or username, list, change roles, remove, leave, the last-owner rule, events."""

from __future__ import annotations

from chatsvc import keys
from tests.helpers import add_member, assert_error, call, create_project, make_admin, register, register_and_login
from tests.recorder import publications


def published(client, name: str) -> list[tuple[tuple[str, ...], dict]]:
    return [(topics, data) for topics, n, data in publications(client) if n == name]


async def test_add_by_id_and_username_then_list(client):
    owner = await register_and_login(client)
    alice = await register_and_login(client, "alice_m")
    bob = await register_and_login(client, "bob_m")
    p = await create_project(owner)
    r = await owner.post(f"/projects/{p['id']}/members", {"user_id": alice.id, "role": "editor"})
    assert r.status == 201, r.body
    assert set(r.body) == {"id", "project_id", "user_id", "username", "full_name", "role", "created_at",
                           "updated_at", "version"}
    assert r.body["user_id"] == alice.id and r.body["username"] == "alice_m" and r.body["role"] == "editor"
    assert r.body["project_id"] == p["id"] and r.body["version"] == 1 and r.body["created_at"].endswith("Z")
    by_name = await owner.post(f"/projects/{p['id']}/members", {"username": "BOB_M", "role": "viewer"})
    assert by_name.status == 201 and by_name.body["user_id"] == bob.id
    listing = await bob.get(f"/projects/{p['id']}/members")
    assert listing.status == 200 and listing.body["total"] == 3
    assert [(m["user_id"], m["role"]) for m in listing.body["items"]] == [
        (owner.id, "owner"), (alice.id, "editor"), (bob.id, "viewer")]
    page = await bob.get(f"/projects/{p['id']}/members?limit=1&offset=2")
    assert [m["user_id"] for m in page.body["items"]] == [bob.id] and page.body["limit"] == 1
    assert (await alice.get(f"/projects/{p['id']}")).body["my_role"] == "editor"


async def test_add_errors(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    viewer = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner)
    url = f"/projects/{p['id']}/members"
    await add_member(owner, p["id"], editor, "editor")
    await add_member(owner, p["id"], viewer, "viewer")
    again = await owner.post(url, {"user_id": viewer.id, "role": "editor"})
    assert_error(again, 409, "conflict")
    assert_error(await owner.post(url, {"user_id": owner.id, "role": "viewer"}), 409, "conflict")
    unknown = await owner.post(url, {"user_id": "00000000-0000-7000-8000-000000000000", "role": "viewer"})
    assert_error(unknown, 422, "validation_error")
    assert unknown.body["error"]["details"][0]["loc"] == ["body", "user_id"]
    no_name = await owner.post(url, {"username": "nobody-at-all", "role": "viewer"})
    assert no_name.body["error"]["details"][0]["loc"] == ["body", "username"]
    by_email = await owner.post(url, {"username": stranger.email, "role": "viewer"})
    assert_error(by_email, 422, "validation_error")  # members are named by username, not email
    for body in ({"role": "viewer"}, {"user_id": stranger.id, "username": stranger.username, "role": "viewer"},
                 {"user_id": stranger.id, "role": "admin"}, {"user_id": stranger.id},
                 {"user_id": "a/b", "role": "viewer"},
                 {"user_id": stranger.id, "role": "viewer", "extra": True}, {"username": "x\x00", "role": "viewer"}):
        assert_error(await owner.post(url, body), 422, "validation_error")
    body = {"user_id": stranger.id, "role": "viewer"}
    assert_error(await editor.post(url, body), 403, "forbidden")
    assert_error(await viewer.post(url, body), 403, "forbidden")
    assert_error(await stranger.post(url, body), 404, "not_found")
    assert_error(await call(client, "POST", url, json=body), 401, "unauthorized")
    assert_error(await owner.post("/projects/nope/members", body), 404, "not_found")
    assert (await owner.get(f"/projects/{p['id']}/members")).body["total"] == 3


async def test_change_role_and_last_owner_rule(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    p = await create_project(owner)
    base = f"/projects/{p['id']}/members"
    await add_member(owner, p["id"], editor, "editor")
    assert_error(await owner.patch(f"{base}/{owner.id}", {"role": "editor"}), 409, "conflict")
    assert_error(await editor.patch(f"{base}/{editor.id}", {"role": "owner"}), 403, "forbidden")
    promoted = await owner.patch(f"{base}/{editor.id}", {"role": "owner"})
    assert promoted.status == 200 and promoted.body["role"] == "owner" and promoted.body["version"] == 2
    demoted = await editor.patch(f"{base}/{owner.id}", {"role": "viewer"})  # two owners: allowed
    assert demoted.status == 200 and demoted.body["role"] == "viewer"
    assert_error(await editor.patch(f"{base}/{editor.id}", {"role": "viewer"}), 409, "conflict")
    assert_error(await editor.delete(f"{base}/{editor.id}"), 409, "conflict")
    assert_error(await owner.patch(f"{base}/{owner.id}", {"role": "owner"}), 403, "forbidden")
    unchanged = await editor.patch(f"{base}/{editor.id}", {"role": "owner"})
    assert unchanged.status == 200 and unchanged.body["version"] == 2
    for body in ({}, {"role": "boss"}, {"role": "viewer", "x": 1}):
        assert_error(await editor.patch(f"{base}/{owner.id}", body), 422, "validation_error")
    assert_error(await editor.patch(f"{base}/not-a-member", {"role": "viewer"}), 404, "not_found")
    assert_error(await editor.patch(f"{base}/{'x' * 80}", {"role": "viewer"}), 404, "not_found")


async def test_remove_and_leave(client):
    owner = await register_and_login(client)
    editor = await register_and_login(client)
    viewer = await register_and_login(client)
    other = await register_and_login(client)
    stranger = await register_and_login(client)
    p = await create_project(owner)
    base = f"/projects/{p['id']}/members"
    for user, role in ((editor, "editor"), (viewer, "viewer"), (other, "viewer")):
        await add_member(owner, p["id"], user, role)
    assert_error(await viewer.delete(f"{base}/{other.id}"), 403, "forbidden")
    assert_error(await editor.delete(f"{base}/{other.id}"), 403, "forbidden")
    assert_error(await stranger.delete(f"{base}/{viewer.id}"), 404, "not_found")
    assert_error(await stranger.delete(f"{base}/{stranger.id}"), 404, "not_found")
    left = await viewer.delete(f"{base}/{viewer.id}")
    assert left.status == 204
    assert_error(await viewer.get(f"/projects/{p['id']}"), 404, "not_found")
    assert (await owner.delete(f"{base}/{other.id}")).status == 204
    assert_error(await owner.delete(f"{base}/{other.id}"), 404, "not_found")
    assert_error(await owner.delete(f"{base}/{owner.id}"), 409, "conflict")
    members = await owner.get(base)
    assert [m["user_id"] for m in members.body["items"]] == [owner.id, editor.id]


async def test_admin_acts_as_owner_without_membership(client, settings):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    admin = await make_admin(client, settings)
    p = await create_project(owner)
    base = f"/projects/{p['id']}/members"
    assert (await admin.post(base, {"user_id": viewer.id, "role": "viewer"})).status == 201
    assert (await admin.patch(f"{base}/{viewer.id}", {"role": "editor"})).body["role"] == "editor"
    assert_error(await admin.patch(f"{base}/{owner.id}", {"role": "viewer"}), 409, "conflict")
    assert_error(await admin.delete(f"{base}/{admin.id}"), 404, "not_found")  # not a member
    assert (await admin.delete(f"{base}/{viewer.id}")).status == 204


async def test_disabled_user_cannot_be_added(client):
    from sqlalchemy import update

    from storage.models import User

    owner = await register_and_login(client)
    gone = await register(client, "gone_user")
    async with client.app[keys.DB].write() as s:
        await s.execute(update(User).where(User.id == gone.body["id"]).values(is_active=False))
    r = await owner.post(f"/projects/{(await create_project(owner))['id']}/members",
                         {"username": "gone_user", "role": "viewer"})
    assert_error(r, 422, "validation_error")


async def test_member_events(client):
    owner = await register_and_login(client)
    viewer = await register_and_login(client)
    p = await create_project(owner)
    pid = p["id"]
    added = await add_member(owner, pid, viewer, "viewer")
    [(topics, data)] = published(client, "member.created")
    assert set(topics) == {f"project:{pid}", f"user:{viewer.id}"}
    assert data["id"] == added["id"] and data["version"] == 1 and data["actor"] == owner.id
    assert data["resource"]["user_id"] == viewer.id and data["resource"]["role"] == "viewer"
    await owner.patch(f"/projects/{pid}/members/{viewer.id}", {"role": "editor"})
    [(topics, data)] = published(client, "member.updated")
    assert set(topics) == {f"project:{pid}", f"user:{viewer.id}"} and data["version"] == 2
    assert data["resource"]["role"] == "editor"
    await owner.patch(f"/projects/{pid}/members/{viewer.id}", {"role": "editor"})
    assert len(published(client, "member.updated")) == 1  # nothing changed, nothing published
    await owner.patch(f"/projects/{pid}/members/{owner.id}", {"role": "viewer"})  # 409
    assert len(published(client, "member.updated")) == 1
    assert (await viewer.delete(f"/projects/{pid}/members/{viewer.id}")).status == 204
    [(topics, data)] = published(client, "member.deleted")
    assert set(topics) == {f"project:{pid}", f"user:{viewer.id}"}
    assert data == {"id": added["id"], "version": 2, "actor": viewer.id}
