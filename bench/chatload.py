"""The chat load generator: N chats kept streaming back to back, in a process of its own.

Each chat has its own websocket (like one browser tab per chat), subscribes to `chat:{id}`, sends a
message, reads the reply's deltas until the run ends, and sends the next one. It checks what a client
would notice: every event `seq` follows the previous one (no lost event), every delta's `offset` is the
length received so far, and the streamed text equals the completed message. While measuring it records,
per delta frame, when it arrived (time.time(), the same clock the server uses) beside the frame's `ts`
(publish time) and `produced_at` (when the model produced the frame's oldest token); and for every reply of
the load, the first ones included, the time from sending its message (the first attempt, when a busy chat
refused it) to its first delta.

The parent drives it over a pipe: the child says `streaming` once every chat has received a delta, then
obeys `measure` (start recording) and `stop` (cancel the active runs, wait for their end, report).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.client import WORD_RE_PATTERN, User, Ws, client_session, parse_iso
from bench.common import raise_nofile

ENDINGS = ("message.completed", "run.failed", "run.cancelled")
LOAD_ID = f"load-{os.getpid()}-{int(time.time() * 1000)}"  # client_msg_id must differ between loads of one chat
WORD_RE = re.compile(WORD_RE_PATTERN)


@dataclass
class Totals:
    runs_completed: int = 0
    runs_cancelled: int = 0
    runs_failed: int = 0
    deltas: int = 0
    chars: int = 0
    lost_events: int = 0
    offset_errors: int = 0
    text_mismatches: int = 0
    errors: list[str] = field(default_factory=list)
    records: list[tuple[float, str, str | None, str]] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)  # seconds from sending to the reply's first delta


class ChatStream:
    """One chat kept busy with back-to-back runs over its own websocket."""

    def __init__(self, ws: Ws, chat_id: str, prompt: str, totals: Totals, state: LoadState) -> None:
        self.ws = ws
        self.chat_id = chat_id
        self.topic = f"chat:{chat_id}"
        self.prompt = prompt
        self.totals = totals
        self.state = state
        self.last_seq = 0
        self.sent = 0
        self.send_id = 0
        self.run_id: str | None = None
        self.text = ""
        self.asked_at: float | None = None  # when the message waiting for its first delta was first sent
        self.streaming = asyncio.Event()
        self.stopping = False
        self.done = False

    async def subscribe(self) -> None:
        data = await self.ws.op("subscribe", topic=self.topic)
        self.last_seq = data["seq"]

    async def _send_op(self, op: str, **params: Any) -> int:
        self.ws.next_id += 1
        await self.ws.ws.send_str(json.dumps({"id": self.ws.next_id, "op": op, **params}))
        return self.ws.next_id

    async def _send_next(self) -> None:
        self.sent += 1
        self.run_id = None
        self.text = ""
        if self.asked_at is None:
            self.asked_at = time.time()
        self.send_id = await self._send_op("chat.send", session_id=self.chat_id, content=self.prompt,
                                           client_msg_id=f"{LOAD_ID}-{self.sent}")

    async def stop(self) -> None:
        """Stop after the current run: cancel it now (the run then ends with run.cancelled)."""
        self.stopping = True
        if self.done:
            return
        if self.run_id is not None:
            await self._send_op("chat.cancel", session_id=self.chat_id)

    async def run(self, stagger_s: float = 0.0) -> None:
        totals = self.totals
        try:
            # Chats that all start together finish together; spread them so the load is steady.
            await asyncio.sleep(random.uniform(0, stagger_s))
            await self._send_next()
            async for msg in self.ws.ws:
                now = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                kind = frame["type"]
                if kind == "result":
                    if frame["id"] != self.send_id:
                        continue
                    if not frame["ok"]:
                        code = frame["error"]["code"]
                        if code in ("run_active", "rate_limited"):
                            await asyncio.sleep(0.05)
                            await self._send_next()
                            continue
                        raise RuntimeError(f"chat.send failed: {frame['error']}")
                    if not frame["data"].get("created", True):
                        raise RuntimeError("chat.send answered an earlier message (client_msg_id reused)")
                    self.run_id = frame["data"]["run_id"]
                    if self.stopping:
                        await self._send_op("chat.cancel", session_id=self.chat_id)
                    continue
                if kind != "event":
                    if kind == "goodbye":
                        raise RuntimeError(f"server said goodbye: {frame}")
                    continue
                seq = frame["seq"]
                if seq != self.last_seq + 1 and not frame.get("seq_from", seq) <= self.last_seq + 1:
                    totals.lost_events += seq - self.last_seq - 1
                self.last_seq = max(self.last_seq, seq)
                name = frame["name"]
                data = frame["data"]
                if name == "message.delta":
                    if data["run_id"] != self.run_id and self.run_id is not None:
                        continue
                    if data.get("snapshot"):
                        self.text = data["text"]
                    else:
                        if data["offset"] != len(self.text):
                            totals.offset_errors += 1
                        self.text += data["text"]
                    totals.deltas += 1
                    totals.chars += len(data["text"])
                    if self.state.measuring:
                        totals.records.append((now, frame["ts"], data.get("produced_at"), data["text"]))
                    if self.asked_at is not None:  # every reply's, the first ones' (all starting at once) too
                        totals.first_token.append(now - self.asked_at)
                        self.asked_at = None
                    self.streaming.set()
                elif name in ENDINGS and data.get("run_id") == self.run_id:
                    if name == "message.completed":
                        totals.runs_completed += 1
                        if data["message"]["content"] != self.text:
                            totals.text_mismatches += 1
                    elif name == "run.cancelled":
                        totals.runs_cancelled += 1
                    else:
                        totals.runs_failed += 1
                        totals.errors.append(f"run failed: {data.get('error')}")
                    if self.stopping:
                        break
                    await self._send_next()
        except Exception as exc:
            totals.errors.append(f"{self.chat_id}: {type(exc).__name__}: {exc}")
            self.streaming.set()
        finally:
            self.done = True


@dataclass
class LoadState:
    measuring: bool = False
    measure_from: float = 0.0
    measure_to: float = 0.0


def child_main(pipe: Connection, base: str, users: list[tuple[str, str, str]], chats: list[tuple[int, str]],
               prompt: str, stagger_s: float) -> None:
    """Process entry point: `chats` pairs a user index with a chat id."""
    raise_nofile()
    try:
        asyncio.run(_main(pipe, base, [User(*u) for u in users], chats, prompt, stagger_s))
    except KeyboardInterrupt:
        pass


async def _main(pipe: Connection, base: str, users: list[User], chats: list[tuple[int, str]], prompt: str,
                stagger_s: float) -> None:
    loop = asyncio.get_running_loop()
    totals = Totals()
    state = LoadState()
    cpu0, wall0 = time.process_time(), time.time()
    async with client_session() as session:
        streams: list[ChatStream] = []
        for user_index, chat_id in chats:
            ws = await Ws.open(session, base, users[user_index])
            stream = ChatStream(ws, chat_id, prompt, totals, state)
            await stream.subscribe()
            streams.append(stream)
        tasks = [loop.create_task(s.run(stagger_s)) for s in streams]
        try:
            await asyncio.wait_for(asyncio.gather(*(s.streaming.wait() for s in streams)), 120)
        except TimeoutError:
            totals.errors.append("not every chat started streaming within 120 s")
        pipe.send({"t": "streaming", "at": time.time(), "errors": list(totals.errors)})
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "measure":
                gc.collect()
                gc.freeze()
                gc.disable()  # the load generator's own GC pauses are not the server's latency
                state.measuring, state.measure_from = True, time.time()
                cpu0, wall0 = time.process_time(), time.time()
                totals.deltas = totals.chars = 0
                totals.runs_completed = 0
            elif command == "stop":
                break
        state.measuring, state.measure_to = False, time.time()
        gc.enable()
        cpu = time.process_time() - cpu0
        wall = time.time() - wall0
        measured = {"deltas": totals.deltas, "chars": totals.chars, "runs_completed": totals.runs_completed}
        await asyncio.gather(*(s.stop() for s in streams), return_exceptions=True)
        _done, pending = await asyncio.wait(tasks, timeout=30)
        for task in pending:
            task.cancel()
        if pending:
            totals.errors.append(f"{len(pending)} runs did not end within 30 s of their cancel")
        await asyncio.gather(*(s.ws.close() for s in streams), return_exceptions=True)
    pipe.send({"t": "report", "report": report(totals, state, measured, cpu, wall)})


def report(totals: Totals, state: LoadState, measured: dict[str, int], cpu: float, wall: float) -> dict[str, Any]:
    """Per-frame latencies and token counts of the measured window, plus the correctness counters."""
    produced_to_recv: list[float] = []
    produced_to_publish: list[float] = []
    publish_to_recv: list[float] = []
    tokens_per_frame: list[int] = []
    for recv, ts, produced, text in totals.records:
        published = parse_iso(ts)
        publish_to_recv.append(recv - published)
        tokens_per_frame.append(len(WORD_RE.findall(text)))
        if produced is not None:
            made = parse_iso(produced)
            produced_to_recv.append(recv - made)
            produced_to_publish.append(published - made)
    return {
        "window_s": max(0.0, state.measure_to - state.measure_from),
        "frames": len(totals.records),
        "tokens": sum(tokens_per_frame),
        "tokens_per_frame": tokens_per_frame,
        "produced_to_recv": produced_to_recv,
        "produced_to_publish": produced_to_publish,
        "publish_to_recv": publish_to_recv,
        "first_token": totals.first_token,
        "measured": measured,
        "runs_completed": totals.runs_completed,
        "runs_cancelled": totals.runs_cancelled,
        "runs_failed": totals.runs_failed,
        "lost_events": totals.lost_events,
        "offset_errors": totals.offset_errors,
        "text_mismatches": totals.text_mismatches,
        "errors": totals.errors[:20],
        "client_cpu": cpu / wall if wall > 0 else 0.0,
    }


class ChatLoad:
    """The parent's handle on a chat load process."""

    def __init__(self, base: str, users: list[User], chats: list[tuple[int, str]], prompt: str,
                 stagger_s: float = 2.0) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pipe, child_pipe = ctx.Pipe()
        self.process = ctx.Process(target=child_main, name="bench-chatload", daemon=True, args=(
            child_pipe, base, [(u.id, u.username, u.token) for u in users], chats, prompt, stagger_s))
        self.process.start()
        child_pipe.close()

    async def _recv(self, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.pipe.poll, timeout)
        if not ready:
            raise TimeoutError("the chat load process did not answer in time")
        return self.pipe.recv()

    async def streaming(self, timeout: float = 150) -> dict[str, Any]:
        """Wait until every chat is streaming."""
        return await self._recv(timeout)

    def measure(self) -> None:
        self.pipe.send("measure")

    async def stop(self, timeout: float = 90) -> dict[str, Any]:
        """Stop the load (active runs are cancelled) and return its report."""
        try:
            self.pipe.send("stop")
            message = await self._recv(timeout)
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 10)
            return message["report"]
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()


@dataclass
class ChatWorld:
    """A project with a requirements document and chats in it, spread over a few editors."""

    owner: User
    users: list[User]
    project_id: str
    chats: list[tuple[int, str]]  # (user index, chat id)


async def make_chats(api: Any, count: int, requirements: int, editors: int = 4) -> ChatWorld:
    """Create the project, its document and `count` project chats (each owned by one of the users)."""
    owner = await api.user("owner")
    project = await api.project(owner)
    await api.document(owner, project["id"], requirements)
    users = [owner]
    for _ in range(editors - 1):
        user = await api.user("editor")
        await api.add_member(owner, project["id"], user, "editor")
        users.append(user)
    chats = []
    for i in range(count):
        index = i % len(users)
        chat = await api.chat(users[index], project["id"], f"Bench chat {i}")
        chats.append((index, chat["id"]))
    return ChatWorld(owner, users, project["id"], chats)


async def one_run(session: aiohttp.ClientSession, base: str, user: User, chat_id: str,
                  prompt: str, timeout: float = 120) -> dict[str, float]:
    """Send one message and wait for the reply; return seconds to the first delta and to the end."""
    ws = await Ws.open(session, base, user)
    try:
        await ws.op("subscribe", topic=f"chat:{chat_id}")
        t0 = time.perf_counter()
        sent = await ws.op("chat.send", session_id=chat_id, content=prompt, client_msg_id=f"one-{time.time()}")
        run_id = sent["run_id"]
        first = float("nan")
        while True:
            frame = await ws.recv(timeout)
            if frame.get("type") != "event" or frame["data"].get("run_id") != run_id:
                continue
            if frame["name"] == "message.delta" and math.isnan(first):
                first = time.perf_counter() - t0
            if frame["name"] in ENDINGS:
                if frame["name"] != "message.completed":
                    raise RuntimeError(f"the run ended with {frame['name']}: {frame['data']}")
                return {"first_delta_s": first, "total_s": time.perf_counter() - t0}
    finally:
        await ws.close()
