"""Small helpers that keep tests short: an API client wrapper and user/project setup."""

from __future__ import annotations

import asyncio
import itertools
import json as jsonlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

API = "/api/v1"
PASSWORD = "correct horse battery"
ROOT_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/static/")
BIG_BODY = 256 * 1024  # JSON answers from this size on are decoded off the loop
_counter = itertools.count(1)


@dataclass
class Resp:
    status: int
    body: Any
    headers: Any

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class User:
    """A registered, logged-in user of the test server (bearer token)."""

    client: TestClient
    id: str
    username: str
    email: str
    token: str
    password: str = PASSWORD
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
                   **kw: Any) -> Resp:
        return await call(self.client, method, path, json=json, headers={**self.headers, **(headers or {})}, **kw)

    async def get(self, path: str, **kw: Any) -> Resp:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Resp:
        return await self.call("POST", path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Resp:
        return await self.call("PATCH", path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> Resp:
        return await self.call("PUT", path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> Resp:
        return await self.call("DELETE", path, **kw)


async def call(client: TestClient, method: str, path: str, *, json: Any = None,
               headers: dict[str, str] | None = None, **kw: Any) -> Resp:
    """Send a request (paths outside /api/v1 and the ops paths get the /api/v1 prefix) and decode JSON."""
    url = path if path == "/" or path.startswith(ROOT_PATHS) else f"{API}{path}"
    async with client.request(method, url, json=json, headers=headers, **kw) as resp:
        body: Any
        if resp.content_type == "application/json":
            raw = await resp.read()
            # The test client shares the server's loop: decoding a multi-MB answer here would be charged to
            # the server by the loop guard, so big ones are decoded on a thread.
            body = jsonlib.loads(raw) if len(raw) < BIG_BODY else await asyncio.to_thread(jsonlib.loads, raw)
        else:
            body = await resp.read()
        return Resp(resp.status, body, resp.headers)


async def register(client: TestClient, username: str | None = None, password: str = PASSWORD,
                   **extra: Any) -> Resp:
    username = username or f"user{next(_counter)}"
    payload = {"email": f"{username}@example.com", "username": username, "password": password, **extra}
    return await call(client, "POST", "/users/register", json=payload)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> Resp:
    return await call(client, "POST", "/users/login", json={"username": username, "password": password})


async def register_and_login(client: TestClient, username: str | None = None, password: str = PASSWORD) -> User:
    """Register a new user and log them in with a bearer token."""
    username = username or f"user{next(_counter)}"
    reg = await register(client, username, password)
    assert reg.status == 201, reg.body
    tok = await login(client, username, password)
    assert tok.status == 200, tok.body
    return User(client=client, id=reg.body["id"], username=username, email=reg.body["email"],
                token=tok.body["access_token"], password=password, data=reg.body)


async def make_admin(client: TestClient, settings: Any, username: str | None = None) -> User:
    """Create a superuser through the same code path as `run.py create-user --admin`, then log in."""
    from chatsvc.cli import create_user_in_db
    from chatsvc.keys import DB_CONNECT_ARGS

    username = username or f"admin{next(_counter)}"
    await create_user_in_db(settings, username=username, email=f"{username}@example.com",
                            password=PASSWORD, admin=True, connect_args=client.app.get(DB_CONNECT_ARGS))
    tok = await login(client, username)
    assert tok.status == 200, tok.body
    return User(client=client, id=tok.body["user"]["id"], username=username, email=f"{username}@example.com",
                token=tok.body["access_token"], data=tok.body["user"])


async def create_project(user: User, name: str = "Project") -> dict[str, Any]:
    r = await user.post("/projects", {"name": name})
    assert r.status == 201, r.body
    return r.body


async def add_member(owner: User, project_id: str, member: User, role: str) -> dict[str, Any]:
    r = await owner.post(f"/projects/{project_id}/members", {"user_id": member.id, "role": role})
    assert r.status == 201, r.body
    return r.body


def assert_error(resp: Resp, status: int, code: str | None = None) -> None:
    """Check a response is an error of the one documented shape."""
    assert resp.status == status, (resp.status, resp.body)
    assert isinstance(resp.body, dict) and set(resp.body) == {"error"}, resp.body
    err = resp.body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
