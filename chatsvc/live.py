"""One websocket connection's outbound side: a queue producers fill without awaiting, one writer task.

Flow control (DESIGN §7): past the soft limit (1000 frames or 1 MiB queued) adjacent `message.delta`
frames of one message, and adjacent `task.progress` frames of one task, are merged into one frame that
carries `seq_from`..`seq`, so a client never sees a gap. Past the hard limit (8000 frames or 8 MiB),
or over the soft limit for 5 s, the client is sent `goodbye` and closed with 4503; it reconnects and
resumes with `since`. What is queued counts the transport's write buffer too, and the kernel's send
buffer is bounded (Limits.send_buffer_bytes), so a slow reader is told goodbye behind at most a few
hundred KiB of backlog instead of being cut off by a TCP abort after megabytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chatsvc.events import Event, compact_json, make_event

log = logging.getLogger("chatsvc.live")


@dataclass(frozen=True)
class Limits:
    soft_frames: int = 1000
    soft_bytes: int = 1 << 20
    hard_frames: int = 8000
    hard_bytes: int = 8 << 20
    soft_grace_s: float = 5.0
    # The kernel's send buffer per socket (Linux doubles it for its bookkeeping). Left to autotuning it grows to
    # several MB for a slow reader: backlog we could neither count nor take back, and a goodbye stuck behind it.
    send_buffer_bytes: int = 256 * 1024
    max_frame_bytes: int = 1 << 20
    max_topics: int = 100
    max_sockets_per_user: int = 50  # open websockets of one user in one process (tabs, devices); more: 429
    ops_per_s: float = 20.0
    ops_burst: int = 40
    abuse_rejections: int = 200  # rejected ops within abuse_window_s: close 4429
    abuse_window_s: float = 10.0
    heartbeat_s: int = 30

    def public(self) -> dict[str, Any]:
        return {"max_frame_bytes": self.max_frame_bytes, "max_topics": self.max_topics,
                "max_sockets_per_user": self.max_sockets_per_user,
                "ops_per_s": self.ops_per_s, "ops_burst": self.ops_burst,
                "queue_soft_frames": self.soft_frames, "queue_hard_frames": self.hard_frames}


_FRAME_HEADER_SHORT = struct.Struct("!BB")
_FRAME_HEADER_16 = struct.Struct("!BBH")
_FRAME_HEADER_64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked, uncompressed websocket text frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        return _FRAME_HEADER_SHORT.pack(0x81, size) + payload
    if size < 65536:
        return _FRAME_HEADER_16.pack(0x81, 126, size) + payload
    return _FRAME_HEADER_64.pack(0x81, 127, size) + payload


def bound_send_buffer(request: web.Request, size: int) -> None:
    """Cap the kernel's send buffer of a websocket's TCP socket (see Limits.send_buffer_bytes)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


class _Out:
    """A queued frame; events keep their parsed parts so that adjacent ones can be merged."""

    __slots__ = ("frame", "event", "seq_from")

    def __init__(self, frame: str, event: Event | None = None) -> None:
        self.frame = frame
        self.event = event
        self.seq_from = 0 if event is None else event.seq

    def merge_key(self) -> tuple[str, str, str] | None:
        event = self.event
        if event is None:
            return None
        if event.name == "message.delta":
            return (event.topic, "delta", str(event.data.get("message_id")))
        if event.name == "task.progress":
            return (event.topic, "progress", str(event.data.get("task_id", event.topic)))
        return None


def _merged_frame(first: _Out, last: _Out) -> _Out:
    """Fold two adjacent frames of one key into one covering first.seq_from..last.seq."""
    event = last.event
    assert event is not None and first.event is not None
    data = dict(event.data)
    if event.name == "message.delta":
        data["offset"] = first.event.data.get("offset", 0)
        data["text"] = (first.event.data.get("text") or "") + (event.data.get("text") or "")
        if "produced_at" in first.event.data:
            data["produced_at"] = first.event.data["produced_at"]
    merged = make_event(event.topic, event.seq, event.epoch, event.name, event.ts, data, seq_from=first.seq_from)
    out = _Out(merged.frame, merged)
    out.seq_from = first.seq_from
    return out


class Connection:
    """The server side of one websocket: subscriptions, the outbound queue, its writer and its limits."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, conn_id: str, user_id: str,
                 auth_session_id: str, limits: Limits) -> None:
        self.ws = ws
        self.request = request
        self.conn_id = conn_id
        self.user_id = user_id
        self.auth_session_id = auth_session_id
        self.limits = limits
        self.subscriptions: dict[str, Any] = {}  # topic -> the listener registered on the bus
        self.last_op_id = 0
        self.closing = False
        self._queue: deque[_Out] = deque()
        self._bytes = 0
        self._idle: asyncio.Future[None] | None = None  # the parked writer's wake-up (cheaper than an Event)
        self._soft_since: float | None = None
        self._soft_timer: asyncio.TimerHandle | None = None
        self._tokens = float(limits.ops_burst)
        self._tokens_at = time.monotonic()
        self._rejections: deque[float] = deque()
        self.kick_task: asyncio.Task[None] | None = None

    # --- outbound ------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Queue a control frame (result, pong, unsubscribed...)."""
        self._push(_Out(compact_json(message)))

    def deliver(self, event: Event) -> None:
        """Bus listener: queue an event frame (never awaits)."""
        if event.topic in self.subscriptions:
            self._push(_Out(event.frame, event))

    def _push(self, item: _Out) -> None:
        if self.closing:
            return
        if self._idle is not None and self._write_now(item.frame):
            return
        self._queue.append(item)
        self._bytes += len(item.frame)
        self._wake()
        if len(self._queue) > self.limits.soft_frames or self._bytes + self._in_transport() > self.limits.soft_bytes:
            self._over_soft_limit()

    def _in_transport(self) -> int:
        """Bytes written to the socket's transport and not yet taken by the kernel."""
        transport = self.request.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def _write_now(self, frame: str) -> bool:
        """Write a frame straight to an idle socket: the writer is parked (nothing queued) and the kernel took
        everything written so far. Most frames of a stream go this way; waking the writer task for each cost
        more than the write (streaming profile: a future, a task step and aiohttp's send coroutine per frame).
        False when the frame must wait in the queue for the writer."""
        transport = self.request.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() or self.ws.closed:
            return False
        transport.write(text_frame(frame.encode()))
        return True

    def _wake(self) -> None:
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():
                idle.set_result(None)

    def queued(self) -> tuple[int, int]:
        """Frames and bytes waiting for the client: our queue and the transport's buffer."""
        return len(self._queue), self._bytes + self._in_transport()

    def _over_soft_limit(self) -> None:
        self._coalesce()
        frames, size = self.queued()
        if frames > self.limits.hard_frames or size > self.limits.hard_bytes:
            self.kick(4503, "slow consumer: too much queued", reconnect=True)
            return
        if frames <= self.limits.soft_frames and size <= self.limits.soft_bytes:
            return
        now = time.monotonic()
        if self._soft_since is None:
            self._soft_since = now
            self._soft_timer = asyncio.get_running_loop().call_later(self.limits.soft_grace_s, self._check_soft)
        elif now - self._soft_since > self.limits.soft_grace_s:
            self.kick(4503, "slow consumer: over the queue limit for too long", reconnect=True)

    def _check_soft(self) -> None:
        frames, size = self.queued()
        if frames > self.limits.soft_frames or size > self.limits.soft_bytes:
            self.kick(4503, "slow consumer: over the queue limit for too long", reconnect=True)
        else:
            self._soft_since = None

    def _coalesce(self) -> None:
        """Merge adjacent mergeable frames of the same key (no frame of that topic between them)."""
        out: list[_Out] = []
        last_of_topic: dict[str, int] = {}
        for item in self._queue:
            key = item.merge_key()
            topic = item.event.topic if item.event else None
            if key is not None and topic is not None and topic in last_of_topic:
                prev_index = last_of_topic[topic]
                prev = out[prev_index]
                if prev.merge_key() == key:
                    out[prev_index] = _merged_frame(prev, item)
                    continue
            out.append(item)
            if topic is not None:
                last_of_topic[topic] = len(out) - 1
        self._queue = deque(out)
        self._bytes = sum(len(i.frame) for i in out)

    async def writer(self) -> None:
        """Drain the queue to the socket, one frame at a time, until closing."""
        try:
            while True:
                while not self._queue:
                    if self.closing:
                        return
                    self._idle = asyncio.get_running_loop().create_future()
                    await self._idle
                item = self._queue.popleft()
                self._bytes -= len(item.frame)
                if not self._queue:
                    self._soft_since = None
                await self.ws.send_str(item.frame)
        except (ConnectionResetError, RuntimeError):
            return  # the peer went away; the reader notices and cleans up

    # --- inbound limits ---------------------------------------------------------------------
    def take_op_token(self) -> bool:
        """Spend one op from the token bucket; False when the client is over its rate."""
        now = time.monotonic()
        self._tokens = min(self.limits.ops_burst, self._tokens + (now - self._tokens_at) * self.limits.ops_per_s)
        self._tokens_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self._rejections.append(now)
        while self._rejections and self._rejections[0] < now - self.limits.abuse_window_s:
            self._rejections.popleft()
        if len(self._rejections) >= self.limits.abuse_rejections:
            self.kick(4429, "too many operations", reconnect=True)
        return False

    # --- closing -------------------------------------------------------------------------
    def kick(self, code: int, reason: str, *, reconnect: bool) -> None:
        """Send goodbye and close with `code`, from any task; later frames are dropped."""
        if self.closing:
            return
        goodbye = json.dumps({"type": "goodbye", "code": code, "reason": reason, "reconnect": reconnect})
        self.closing = True
        self._queue.clear()
        self._bytes = 0
        self._wake()
        if self._soft_timer is not None:
            self._soft_timer.cancel()
        self.kick_task = asyncio.get_running_loop().create_task(self._close(code, reason, goodbye))

    async def _close(self, code: int, reason: str, goodbye: str) -> None:
        try:
            async with asyncio.timeout(2):
                await self.ws.send_str(goodbye)
                await self.ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionResetError, RuntimeError):
            transport = self.request.transport  # a peer that does not read: drop the TCP connection,
            if transport is not None:  # without waiting to flush what it will never read
                transport.abort()

    def stop_timers(self) -> None:
        if self._soft_timer is not None:
            self._soft_timer.cancel()
