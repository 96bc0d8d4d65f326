"""A small websocket client for tests: sends ops with increasing ids, receives parsed frames with timeouts."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.helpers import User


class WsClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.welcome: dict[str, Any] = {}
        self.backlog: deque[dict[str, Any]] = deque()  # frames skipped by recv_until, read again later

    @classmethod
    async def connect(cls, client: TestClient, user: User | None = None, **kw: Any) -> WsClient:
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers.update(user.headers)
        ws = await client.ws_connect("/api/v1/ws", headers=headers, **kw)
        conn = cls(ws)
        conn.welcome = await conn.recv()
        assert conn.welcome["type"] == "welcome", conn.welcome
        return conn

    async def send_op(self, op: str, **params: Any) -> int:
        self.next_id += 1
        await self.ws.send_str(json.dumps({"id": self.next_id, "op": op, **params}))
        return self.next_id

    async def op(self, op: str, **params: Any) -> dict[str, Any]:
        """Send an op and return its result frame (other frames before it are kept in `pending`)."""
        op_id = await self.send_op(op, **params)
        return await self.recv_until(lambda f: f.get("id") == op_id and f["type"] in ("result", "pong"))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.popleft()
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == WSMsgType.TEXT, (msg.type, msg.data, getattr(msg, "extra", None))
        return json.loads(msg.data)

    async def recv_until(self, match: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Return the first frame matching; frames before it stay queued for later reads."""
        deadline = asyncio.get_running_loop().time() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                frame = await self.recv(max(0.01, deadline - asyncio.get_running_loop().time()))
                if match(frame):
                    return frame
                skipped.append(frame)
        finally:
            self.backlog.extendleft(reversed(skipped))

    async def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        out = []
        while len(out) < count:
            frame = await self.recv(timeout)
            if frame["type"] == "event":
                out.append(frame)
        return out

    async def nothing_more(self, wait: float = 0.3) -> None:
        """Assert no frame arrives within `wait` seconds."""
        assert not self.backlog, f"unexpected frames: {list(self.backlog)}"
        try:
            msg = await asyncio.wait_for(self.ws.receive(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {msg.type} {msg.data}")

    async def closed_with(self, code: int, timeout: float = 5.0) -> dict[str, Any] | None:
        """Read until the close; return the goodbye frame (if any) and check the close code."""
        goodbye = None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), max(0.01, deadline - asyncio.get_running_loop().time()))
            if msg.type == WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if frame["type"] == "goodbye":
                    goodbye = frame
                continue
            # The code a client sees is the one in the server's close frame (aiohttp's client records 1006
            # instead when the server drops TCP before its reply, which aiohttp's server does on a kick).
            assert msg.type == WSMsgType.CLOSE, (msg, goodbye)
            assert msg.data == code, (msg, goodbye)
            return goodbye

    async def close(self) -> None:
        await self.ws.close()
