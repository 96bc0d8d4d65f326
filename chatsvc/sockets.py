"""The live websockets of this process: who holds them, and what happens when access changes.

The registry taps the event bus: a revoked session closes its sockets with 4401; a changed account (say, no
longer a superuser) is read again and its sockets' subscriptions re-checked with the new rights; a
membership change or a deleted project or chat re-checks the affected subscriptions and ends those that are
no longer allowed with `unsubscribed`. Every 30 s the sessions of open sockets are checked again: one that
expired (absolute or idle limit) closes with 4401, as its next REST request would get 401. On shutdown every
socket gets `goodbye` and close 1001.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chatsvc import authz
from chatsvc.errors import DomainError
from chatsvc.events import Event, EventBus
from chatsvc.live import Connection
from chatsvc.security import Principal
from chatsvc.shutdown import TaskSet, wait_bounded
from storage import users

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger("chatsvc.sockets")

KICK_WAIT_S = 3.0  # each goodbye-and-close gives up on its peer after 2 s
EXPIRY_CHECK_S = 30.0  # how often open sockets' sessions are checked for expiry
_ACCESS_EVENTS = frozenset({"session.revoked", "user.updated", "project.deleted",
                            "chat_session.deleted"})  # +member.*
RECONNECT_CODE = 1012  # "service restart": clients reconnect and resume with `since`


class SocketRegistry:
    """Track connections by user and auth session; react to events that change what they may see."""

    def __init__(self, bus: EventBus, db: Database, idle_s: int = 7 * 24 * 3600) -> None:
        self.bus = bus
        self.db = db
        self.idle_s = idle_s  # a session unused this long has expired (settings.session_idle_s)
        self.connections: set[Connection] = set()
        self.principals: dict[Connection, Principal] = {}
        self._tasks = TaskSet("socket registry")
        bus.add_tap(self.on_event)

    def start(self) -> None:
        """Begin checking open sockets' sessions for expiry (stopped by close_all)."""
        self._tasks.spawn(self.expire_sessions())

    def add(self, conn: Connection, principal: Principal) -> None:
        self.connections.add(conn)
        self.principals[conn] = principal

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self.principals.pop(conn, None)

    def count(self) -> int:
        return len(self.connections)

    def of_user(self, user_id: str) -> list[Connection]:
        return [c for c in self.connections if c.user_id == user_id]

    def reconnect_user(self, user_id: str) -> int:
        """Ask every socket of the user in this process to reconnect (goodbye 1012); return how many."""
        conns = self.of_user(user_id)
        for conn in conns:
            conn.kick(RECONNECT_CODE, "An administrator asked this connection to reconnect.", reconnect=True)
        return len(conns)

    def on_event(self, event: Event) -> None:
        """Bus tap: runs synchronously inside publish(); anything slow goes to a tracked task."""
        name, topic = event.name, event.topic
        if name not in _ACCESS_EVENTS and not name.startswith("member."):
            return  # most events (every streamed delta) change no access: one set lookup, not five tests
        if name == "session.revoked":
            revoked = set(event.data.get("auth_session_ids", ()))
            for conn in list(self.connections):
                if conn.auth_session_id in revoked:
                    conn.kick(4401, "session revoked", reconnect=False)
        elif name == "user.updated" and topic.startswith("user:"):
            resource = event.data.get("resource") or {}
            if resource.get("is_active") is False:
                for conn in self.of_user(topic[5:]):
                    conn.kick(4401, "account disabled", reconnect=False)
            else:  # e.g. no longer a superuser: read the account again, then re-check what its sockets see
                conns = self.of_user(topic[5:])
                if conns:
                    self._tasks.spawn(self._refresh_then_recheck(conns))
        elif name.startswith("member.") and topic.startswith("user:"):
            self._recheck(self.of_user(topic[5:]), "forbidden")
        elif name == "project.deleted" and topic.startswith("project:"):
            self._recheck([c for c in self.connections if any(not t.startswith("user:") for t in c.subscriptions)],
                          "deleted")
        elif name == "chat_session.deleted" and topic.startswith("chat:"):
            self._recheck([c for c in self.connections if topic in c.subscriptions], "deleted")

    def principal_of(self, conn: Connection, default: Principal) -> Principal:
        """The socket's caller as of now (rights change while it is open; ops must use this one)."""
        return self.principals.get(conn, default)

    async def _refresh_then_recheck(self, conns: list[Connection]) -> None:
        await self.revalidate(conns)
        await self._recheck_all([c for c in conns if c.subscriptions and not c.closing], "forbidden")

    async def revalidate(self, conns: Iterable[Connection] | None = None) -> None:
        """Read the sockets' auth sessions and accounts again: close (4401) those whose session ended —
        expired, idle, revoked, account disabled — and give the others their account's current rights."""
        conns = [c for c in (self.connections if conns is None else conns) if not c.closing]
        if not conns:
            return
        try:
            async with self.db.read() as session:
                alive = await users.alive_auth_sessions(session, (c.auth_session_id for c in conns), self.idle_s)
        except Exception:
            log.exception("re-validating websocket sessions failed")
            return
        for conn in conns:
            user = alive.get(conn.auth_session_id)
            principal = self.principals.get(conn)
            if user is None or principal is None:
                conn.kick(4401, "session expired", reconnect=False)
            elif user.is_superuser != principal.is_superuser:
                self.principals[conn] = dataclasses.replace(principal, is_superuser=user.is_superuser)

    async def expire_sessions(self) -> None:
        """Close sockets whose session expired while they were open, every EXPIRY_CHECK_S (a heartbeat keeps
        the socket alive, not the session: idle and absolute limits hold as for REST)."""
        while True:
            await asyncio.sleep(EXPIRY_CHECK_S)
            await self.revalidate()

    def _recheck(self, conns: Iterable[Connection], reason: str) -> None:
        conns = [c for c in conns if c.subscriptions and not c.closing]
        if not conns:
            return
        self._tasks.spawn(self._recheck_all(conns, reason))

    async def _recheck_all(self, conns: list[Connection], reason: str) -> None:
        try:
            async with self.db.read() as session:
                for conn in conns:
                    principal = self.principals.get(conn)
                    if principal is None:
                        continue
                    for topic in list(conn.subscriptions):
                        try:
                            await authz.authorize_topic(session, principal, topic)
                        except DomainError:
                            self.end_subscription(conn, topic, reason)
        except Exception:  # never let a failed re-check kill the tap's task silently
            log.exception("re-checking subscriptions failed")

    def end_subscription(self, conn: Connection, topic: str, reason: str) -> None:
        """Drop a subscription the server ended and tell the client."""
        listener = conn.subscriptions.pop(topic, None)
        if listener is None:
            return
        self.bus.unsubscribe(topic, listener)
        conn.send({"type": "unsubscribed", "topic": topic, "reason": reason})

    async def close_all(self) -> None:
        """Say goodbye to every socket and close it with 1001 (server shutdown)."""
        for conn in list(self.connections):
            conn.kick(1001, "server shutting down", reconnect=True)
        kicks = [c.kick_task for c in list(self.connections) if c.kick_task is not None]
        await wait_bounded(kicks, "websocket goodbyes", timeout=KICK_WAIT_S)
        await self._tasks.stop()
