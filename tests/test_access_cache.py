"""The access cache (principals by token, project roles) never outlives a change of rights in this process.

Each test first makes the cache hold the entry (asserted, so the test proves the invalidation and not a
cache miss), then changes the rights and expects the very next request to see the change. The same across
processes over Redis: tests/test_scale_out.py.
"""

from __future__ import annotations

from chatsvc import keys
from chatsvc.security import token_hash
from storage.db import opened_at
from tests.helpers import add_member, assert_error, create_project, make_admin, register_and_login


def cached_principal(user):
    return user.client.app[keys.ACCESS].session("bearer", token_hash(user.token))


def cached_role(user, project_id):
    return user.client.app[keys.ACCESS].role(user.id, project_id)


async def test_repeated_requests_are_answered_from_the_cache(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    for _ in range(2):
        assert (await owner.get(f"/projects/{project['id']}")).status == 200
    assert cached_principal(owner) is not None and cached_role(owner, project["id"]) == "owner"


async def test_logout_ends_a_cached_token_at_once(client):
    user = await register_and_login(client)
    assert (await user.get("/users/me")).status == 200 and cached_principal(user) is not None
    assert (await user.post("/users/logout")).status == 204
    assert cached_principal(user) is None
    assert_error(await user.get("/users/me"), 401, "unauthorized")


async def test_password_change_ends_other_cached_tokens_at_once(client):
    user = await register_and_login(client)
    login = await client.post("/api/v1/users/login", json={"username": user.username, "password": user.password})
    other_token = (await login.json())["access_token"]
    headers = {"Authorization": f"Bearer {other_token}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).status == 200
    assert client.app[keys.ACCESS].session("bearer", token_hash(other_token)) is not None
    changed = await user.post("/users/me/password", {"current_password": user.password,
                                                     "new_password": "another long password",
                                                     "logout_other_sessions": True})
    assert changed.status == 200, changed.body
    assert (await client.get("/api/v1/users/me", headers=headers)).status == 401
    assert (await user.get("/users/me")).status == 200  # the session that changed it stays


async def test_disabling_and_demoting_take_effect_on_the_next_request(client, settings):
    admin = await make_admin(client, settings)
    other_admin = await make_admin(client, settings)
    user = await register_and_login(client)
    project = await create_project(user)
    assert (await other_admin.get(f"/projects/{project['id']}")).status == 200  # a superuser sees every project
    assert cached_principal(other_admin).principal.is_superuser
    demoted = await admin.patch(f"/admin/users/{other_admin.id}", {"is_superuser": False})
    assert demoted.status == 200, demoted.body
    assert_error(await other_admin.get(f"/projects/{project['id']}"), 404)

    assert (await user.get("/users/me")).status == 200 and cached_principal(user) is not None
    disabled = await admin.patch(f"/admin/users/{user.id}", {"is_active": False})
    assert disabled.status == 200, disabled.body
    assert_error(await user.get("/users/me"), 401)


async def test_membership_changes_reach_a_cached_role_at_once(client):
    owner = await register_and_login(client)
    member = await register_and_login(client)
    project = await create_project(owner)
    pid = project["id"]
    await add_member(owner, pid, member, "editor")
    note = {"type": "note", "name": "n", "content": {"text": "t"}}
    assert (await member.post(f"/projects/{pid}/artifacts", note)).status == 201
    assert cached_role(member, pid) == "editor"

    assert (await owner.patch(f"/projects/{pid}/members/{member.id}", {"role": "viewer"})).status == 200
    assert_error(await member.post(f"/projects/{pid}/artifacts", note), 403)
    assert (await member.get(f"/projects/{pid}")).status == 200 and cached_role(member, pid) == "viewer"

    assert (await owner.delete(f"/projects/{pid}/members/{member.id}")).status == 204
    assert_error(await member.get(f"/projects/{pid}"), 404)


async def test_a_deleted_project_is_gone_for_cached_members(client):
    owner = await register_and_login(client)
    project = await create_project(owner)
    assert (await owner.get(f"/projects/{project['id']}")).status == 200
    assert cached_role(owner, project["id"]) == "owner"
    assert (await owner.delete(f"/projects/{project['id']}")).status == 204
    assert cached_role(owner, project["id"]) is None
    assert_error(await owner.get(f"/projects/{project['id']}"), 404)


async def test_a_read_that_raced_an_invalidation_is_not_cached(client):
    """A lookup whose transaction opened before an invalidation must not store what it read."""
    owner = await register_and_login(client)
    project = await create_project(owner)
    cache = client.app[keys.ACCESS]
    async with client.app[keys.DB].read() as s:
        started = opened_at(s)
    cache.apply(f"project:{project['id']}", "member.updated", {})  # a change committed after that read began
    cache.remember_role(started, owner.id, project["id"], "owner")
    assert cache.role(owner.id, project["id"]) is None


async def test_a_cached_project_follows_renames_and_stays_as_it_was_when_documents_arrive(client):
    owner = await register_and_login(client)
    reader = await register_and_login(client)
    project = await create_project(owner)
    pid = project["id"]
    await add_member(owner, pid, reader, "viewer")
    first = await reader.get(f"/projects/{pid}")
    assert first.status == 200 and client.app[keys.ACCESS].project(pid) is not None
    assert (await reader.get(f"/projects/{pid}")).body == first.body  # the cached answer is the same answer

    renamed = await owner.patch(f"/projects/{pid}", {"name": "Renamed"})
    assert renamed.status == 200
    seen = await reader.get(f"/projects/{pid}")
    assert seen.body["name"] == "Renamed" and seen.body["version"] == renamed.body["version"]
    assert seen.body["my_role"] == "viewer"

    doc = await owner.post(f"/projects/{pid}/document-versions", {"title": "Spec", "content": "REQ-1 It shall log."})
    assert doc.status == 201, doc.body
    cached = await owner.get(f"/projects/{pid}")
    client.app[keys.ACCESS].apply(f"project:{pid}", "project.updated", {})  # force a database read
    fresh = await owner.get(f"/projects/{pid}")
    assert fresh.body == cached.body  # a new document does not change the project as clients see it


async def test_a_write_checks_the_database_not_the_cache(client):
    """A change of rights whose event has not reached this process yet cannot let a write through."""
    from sqlalchemy import update

    from storage.models import ProjectMember

    owner = await register_and_login(client)
    member = await register_and_login(client)
    pid = (await create_project(owner))["id"]
    await add_member(owner, pid, member, "editor")
    assert (await member.get(f"/projects/{pid}")).status == 200 and cached_role(member, pid) == "editor"
    async with client.app[keys.DB].write() as s:  # behind the server's back: no event, the cache keeps "editor"
        await s.execute(update(ProjectMember).where(ProjectMember.project_id == pid,
                                                   ProjectMember.user_id == member.id).values(role="viewer"))
    assert cached_role(member, pid) == "editor"
    note = {"type": "note", "name": "n", "content": {"text": "t"}}
    assert_error(await member.post(f"/projects/{pid}/artifacts", note), 403)
