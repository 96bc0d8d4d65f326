"""Matrix cases for handlers/users.py."""

from tests.authz_cases import Case, same

CASES = [
    Case("POST", "/api/v1/users/register", "/api/v1/users/register",
         body={"email": "newu{serial}@example.com", "username": "newu{serial}", "password": "long enough pw"},
         expect={c: 201 for c in ("anon", "nonmember", "viewer", "editor", "owner", "admin")},
         note="public; each caller gets a fresh World, so the name is new each time"),
    Case("POST", "/api/v1/users/login", "/api/v1/users/login",
         body={"username": "nobody{serial}", "password": "wrong password"},
         expect={c: 401 for c in ("anon", "nonmember", "viewer", "editor", "owner", "admin")},
         note="a fresh unknown account per World, so the failed-login limiter (per account and IP) stays out"),
    Case("POST", "/api/v1/users/logout", "/api/v1/users/logout", expect=same(204)),
    Case("POST", "/api/v1/users/session", "/api/v1/users/session",
         body={"username": "nobody{serial}", "password": "wrong password"},
         expect={c: 401 for c in ("anon", "nonmember", "viewer", "editor", "owner", "admin")}),
    Case("GET", "/api/v1/users/session", "/api/v1/users/session",
         expect={c: 200 for c in ("anon", "nonmember", "viewer", "editor", "owner", "admin")},
         note="the browser's boot probe: nulls for anonymous callers instead of a 401"),
    Case("DELETE", "/api/v1/users/session", "/api/v1/users/session", expect=same(204)),
    Case("GET", "/api/v1/users/me", "/api/v1/users/me", expect=same(200)),
    Case("PATCH", "/api/v1/users/me", "/api/v1/users/me", body={"full_name": "X"}, expect=same(200)),
    Case("POST", "/api/v1/users/me/password", "/api/v1/users/me/password",
         body={"current_password": "correct horse battery", "new_password": "another long pw"},
         expect=same(200)),
    Case("GET", "/api/v1/users", "/api/v1/users?q=a", expect=same(200)),
]
