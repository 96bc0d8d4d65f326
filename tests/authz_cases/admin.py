"""Matrix cases for handlers/admin.py: only a holder of `admin.access` (here the superuser) gets in.

The plain callers hold the default `member` role, which lacks `admin.access`, so they get 403 even for an
unknown id (authorization comes before the lookup). The PATCH/DELETE target is a plain user.
"""

from tests.authz_cases import Case, same

U = "/api/v1/admin/users"
ADMIN_ONLY = same(403, admin=200)

CASES = [
    Case("GET", U, U + "?q=w", expect=ADMIN_ONLY),
    Case("GET", U + "/{id}", U + "/{target_user_id}", expect=ADMIN_ONLY),
    Case("GET", U + "/{id}", U + "/no-such-user", expect=same(403, admin=404), note="no existence leak to non-admins"),
    Case("PATCH", U + "/{id}", U + "/{target_user_id}", body={"full_name": "Renamed"}, expect=ADMIN_ONLY),
    Case("PATCH", U + "/{id}", U + "/{admin_id}", body={"is_active": False}, expect=same(403, admin=409),
         note="nobody disables themself"),
    Case("DELETE", U + "/{id}", U + "/{target_user_id}", expect=same(403, admin=204)),
    Case("DELETE", U + "/{id}", U + "/{owner_id}", expect=same(403, admin=409),
         note="the only owner of a project cannot be deleted"),
    Case("POST", U + "/{id}/reconnect", U + "/{target_user_id}/reconnect", expect=ADMIN_ONLY),
    Case("POST", U + "/{id}/reconnect", U + "/no-such-user/reconnect", expect=same(403, admin=404)),
    Case("GET", "/api/v1/admin/stats", "/api/v1/admin/stats", expect=ADMIN_ONLY),
    Case("GET", "/api/v1/admin/tasks", "/api/v1/admin/tasks?status=succeeded", expect=ADMIN_ONLY),
]
