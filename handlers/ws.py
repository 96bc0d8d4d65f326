"""The multiplexed websocket at /api/v1/ws (DESIGN §7): auth at upgrade, ops, subscriptions, resume."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatsvc import authz, keys
from chatsvc.errors import BadRequest, DomainError, Forbidden, RateLimited
from chatsvc.live import Connection, Limits, bound_send_buffer
from chatsvc.schemas.common import ID_PATTERN
from chatsvc.schemas.tasks import TaskOut
from chatsvc.security import Principal
from chatsvc.shutdown import stop_tasks, wait_bounded
from chatsvc.views import ApiView, endpoint
from storage import tasks as tasks_repo

log = logging.getLogger("chatsvc.ws")

TOPIC_RE = re.compile(r"^(user|project|chat|task):" + ID_PATTERN[1:])


class Since(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: str = Field(max_length=64)
    seq: int = Field(ge=0)


class SubscribeOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    op: Literal["subscribe"]
    topic: str = Field(pattern=TOPIC_RE.pattern)
    since: Since | None = None


class UnsubscribeOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    op: Literal["unsubscribe"]
    topic: str = Field(max_length=80)


class ChatSendOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    op: Literal["chat.send"]
    session_id: str = Field(min_length=1, max_length=64)
    client_msg_id: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=32000)
    if_busy: Literal["reject", "enqueue", "interrupt"] = "reject"


class ChatCancelOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    op: Literal["chat.cancel"]
    session_id: str = Field(min_length=1, max_length=64)


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """Compare Origin (scheme, host, port) with this server's own origin and the configured allow-list."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    own = f"{request.scheme}://{request.host}"
    return origin.rstrip("/").lower() in {own.lower(), *(o.rstrip("/").lower() for o in allowed)}


def error_result(op_id: Any, code: str, message: str, retryable: bool = False) -> dict[str, Any]:
    return {"type": "result", "id": op_id, "ok": False,
            "error": {"code": code, "message": message, "retryable": retryable}}


class WebSocketView(ApiView):
    path = "/ws"
    tag = "live"

    @endpoint(
        "Open the live channel: one websocket per tab for events, chat streaming and task progress",
        errors=(400, 403, 429),
        description="Authenticate with the session cookie (Origin must be allowed) or an Authorization: Bearer "
                    "header. See docs/websocket.md for frames, ops, topics and close codes.",
    )
    async def get(self) -> web.StreamResponse:
        request = self.request
        settings = self.settings
        if self.principal.via == "cookie" and not origin_allowed(request, settings.allowed_origins):
            raise Forbidden("This Origin may not open the websocket with a session cookie.")
        limits: Limits = self.app[keys.WS_LIMITS]
        registry = self.app[keys.SOCKETS]
        if len(registry.of_user(self.principal.user_id)) >= limits.max_sockets_per_user:
            raise RateLimited(10, f"At most {limits.max_sockets_per_user} open websockets per user; close a tab "
                                  "or wait for an old connection to time out.")
        # No permessage-deflate (browsers always offer it): a zlib stream per socket holds ~400 KiB once used
        # and compressing each ~200-byte delta cost ~40 % more CPU per frame than sending it (Socket.IO and ws
        # turned it off by default for the same reasons). Connection also writes idle sockets' frames raw.
        ws = web.WebSocketResponse(heartbeat=limits.heartbeat_s, max_msg_size=limits.max_frame_bytes, timeout=5,
                                   compress=False)
        if not ws.can_prepare(request).ok:
            raise BadRequest("This endpoint needs a websocket upgrade.")
        async with asyncio.timeout(10):
            await ws.prepare(request)
        bound_send_buffer(request, limits.send_buffer_bytes)
        conn = Connection(ws, request, conn_id=secrets.token_hex(8), user_id=self.principal.user_id,
                          auth_session_id=self.principal.auth_session_id, limits=limits)
        registry.add(conn, self.principal)
        writer = asyncio.get_running_loop().create_task(conn.writer())
        conn.send({"type": "welcome", "conn_id": conn.conn_id, "user_id": conn.user_id,
                   "heartbeat_s": limits.heartbeat_s, "limits": limits.public()})
        try:
            await self._read(conn)
        finally:
            conn.closing = True
            conn.stop_timers()
            bus = self.app[keys.EVENTS]
            for topic, listener in list(conn.subscriptions.items()):
                bus.unsubscribe(topic, listener)
            conn.subscriptions.clear()
            registry.remove(conn)
            await stop_tasks([writer], "websocket writer", timeout=2.0)
            if conn.kick_task is not None:
                await wait_bounded([conn.kick_task], "websocket goodbye", timeout=3.0)  # it aborts after 2 s
            if not ws.closed:
                try:
                    async with asyncio.timeout(2):
                        await ws.close()
                except (TimeoutError, ConnectionResetError):
                    pass
        return ws

    async def _read(self, conn: Connection) -> None:
        async for msg in conn.ws:
            if msg.type == WSMsgType.TEXT:
                if conn.closing:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    conn.kick(4400, "frames must be JSON text", reconnect=False)
                    continue
                except RecursionError:  # valid JSON nested past what we decode: an error, the socket stays
                    conn.send(error_result(None, "invalid_format", "The frame is nested too deeply."))
                    continue
                await self._handle(conn, frame)
            elif msg.type == WSMsgType.BINARY:
                conn.kick(4400, "binary frames are not accepted", reconnect=False)
            else:
                break

    async def _handle(self, conn: Connection, frame: Any) -> None:
        if not isinstance(frame, dict) or type(frame.get("id")) is not int or not isinstance(frame.get("op"), str):
            op_id = frame.get("id") if isinstance(frame, dict) else None
            conn.send(error_result(op_id, "invalid_format", "A frame is {\"id\": <int>, \"op\": <string>, ...}."))
            return
        op_id, op = frame["id"], frame["op"]
        if op_id <= conn.last_op_id:
            conn.send(error_result(op_id, "id_reuse", "Op ids must strictly increase on a connection."))
            return
        conn.last_op_id = op_id
        if not conn.take_op_token():
            conn.send(error_result(op_id, "rate_limited", "Too many operations; slow down.", retryable=True))
            return
        handler = OPS.get(op)
        if handler is None:
            conn.send(error_result(op_id, "unknown_op", f"Unknown op {op!r}."))
            return
        try:
            await handler(self, conn, frame)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            conn.send(error_result(op_id, "invalid_format", f"{where}: {first['msg']}"))
        except DomainError as exc:
            conn.send(error_result(op_id, exc.code, exc.message, retryable=exc.retryable))
        except Exception:  # a bug in one op must not close the socket every other view of the tab rides on
            log.exception("websocket op %s failed", op)
            conn.send(error_result(op_id, "internal", "Something went wrong on the server; please retry.",
                                   retryable=True))

    def _caller(self, conn: Connection) -> Principal:
        """Who sends this op, with the rights they have now (not those they had when the socket opened)."""
        return self.app[keys.SOCKETS].principal_of(conn, self.principal)

    async def _subscribe(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = SubscribeOp.model_validate(frame)
        if op.topic in conn.subscriptions:
            conn.send(error_result(op.id, "already_subscribed", f"Already subscribed to {op.topic}."))
            return
        if len(conn.subscriptions) >= conn.limits.max_topics:
            conn.send(error_result(op.id, "too_many_subscriptions",
                                   f"At most {conn.limits.max_topics} topics per connection."))
            return
        async with self.db.read() as session:
            await authz.authorize_topic(session, self._caller(conn), op.topic)
            state = await topic_state(self.app, session, op.topic)
            joined = await authz.access_since(session, self._caller(conn), op.topic) if op.since else None
        if conn.closing or op.topic in conn.subscriptions:
            return
        # Register and read the ring atomically, then queue result, replay, live with no await in between.
        # (The Redis bus must await its history read: its subscribe_async holds live events back until then.)
        bus = self.app[keys.EVENTS]
        since = (op.since.epoch, op.since.seq) if op.since else None
        conn.subscriptions[op.topic] = conn.deliver
        try:
            sub = await bus.subscribe_async(op.topic, conn.deliver, since)
        except BaseException:
            conn.subscriptions.pop(op.topic, None)
            raise
        replay, recovered = sub.replay, sub.recovered
        if joined is not None and replay and replay[0].ts < joined:
            # Part of the gap happened before this caller could see the topic: replay none of it; the client
            # refetches over REST (what is there now), as after any unrecoverable gap.
            replay, recovered = (), False
        data: dict[str, Any] = {"epoch": sub.epoch, "seq": sub.seq}
        if recovered is not None:
            data["recovered"] = recovered
            data["replayed"] = len(replay)
        if state is not None:
            data["state"] = state
        conn.send({"type": "result", "id": op.id, "ok": True, "data": data})
        for event in replay:
            conn.deliver(event)
        for snapshot in self.app[keys.TOPIC_SNAPSHOTS]:
            for event in snapshot(op.topic, (sub.epoch, sub.seq)):
                conn.deliver(event)

    async def _unsubscribe(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = UnsubscribeOp.model_validate(frame)
        listener = conn.subscriptions.pop(op.topic, None)
        if listener is not None:
            self.app[keys.EVENTS].unsubscribe(op.topic, listener)
        conn.send({"type": "result", "id": op.id, "ok": True, "data": {"topic": op.topic, "was_subscribed":
                                                                       listener is not None}})

    async def _ping(self, conn: Connection, frame: dict[str, Any]) -> None:
        conn.send({"type": "pong", "id": frame["id"]})

    async def _chat_send(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Post a message (idempotent by client_msg_id) and start the agent's reply; stream it on chat:{id}."""
        op = ChatSendOp.model_validate(frame)
        result = await self.app[keys.SERVICES].chat.send(self._caller(conn), op.session_id, op.content,
                                                         op.client_msg_id, op.if_busy)
        conn.send({"type": "result", "id": op.id, "ok": True, "data": {
            "user_message": result.user_message, "assistant_message": result.assistant_message,
            "run_id": result.run_id, "created": result.created}})

    async def _chat_cancel(self, conn: Connection, frame: dict[str, Any]) -> None:
        """Stop the chat's active run; its partial text is kept with status cancelled."""
        op = ChatCancelOp.model_validate(frame)
        run_id = await self.app[keys.SERVICES].chat.cancel(self._caller(conn), op.session_id)
        conn.send({"type": "result", "id": op.id, "ok": True, "data": {"cancelled": run_id is not None,
                                                                       "run_id": run_id}})


async def topic_state(app: web.Application, session: Any, topic: str) -> dict[str, Any] | None:
    """The snapshot a subscribe result carries: a task topic's current task JSON."""
    if not topic.startswith("task:"):
        return None
    task = await tasks_repo.get(session, topic[5:])
    return None if task is None else TaskOut.model_validate(task).model_dump(mode="json")


OPS = {
    "subscribe": WebSocketView._subscribe,
    "unsubscribe": WebSocketView._unsubscribe,
    "ping": WebSocketView._ping,
    "chat.send": WebSocketView._chat_send,
    "chat.cancel": WebSocketView._chat_cancel,
}

VIEWS = [WebSocketView]
