"""The streaming hot path: message.delta JSON, the shared delta clock, batched checkpoints, and what clients
see of many replies streaming at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chatsvc.deltas import DeltaClock, delta_head, delta_payload
from chatsvc.events import event_payload
from storage import chats, checkpoints, users
from storage.db import Database
from tests.chatutil import ENDINGS, new_chat, send
from tests.conftest import build_app, make_settings
from tests.helpers import register_and_login
from tests.wsutil import WsClient

TRICKY = ["word ", 'a "quoted" \\ back\\slash', "ünïcødé 😀 \u2028\u2029", "\x00\x1f\t\n\r", "", "</script>"]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("produced_at", [None, "2026-12-04T20:06:05.123Z"])
def test_delta_json_is_what_the_generic_encoder_makes(text: str, produced_at: str | None):
    data: dict[str, Any] = {"message_id": "m-1", "run_id": 'r"2', "offset": 17, "text": text}
    if produced_at is not None:
        data["produced_at"] = produced_at
    payload = delta_payload(delta_head("m-1", 'r"2'), 17, text, produced_at)
    assert payload == event_payload(data)
    assert json.loads(payload) == data


class FakeRun:
    """Records when the clock flushed it."""

    def __init__(self, clock: DeltaClock) -> None:
        self.clock = clock
        self.flush_slot: int | None = None
        self.flushes: list[float] = []

    def flush(self) -> None:
        self.flush_slot = None
        self.flushes.append(asyncio.get_running_loop().time())


async def test_delta_clock_flushes_each_booking_once_and_never_before_the_spacing():
    loop = asyncio.get_running_loop()
    clock = DeltaClock(tick_s=0.005)
    runs = [FakeRun(clock) for _ in range(40)]
    booked_at: dict[int, tuple[float, float]] = {}
    for i, run in enumerate(runs):
        spacing = (i % 7) * 0.004
        booked_at[i] = (loop.time(), spacing)
        clock.book(run, window=0.03 - (i % 5) * 0.01, spacing=spacing)  # some windows already over
    early = runs[0]
    early.flush()  # flushed by size before its tick: the stale booking must not flush it again
    again = runs[1]
    clock.book(again, window=0.0, spacing=0.02)  # booked again before its first booking came due
    for _ in range(500):  # every booking is due within 50 ms; give up (and fail below) after 5 s
        if not any(r.flush_slot is not None for r in runs):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.03)  # stale bookings come due too: they must flush nothing
    assert len(early.flushes) == 1
    assert len(again.flushes) == 1
    for i, run in enumerate(runs[2:], start=2):
        assert len(run.flushes) == 1, i
        start, spacing = booked_at[i]
        assert run.flushes[0] >= start + spacing
    clock.stop()


async def test_a_checkpoint_writes_only_replies_still_streaming(db: Database):
    async with db.write() as s:
        user = await users.create(s, email="a@example.com", username="a", password_hash="x")
        chat = await chats.create_session(s, owner_id=user.id)
        streaming = await chats.add_message(s, chat.id, "assistant", "", None, status="streaming")
        done = await chats.add_message(s, chat.id, "assistant", "final", None, status="complete")
        ids = (streaming.id, done.id)
        before = {m.id: (m.version, m.updated_at) for m in (streaming, done)}
    async with db.write() as s:
        await checkpoints.save_streaming_texts(s, [(ids[0], "so far ünï"), (ids[1], "overwritten?")])
    async with db.read() as s:
        first, second = [await chats.get_message(s, mid) for mid in ids]
    assert first is not None and second is not None
    assert (first.content, first.status, first.version) == ("so far ünï", "streaming", before[ids[0]][0] + 1)
    assert first.updated_at >= before[ids[0]][1] and first.updated_at.tzinfo is not None
    assert (second.content, second.version) == ("final", before[ids[1]][0])


async def test_many_replies_streaming_at_once_arrive_whole_and_in_order(aiohttp_client, tmp_path):
    """Twelve runs stream at once (their deltas share the clock's ticks); one socket watches every chat and
    each chat's own socket watches it: per topic, seqs follow each other, offsets are contiguous, and the
    deltas add up to the completed message."""
    client = await aiohttp_client(await build_app(make_settings(tmp_path, offline_tokens_per_s=150.0,
                                                                max_runs_per_user=64)))  # a load test
    user = await register_and_login(client)
    chat_ids = [(await new_chat(user, title=f"c{i}"))["id"] for i in range(12)]
    watcher = await WsClient.connect(client, user)
    own = {}
    for chat_id in chat_ids:
        assert (await watcher.op("subscribe", topic=f"chat:{chat_id}"))["ok"]
        own[chat_id] = await WsClient.connect(client, user)
        assert (await own[chat_id].op("subscribe", topic=f"chat:{chat_id}"))["ok"]
    runs = {}
    for chat_id in chat_ids:
        sent = await send(own[chat_id], chat_id, "help")
        assert sent["ok"], sent
        runs[chat_id] = sent["data"]["run_id"]

    async def until_all_end(ws: WsClient, topics: set[str]) -> list[dict[str, Any]]:
        frames, ended = [], set()
        while ended != topics:
            frame = await ws.recv(20)
            if frame["type"] == "event":
                frames.append(frame)
                if frame["name"] in ENDINGS:
                    ended.add(frame["topic"])
        return frames

    watched = await until_all_end(watcher, {f"chat:{c}" for c in chat_ids})
    for chat_id in chat_ids:
        alone = await until_all_end(own[chat_id], {f"chat:{chat_id}"})
        for frames in (alone, [f for f in watched if f["topic"] == f"chat:{chat_id}"]):
            seq = frames[0].get("seq_from", frames[0]["seq"]) - 1
            text = ""
            for frame in frames:
                assert frame.get("seq_from", frame["seq"]) == seq + 1, frame
                seq = frame["seq"]
                if frame["name"] == "message.delta":
                    data = frame["data"]
                    assert data["run_id"] == runs[chat_id] and data["offset"] == len(text), (data, len(text))
                    text += data["text"]
            assert frames[-1]["name"] == "message.completed"
            assert frames[-1]["data"]["message"]["content"] == text and "offline model" in text
    for ws in (watcher, *own.values()):
        await ws.close()
