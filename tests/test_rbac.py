"""RBAC endpoints over HTTP: the catalogue, roles, built-in protection, assignments, delegated rbac.manage."""

from __future__ import annotations

from chatsvc.permissions import PERMISSIONS
from tests.helpers import assert_error, call, make_admin, register_and_login

ROLE_KEYS = {"id", "name", "description", "permissions", "is_builtin", "created_at", "updated_at", "version"}


async def builtin(admin, name: str) -> dict:
    roles = await admin.get("/rbac/roles?limit=200")
    return next(r for r in roles.body["items"] if r["name"] == name)


async def test_rbac_needs_rbac_manage(client):
    user = await register_and_login(client)
    other = await register_and_login(client)
    paths = ("/rbac/permissions", "/rbac/roles", "/rbac/roles/x", f"/rbac/users/{other.id}/roles",
             f"/rbac/users/{other.id}/permissions", "/rbac/users/no-such-user/permissions")
    for path in paths:
        assert_error(await call(client, "GET", path), 401, "unauthorized")
        assert_error(await user.get(path), 403, "forbidden")
    assert_error(await user.post("/rbac/roles", {"name": "mine", "permissions": []}), 403)
    assert_error(await user.patch("/rbac/roles/x", {"description": "d"}), 403)
    assert_error(await user.delete("/rbac/roles/x"), 403)
    assert_error(await user.put(f"/rbac/users/{user.id}/roles/x"), 403)
    assert_error(await user.delete(f"/rbac/users/{user.id}/roles/x"), 403)
    assert_error(await call(client, "PUT", f"/api/v1/rbac/users/{user.id}/roles/x"), 401)


async def test_own_permissions_are_always_readable(client, settings):
    user = await register_and_login(client)
    mine = await user.get(f"/rbac/users/{user.id}/permissions")
    assert mine.status == 200
    assert mine.body["user_id"] == user.id and mine.body["is_superuser"] is False
    assert mine.body["permissions"] == ["chat.use", "projects.create", "users.read"]
    assert [r["name"] for r in mine.body["roles"]] == ["member"] and set(mine.body["roles"][0]) == {"id", "name"}
    admin = await make_admin(client, settings)
    theirs = await admin.get(f"/rbac/users/{admin.id}/permissions")
    assert theirs.body["is_superuser"] is True and theirs.body["permissions"] == sorted(PERMISSIONS)
    assert [r["name"] for r in theirs.body["roles"]] == ["admin", "member"]
    assert (await admin.get(f"/rbac/users/{user.id}/permissions")).body["permissions"] == mine.body["permissions"]
    assert_error(await admin.get("/rbac/users/no-such-user/permissions"), 404, "not_found")


async def test_permission_catalogue(client, settings):
    admin = await make_admin(client, settings)
    r = await admin.get("/rbac/permissions")
    assert r.status == 200 and r.body["total"] == len(PERMISSIONS) and r.body["offset"] == 0
    assert {p["name"]: p["description"] for p in r.body["items"]} == PERMISSIONS
    page = await admin.get("/rbac/permissions?limit=2&offset=1")
    assert len(page.body["items"]) == 2 and page.body["items"][0] == r.body["items"][1]
    for bad in ("limit=201", "limit=0", "offset=-3", "offset=" + "9" * 30):
        assert_error(await admin.get(f"/rbac/permissions?{bad}"), 422, "validation_error")


async def test_role_lifecycle(client, settings):
    admin = await make_admin(client, settings)
    created = await admin.post("/rbac/roles", {"name": "auditor", "description": "reads",
                                               "permissions": ["users.read", "chat.use", "users.read"]})
    assert created.status == 201 and set(created.body) == ROLE_KEYS
    role = created.body
    assert role["permissions"] == ["chat.use", "users.read"] and role["is_builtin"] is False and role["version"] == 1
    assert (await admin.get(f"/rbac/roles/{role['id']}")).body == role
    listed = await admin.get("/rbac/roles")
    assert [r["name"] for r in listed.body["items"]] == ["admin", "auditor", "member"] and listed.body["total"] == 3
    assert (await admin.get("/rbac/roles?limit=1&offset=2")).body["items"][0]["name"] == "member"
    assert_error(await admin.get("/rbac/roles?limit=201"), 422)

    assert_error(await admin.post("/rbac/roles", {"name": "Auditor", "permissions": []}), 409, "conflict")
    assert_error(await admin.post("/rbac/roles", {"name": "ADMIN", "permissions": []}), 409, "conflict")
    bad = await admin.post("/rbac/roles", {"name": "x", "permissions": ["users.read", "root.everything"]})
    assert_error(bad, 422, "validation_error")
    assert bad.body["error"]["details"][0]["loc"] == ["body", "permissions", "1"]
    for body in ({"name": "x"}, {"name": "", "permissions": []}, {"name": "has space", "permissions": []},
                 {"name": "x" * 65, "permissions": []}, {"name": "x", "permissions": "users.read"},
                 {"name": "x", "permissions": [], "is_builtin": True}, {"name": "x", "permissions": [],
                                                                       "description": "\x00"}):
        assert_error(await admin.post("/rbac/roles", body), 422, "validation_error")

    changed = await admin.patch(f"/rbac/roles/{role['id']}", {"name": "reviewer", "permissions": ["projects.create"]})
    assert changed.status == 200 and changed.body["name"] == "reviewer"
    assert changed.body["permissions"] == ["projects.create"] and changed.body["version"] == 2
    assert changed.body["description"] == "reads"
    only_perms = await admin.patch(f"/rbac/roles/{role['id']}", {"permissions": []})
    assert only_perms.body["permissions"] == [] and only_perms.body["version"] == 3  # a permission change bumps
    assert (await admin.patch(f"/rbac/roles/{role['id']}", {"name": "Reviewer"})).status == 200  # its own name
    assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"name": "member"}), 409, "conflict")
    assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"permissions": ["nope"]}), 422)
    assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"version": 1}), 422)

    assert (await admin.delete(f"/rbac/roles/{role['id']}")).status == 204
    for method in ("GET", "DELETE"):
        assert_error(await admin.call(method, f"/rbac/roles/{role['id']}"), 404, "not_found")
    assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"description": "x"}), 404, "not_found")
    assert_error(await admin.get("/rbac/roles/" + "x" * 65), 404)


async def test_builtin_roles_are_protected(client, settings):
    admin = await make_admin(client, settings)
    for name in ("admin", "member"):
        role = await builtin(admin, name)
        assert role["is_builtin"] is True
        assert_error(await admin.delete(f"/rbac/roles/{role['id']}"), 403, "forbidden")
        assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"name": f"{name}2"}), 403, "forbidden")
        assert_error(await admin.patch(f"/rbac/roles/{role['id']}", {"permissions": ["chat.use"]}), 403, "forbidden")
        same = await admin.patch(f"/rbac/roles/{role['id']}", {"name": name, "permissions": role["permissions"],
                                                                "description": "Still here."})
        assert same.status == 200 and same.body["description"] == "Still here."
        assert same.body["permissions"] == role["permissions"]


async def test_assignments(client, settings):
    admin = await make_admin(client, settings)
    user = await register_and_login(client)
    role = (await admin.post("/rbac/roles", {"name": "helper", "permissions": ["admin.access"]})).body
    url = f"/rbac/users/{user.id}/roles/{role['id']}"
    first = await admin.put(url)
    assert first.status == 201 and [r["name"] for r in first.body["items"]] == ["helper", "member"]
    assert set(first.body) == {"items", "total", "limit", "offset"} and first.body["total"] == 2
    again = await admin.put(url)
    assert again.status == 200 and again.body == first.body
    roles = await admin.get(f"/rbac/users/{user.id}/roles?limit=1&offset=1")
    assert roles.body["total"] == 2 and [r["name"] for r in roles.body["items"]] == ["member"]
    perms = await user.get(f"/rbac/users/{user.id}/permissions")
    assert "admin.access" in perms.body["permissions"]
    assert (await user.get("/admin/users")).status == 200

    assert (await admin.delete(url)).status == 204
    assert_error(await admin.delete(url), 404, "not_found")
    assert_error(await user.get("/admin/users"), 403)
    assert_error(await admin.put(f"/rbac/users/no-such-user/roles/{role['id']}"), 404, "not_found")
    assert_error(await admin.put(f"/rbac/users/{user.id}/roles/no-such-role"), 404, "not_found")
    assert_error(await admin.get("/rbac/users/no-such-user/roles"), 404, "not_found")
    assert_error(await admin.delete(f"/rbac/users/{user.id}/roles/no-such-role"), 404, "not_found")

    # Deleting a role takes it from its holders at once.
    assert (await admin.put(url)).status == 201
    assert (await admin.delete(f"/rbac/roles/{role['id']}")).status == 204
    assert_error(await user.get("/admin/users"), 403)
    assert [r["name"] for r in (await admin.get(f"/rbac/users/{user.id}/roles")).body["items"]] == ["member"]

    # Without the member role, its permissions go too.
    member = await builtin(admin, "member")
    assert (await admin.delete(f"/rbac/users/{user.id}/roles/{member['id']}")).status == 204
    assert (await user.get(f"/rbac/users/{user.id}/permissions")).body["permissions"] == []
    assert_error(await user.get("/users?q=a"), 403)


async def test_delegated_rbac_manage(client, settings):
    """A non-superuser with rbac.manage manages roles, but cannot grant what they do not hold."""
    root = await make_admin(client, settings)
    manager = await register_and_login(client)
    plain = await register_and_login(client)
    role = (await root.post("/rbac/roles", {"name": "rbac-admins", "permissions": ["rbac.manage"]})).body
    assert_error(await manager.get("/rbac/roles"), 403)
    assert (await root.put(f"/rbac/users/{manager.id}/roles/{role['id']}")).status == 201
    assert (await manager.get("/rbac/roles")).status == 200
    assert (await manager.get(f"/rbac/users/{plain.id}/permissions")).status == 200

    readers = await manager.post("/rbac/roles", {"name": "readers", "permissions": ["users.read"]})
    assert readers.status == 201
    assert (await manager.put(f"/rbac/users/{plain.id}/roles/{readers.body['id']}")).status == 201
    assert_error(await manager.post("/rbac/roles", {"name": "sneaky", "permissions": ["admin.access"]}),
                 403, "forbidden")
    assert_error(await manager.patch(f"/rbac/roles/{readers.body['id']}", {"permissions": ["admin.access"]}), 403)
    admin_role = await builtin(root, "admin")
    assert_error(await manager.put(f"/rbac/users/{manager.id}/roles/{admin_role['id']}"), 403, "forbidden")
    assert_error(await manager.get("/admin/users"), 403)  # rbac.manage is not admin.access
    assert (await manager.delete(f"/rbac/roles/{readers.body['id']}")).status == 204

    assert (await root.delete(f"/rbac/users/{manager.id}/roles/{role['id']}")).status == 204
    assert_error(await manager.get("/rbac/roles"), 403, "forbidden")  # gone at once
    assert (await manager.get(f"/rbac/users/{manager.id}/permissions")).status == 200  # own stays readable


async def test_rbac_on_every_database(any_db_client):
    """Role create, conflict, assignment and permissions on SQLite and PostgreSQL."""
    from chatsvc import keys

    client = any_db_client
    admin = await make_admin(client, client.app[keys.SETTINGS])
    user = await register_and_login(client)
    role = await admin.post("/rbac/roles", {"name": "ops", "permissions": ["admin.access", "rbac.manage"]})
    assert role.status == 201
    assert_error(await admin.post("/rbac/roles", {"name": "OPS", "permissions": []}), 409)
    assert (await admin.put(f"/rbac/users/{user.id}/roles/{role.body['id']}")).status == 201
    perms = (await user.get(f"/rbac/users/{user.id}/permissions")).body
    assert {"admin.access", "rbac.manage"} <= set(perms["permissions"])
    assert (await user.patch(f"/rbac/roles/{role.body['id']}", {"permissions": ["admin.access"]})).status == 200
    assert_error(await user.get("/rbac/roles"), 403)  # the user just took rbac.manage from themself
    assert (await admin.delete(f"/rbac/roles/{role.body['id']}")).status == 204
    assert_error(await user.get("/admin/stats"), 403)
