"""The load generator's client side: a REST helper and a websocket wrapper on aiohttp's client.

Everything here talks to the server the way any client would, over loopback; nothing imports the
server's own modules.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import BenchError

API = "/api/v1"
PASSWORD = "bench-password-1"
WORD_RE_PATTERN = r"\S+\s*|\s+"  # how the offline model cuts its reply into tokens (one word each)
_names = itertools.count(1)


@dataclass
class User:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A thin REST client over one aiohttp session; any unexpected status raises BenchError."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(self, method: str, path: str, body: Any = None, user: User | None = None,
                   expect: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        url = self.base + (path if path.startswith("/healthz") or path.startswith("/metrics") else API + path)
        headers = user.headers if user else None
        async with self.session.request(method, url, json=body, headers=headers) as resp:
            raw = await resp.read()
            if resp.status not in expect:
                raise BenchError(f"{method} {path} answered {resp.status}: {raw[:300]!r}")
            return json.loads(raw) if raw and resp.content_type == "application/json" else raw

    async def user(self, prefix: str = "bench") -> User:
        """Register and log in a new user with a bearer token."""
        name = f"{prefix}{next(_names)}_{os.getpid()}"
        reg = await self.call("POST", "/users/register",
                              {"email": f"{name}@example.com", "username": name, "password": PASSWORD})
        tok = await self.call("POST", "/users/login", {"username": name, "password": PASSWORD})
        return User(reg["id"], name, tok["access_token"])

    async def project(self, owner: User, name: str = "Bench project") -> dict[str, Any]:
        return await self.call("POST", "/projects", {"name": name}, owner)

    async def add_member(self, owner: User, project_id: str, member: User, role: str = "viewer") -> None:
        await self.call("POST", f"/projects/{project_id}/members", {"user_id": member.id, "role": role}, owner)

    async def document(self, owner: User, project_id: str, requirements: int) -> dict[str, Any]:
        """A requirements document with `requirements` numbered shall-statements."""
        lines = ["# Bench requirements", ""]
        for i in range(1, requirements + 1):
            lines.append(f"- REQ-{i}: The system shall answer request kind {i} within {i * 10} milliseconds "
                         f"for every signed-in user.")
        return await self.call("POST", f"/projects/{project_id}/document-versions",
                               {"title": "Bench spec", "content": "\n".join(lines)}, owner)

    async def chat(self, user: User, project_id: str | None, title: str = "Bench chat") -> dict[str, Any]:
        body: dict[str, Any] = {"title": title}
        if project_id:
            body["project_id"] = project_id
        return await self.call("POST", "/chat/sessions", body, user)

    async def metric(self, name: str) -> float:
        """Read one gauge from /metrics."""
        async with self.session.get(self.base + "/metrics") as resp:
            text = await resp.text()
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):  # series carry a process label
                return float(line.rsplit(" ", 1)[1])
        return float("nan")


def ws_url(base: str) -> str:
    return base.replace("http", "ws", 1) + API + "/ws"


class Ws:
    """One websocket with increasing op ids; frames not yet wanted wait in a backlog."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.welcome: dict[str, Any] = {}
        self.backlog: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, base: str, user: User, timeout: float = 30) -> Ws:
        # compress=15: offer permessage-deflate as every browser does (the server declines it).
        ws = await session.ws_connect(ws_url(base), headers=user.headers, timeout=aiohttp.ClientWSTimeout(
            ws_receive=None, ws_close=5), max_msg_size=8 << 20, compress=15)
        conn = cls(ws)
        conn.welcome = await conn.recv(timeout)
        if conn.welcome.get("type") != "welcome":
            raise BenchError(f"expected welcome, got {conn.welcome}")
        return conn

    async def recv(self, timeout: float = 30) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise BenchError(f"websocket closed: {msg.type} {msg.data} {msg.extra}")
        return json.loads(msg.data)

    async def op(self, op: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """Send an op; return its data, raising BenchError when it failed."""
        self.next_id += 1
        op_id = self.next_id
        await self.ws.send_str(json.dumps({"id": op_id, "op": op, **params}))
        deadline = time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                frame = await self.recv(max(0.01, deadline - time.monotonic()))
                if frame.get("id") == op_id and frame["type"] in ("result", "pong"):
                    if frame["type"] == "result" and not frame["ok"]:
                        raise BenchError(f"{op} failed: {frame['error']}")
                    return frame.get("data") or {}
                skipped.append(frame)
        finally:
            self.backlog = skipped + self.backlog

    async def close(self) -> None:
        await self.ws.close()


def client_session(limit: int = 0) -> aiohttp.ClientSession:
    """A client session with no connection cap (the benchmarks decide concurrency themselves)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit),
                                 timeout=aiohttp.ClientTimeout(total=60))


def parse_iso(ts: str) -> float:
    """Seconds since the epoch of a `2024-05-01T12:00:00.123Z` timestamp."""
    main, _, frac = ts.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)
