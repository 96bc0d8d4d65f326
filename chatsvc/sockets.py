"""The live websockets of this process: who holds them, and what happens when access changes.

The registry taps the event bus: a revoked session closes its sockets with 4401; a membership change
or a deleted project or chat re-checks the affected subscriptions and ends those that are no longer
allowed with `unsubscribed`. On shutdown every socket gets `goodbye` and close 1001.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chatsvc import authz
from chatsvc.errors import DomainError
from chatsvc.events import Event, EventBus
from chatsvc.live import Connection
from chatsvc.security import Principal
from chatsvc.shutdown import TaskSet, wait_bounded

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger("chatsvc.sockets")

KICK_WAIT_S = 3.0  # each goodbye-and-close gives up on its peer after 2 s
_ACCESS_EVENTS = frozenset({"session.revoked", "user.updated", "project.deleted", "chat_session.deleted"})  # +member.*


class SocketRegistry:
    """Track connections by user and auth session; react to events that change what they may see."""

    def __init__(self, bus: EventBus, db: Database) -> None:
        self.bus = bus
        self.db = db
        self.connections: set[Connection] = set()
        self.principals: dict[Connection, Principal] = {}
        self._tasks = TaskSet("socket registry")
        bus.add_tap(self.on_event)

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
            else:
                self._recheck(self.of_user(topic[5:]), "forbidden")
        elif name.startswith("member.") and topic.startswith("user:"):
            self._recheck(self.of_user(topic[5:]), "forbidden")
        elif name == "project.deleted" and topic.startswith("project:"):
            self._recheck([c for c in self.connections if any(not t.startswith("user:") for t in c.subscriptions)],
                          "deleted")
        elif name == "chat_session.deleted" and topic.startswith("chat:"):
            self._recheck([c for c in self.connections if topic in c.subscriptions], "deleted")

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
