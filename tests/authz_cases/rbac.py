"""Matrix cases for handlers/rbac.py: only a holder of `rbac.manage` (here the superuser) gets in.

Exception: anyone reads their own effective permissions. The plain callers hold the default `member`
role, which lacks `rbac.manage`. role_id is a custom role; builtin_role_id is `member`, which the
target user holds.
"""

from tests.authz_cases import Case, same

R = "/api/v1/rbac/roles"
U = "/api/v1/rbac/users"
MANAGERS = same(403, admin=200)

CASES = [
    Case("GET", "/api/v1/rbac/permissions", "/api/v1/rbac/permissions", expect=MANAGERS),
    Case("GET", R, R, expect=MANAGERS),
    Case("POST", R, R, body={"name": "matrix{serial}", "permissions": ["users.read"]}, expect=same(403, admin=201)),
    Case("GET", R + "/{id}", R + "/{role_id}", expect=MANAGERS),
    Case("PATCH", R + "/{id}", R + "/{role_id}", body={"description": "changed"}, expect=MANAGERS),
    Case("PATCH", R + "/{id}", R + "/{builtin_role_id}", body={"permissions": []}, expect=same(403),
         note="built-in roles keep their permissions, even for a superuser"),
    Case("DELETE", R + "/{id}", R + "/{role_id}", expect=same(403, admin=204)),
    Case("DELETE", R + "/{id}", R + "/{builtin_role_id}", expect=same(403), note="built-in roles stay"),
    Case("GET", U + "/{id}/roles", U + "/{target_user_id}/roles", expect=MANAGERS),
    Case("PUT", U + "/{id}/roles/{role_id}", U + "/{target_user_id}/roles/{role_id}", expect=same(403, admin=201)),
    Case("DELETE", U + "/{id}/roles/{role_id}", U + "/{target_user_id}/roles/{builtin_role_id}",
         expect=same(403, admin=204)),
    Case("DELETE", U + "/{id}/roles/{role_id}", U + "/{target_user_id}/roles/{role_id}", expect=same(403, admin=404),
         note="not assigned"),
    Case("GET", U + "/{id}/permissions", U + "/{target_user_id}/permissions", expect=MANAGERS),
    Case("GET", U + "/{id}/permissions", U + "/{viewer_id}/permissions", expect=same(403, viewer=200, admin=200),
         note="one's own permissions are always readable"),
    Case("GET", U + "/{id}/permissions", U + "/{owner_id}/permissions", expect=same(403, owner=200, admin=200)),
]
