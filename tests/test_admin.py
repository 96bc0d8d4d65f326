"""Admin endpoints over HTTP: user management with its safety rules, stats, the task list, delegated access."""

from __future__ import annotations

from typing import Any

from chatsvc import keys
from tests.helpers import PASSWORD, User, assert_error, call, login, make_admin, register_and_login
from tests.recorder import publications
from tests.wsutil import WsClient

ADMIN_GETS = ("/admin/users", "/admin/stats", "/admin/tasks")


async def add_project(client: Any, owner: User, *, status: str | None = None) -> str:
    """Create a project owned by `owner` (and optionally a task in it) straight in the database."""
    from storage.models import Project, ProjectMember, Task

    async with client.app[keys.DB].write() as s:
        project = Project(name="P", created_by=owner.id)
        s.add(project)
        await s.flush()
        s.add(ProjectMember(project_id=project.id, user_id=owner.id, role="owner"))
        if status is not None:
            s.add(Task(kind="coverage", project_id=project.id, created_by=owner.id, status=status, params={"a": 1}))
        return project.id


def published(client: Any, name: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    return [(topics, data) for topics, ev, data in publications(client) if ev == name]


async def test_admin_needs_admin_access(client):
    user = await register_and_login(client)
    for path in (*ADMIN_GETS, f"/admin/users/{user.id}"):
        assert_error(await call(client, "GET", path), 401, "unauthorized")
        assert_error(await user.get(path), 403, "forbidden")
    assert_error(await user.patch(f"/admin/users/{user.id}", {"full_name": "x"}), 403, "forbidden")
    assert_error(await user.delete(f"/admin/users/{user.id}"), 403, "forbidden")
    assert_error(await user.get("/admin/users/nope"), 403, "forbidden")  # no existence leak


async def test_list_search_and_paging(client, settings):
    admin = await make_admin(client, settings, "boss")
    for name in ("zed1", "zed2", "amy"):
        await register_and_login(client, name)
    everyone = await admin.get("/admin/users")
    assert everyone.status == 200 and everyone.body["total"] == 4 and everyone.body["limit"] == 50
    assert set(everyone.body["items"][0]) >= {"id", "email", "username", "is_active", "is_superuser", "version"}
    assert "password_hash" not in everyone.body["items"][0]
    zeds = await admin.get("/admin/users?q=ZED&limit=1&offset=1")
    assert zeds.body["total"] == 2 and [u["username"] for u in zeds.body["items"]] == ["zed2"]
    assert zeds.body["offset"] == 1
    for bad in ("limit=201", "limit=0", "offset=-1", "limit=x", "q=" + "a" * 101, "q=%00", "offset=" + "9" * 30):
        assert_error(await admin.get(f"/admin/users?{bad}"), 422, "validation_error")
    assert (await admin.get("/admin/users?limit=200&q=%25_")).status == 200


async def test_get_and_patch_user(client, settings):
    admin = await make_admin(client, settings)
    user = await register_and_login(client)
    got = await admin.get(f"/admin/users/{user.id}")
    assert got.status == 200 and got.body["username"] == user.username
    version = got.body["version"]
    for bad_id in ("no-such-id", "x" * 65, "bad%20id"):
        assert_error(await admin.get(f"/admin/users/{bad_id}"), 404, "not_found")
    assert_error(await admin.patch("/admin/users/no-such-id", {"full_name": "X"}), 404, "not_found")

    renamed = await admin.patch(f"/admin/users/{user.id}", {"full_name": "Renamed"})
    assert renamed.status == 200 and renamed.body["full_name"] == "Renamed" and renamed.body["version"] == version + 1
    topics, data = published(client, "user.updated")[-1]
    assert topics == (f"user:{user.id}",) and data["actor"] == admin.id and data["version"] == version + 1
    same = await admin.patch(f"/admin/users/{user.id}", {})
    assert same.status == 200 and same.body["version"] == version + 1  # nothing changed, nothing bumped

    for bad in ({"email": "x@example.com"}, {"password_hash": "x"}, {"is_active": "no"}, {"is_superuser": 1},
                {"full_name": "a" * 201}, {"full_name": "a\x00b"}, []):
        assert_error(await admin.patch(f"/admin/users/{user.id}", bad), 422, "validation_error")
    r = await admin.patch(f"/admin/users/{user.id}", {"full_name": 5})
    assert r.body["error"]["details"][0]["loc"] == ["body", "full_name"]


async def test_disable_revokes_everything_and_login_is_403(client, settings):
    admin = await make_admin(client, settings)
    user = await register_and_login(client)
    ws = await WsClient.connect(client, user)
    off = await admin.patch(f"/admin/users/{user.id}", {"is_active": False})
    assert off.status == 200 and off.body["is_active"] is False
    assert_error(await user.get("/users/me"), 401, "unauthorized")
    await ws.closed_with(4401)
    assert_error(await login(client, user.username), 403, "forbidden")
    assert_error(await login(client, user.username, "wrong password"), 401, "unauthorized")
    revoked = published(client, "session.revoked")[-1]
    assert revoked[0] == (f"user:{user.id}",) and revoked[1]["auth_session_ids"]
    listed = await admin.get(f"/admin/users?q={user.username}")
    assert listed.body["items"][0]["is_active"] is False  # disabled users stay visible to admins

    on = await admin.patch(f"/admin/users/{user.id}", {"is_active": True})
    assert on.status == 200 and on.body["is_active"] is True
    assert_error(await user.get("/users/me"), 401)  # the old token stays revoked
    assert (await login(client, user.username)).status == 200


async def test_admins_cannot_remove_themselves_or_the_last_superuser(client, settings):
    admin = await make_admin(client, settings)
    for body in ({"is_active": False}, {"is_superuser": False}):
        assert_error(await admin.patch(f"/admin/users/{admin.id}", body), 409, "conflict")
    assert_error(await admin.delete(f"/admin/users/{admin.id}"), 409, "conflict")
    assert (await admin.patch(f"/admin/users/{admin.id}", {"full_name": "Me"})).status == 200
    assert (await admin.get("/users/me")).body["is_superuser"] is True

    # A second superuser may demote the first; then it is the last one and stays.
    other = await register_and_login(client)
    promoted = await admin.patch(f"/admin/users/{other.id}", {"is_superuser": True})
    assert promoted.status == 200 and promoted.body["is_superuser"] is True
    assert (await other.patch(f"/admin/users/{admin.id}", {"is_superuser": False})).status == 200
    assert (await admin.get("/users/me")).body["is_superuser"] is False  # effective at once
    assert_error(await admin.patch(f"/admin/users/{admin.id}", {"is_superuser": True}), 403, "forbidden")
    assert (await admin.get("/admin/stats")).status == 200  # the built-in admin role still gives admin.access
    assert_error(await other.patch(f"/admin/users/{other.id}", {"is_superuser": False}), 409)


async def test_delegated_admin_access_through_a_role(client, settings):
    """A plain user given a custom role with admin.access is an admin until the role goes, not a superuser."""
    root = await make_admin(client, settings)
    helper = await register_and_login(client)
    plain = await register_and_login(client)
    role = await root.post("/rbac/roles", {"name": "helpdesk", "permissions": ["admin.access"]})
    assert role.status == 201
    assert_error(await helper.get("/admin/users"), 403)
    assert (await root.put(f"/rbac/users/{helper.id}/roles/{role.body['id']}")).status == 201
    assert (await helper.get("/admin/users")).status == 200
    assert (await helper.get("/admin/stats")).status == 200
    assert (await helper.patch(f"/admin/users/{plain.id}", {"full_name": "Helped"})).status == 200
    assert (await helper.patch(f"/admin/users/{plain.id}", {"is_active": False})).status == 200

    # Only a superuser makes superusers or touches one; the last active superuser is never removed.
    assert_error(await helper.patch(f"/admin/users/{plain.id}", {"is_superuser": True}), 403, "forbidden")
    assert_error(await helper.patch(f"/admin/users/{root.id}", {"is_active": False}), 409, "conflict")
    second = await make_admin(client, settings)
    assert_error(await helper.patch(f"/admin/users/{second.id}", {"is_active": False}), 403, "forbidden")
    assert_error(await helper.patch(f"/admin/users/{second.id}", {"full_name": "x"}), 403, "forbidden")
    assert_error(await helper.delete(f"/admin/users/{second.id}"), 403, "forbidden")
    assert_error(await helper.get("/rbac/roles"), 403)  # admin.access is not rbac.manage

    assert (await root.delete(f"/rbac/users/{helper.id}/roles/{role.body['id']}")).status == 204
    assert_error(await helper.get("/admin/users"), 403, "forbidden")  # gone at once


async def test_delete_user(client, settings):
    admin = await make_admin(client, settings)
    user = await register_and_login(client)
    chat = await user.post("/chat/sessions", {"title": "Mine"})
    assert chat.status == 201
    before = (await admin.get("/admin/stats")).body
    assert (await admin.delete(f"/admin/users/{user.id}")).status == 204
    assert_error(await admin.get(f"/admin/users/{user.id}"), 404, "not_found")
    assert_error(await admin.delete(f"/admin/users/{user.id}"), 404, "not_found")
    assert_error(await user.get("/users/me"), 401)
    assert_error(await login(client, user.username, PASSWORD), 401)
    after = (await admin.get("/admin/stats")).body
    assert after["users"] == before["users"] - 1
    assert after["chat_sessions"] == before["chat_sessions"] - 1  # personal chats go with their owner
    assert published(client, "user.deleted")[-1][0] == (f"user:{user.id}",)
    gone = published(client, "chat_session.deleted")[-1]
    assert f"chat:{chat.body['id']}" in gone[0] and gone[1]["id"] == chat.body["id"]


async def test_only_owner_of_a_project_cannot_be_deleted(client, settings):
    admin = await make_admin(client, settings)
    owner = await register_and_login(client)
    project_id = await add_project(client, owner)
    refused = await admin.delete(f"/admin/users/{owner.id}")
    assert_error(refused, 409, "conflict")
    assert refused.body["error"]["details"] == [{"loc": ["project_id"], "msg": project_id}]
    assert (await admin.get(f"/admin/users/{owner.id}")).status == 200


async def test_stats_count_what_exists(client, settings):
    admin = await make_admin(client, settings)
    before = await admin.get("/admin/stats")
    assert before.status == 200
    assert set(before.body) == {"users", "active_users", "projects", "document_versions", "artifacts",
                                "chat_sessions", "messages", "tasks", "tasks_by_status", "live_sockets",
                                "active_runs", "running_tasks", "processes", "processes_missing"}
    assert before.body["active_runs"] == 0 and before.body["live_sockets"] == 0
    assert [p["live_sockets"] for p in before.body["processes"]] == [0] and before.body["processes_missing"] == []
    user = await register_and_login(client)
    await user.post("/chat/sessions", {"title": "Mine"})
    await add_project(client, user, status="running")
    await add_project(client, user, status="queued")
    await admin.patch(f"/admin/users/{user.id}", {"full_name": "Counted"})
    ws = await WsClient.connect(client, admin)
    now = (await admin.get("/admin/stats")).body
    await ws.close()
    b = before.body
    assert now["users"] == b["users"] + 1 and now["active_users"] == b["active_users"] + 1
    assert now["projects"] == b["projects"] + 2 and now["chat_sessions"] == b["chat_sessions"] + 1
    assert now["tasks"] == b["tasks"] + 2
    assert now["tasks_by_status"] == {"queued": 1, "running": 1}
    assert now["live_sockets"] == 1 and now["processes"][0]["live_sockets"] == 1
    await admin.patch(f"/admin/users/{user.id}", {"is_active": False})
    assert (await admin.get("/admin/stats")).body["active_users"] == b["active_users"]


async def test_task_list(client, settings):
    admin = await make_admin(client, settings)
    owner = await register_and_login(client)
    for status in ("queued", "running", "succeeded"):
        await add_project(client, owner, status=status)
    all_tasks = await admin.get("/admin/tasks")
    assert all_tasks.status == 200 and all_tasks.body["total"] == 3
    assert set(all_tasks.body["items"][0]) == {
        "id", "kind", "project_id", "created_by", "status", "progress", "stage", "done", "total", "params",
        "result", "error", "created_at", "updated_at", "started_at", "finished_at", "version"}
    assert [t["status"] for t in all_tasks.body["items"]] == ["succeeded", "running", "queued"]  # newest first
    running = await admin.get("/admin/tasks?status=running&limit=5")
    assert running.body["total"] == 1 and running.body["items"][0]["params"] == {"a": 1}
    assert_error(await admin.get("/admin/tasks?status="), 422, "validation_error")  # no status: leave it out
    assert (await admin.get("/admin/tasks?status=failed")).body["total"] == 0
    for bad in ("status=RUNNING", "status=nothing", "limit=201"):
        assert_error(await admin.get(f"/admin/tasks?{bad}"), 422, "validation_error")


async def test_admin_flow_on_every_database(any_db_client):
    """The admin flow, including the superuser row locks, on SQLite and PostgreSQL."""
    client = any_db_client
    admin = await make_admin(client, client.app[keys.SETTINGS])
    user = await register_and_login(client)
    owner = await register_and_login(client)
    await add_project(client, owner, status="running")
    listed = await admin.get("/admin/users?q=USER")
    assert listed.status == 200 and user.id in {u["id"] for u in listed.body["items"]}
    assert (await admin.patch(f"/admin/users/{user.id}", {"is_active": False})).status == 200
    assert_error(await user.get("/users/me"), 401)
    assert_error(await admin.patch(f"/admin/users/{admin.id}", {"is_superuser": False}), 409)
    assert_error(await admin.delete(f"/admin/users/{owner.id}"), 409)
    stats = (await admin.get("/admin/stats")).body
    assert stats["users"] == 3 and stats["active_users"] == 2 and stats["tasks_by_status"] == {"running": 1}
    assert (await admin.get("/admin/tasks?status=running")).body["total"] == 1
    assert (await admin.delete(f"/admin/users/{user.id}")).status == 204
    assert (await admin.get("/admin/stats")).body["users"] == 2
