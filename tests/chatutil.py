"""Helpers for chat-run tests: open a chat, send over the websocket, collect a run's events."""

from __future__ import annotations

import itertools
from typing import Any

from tests.helpers import User
from tests.wsutil import WsClient

_ids = itertools.count(1)
ENDINGS = ("message.completed", "run.failed", "run.cancelled")


async def new_chat(user: User, project_id: str | None = None, title: str = "Chat") -> dict[str, Any]:
    body: dict[str, Any] = {"title": title}
    if project_id:
        body["project_id"] = project_id
    r = await user.post("/chat/sessions", body)
    assert r.status == 201, r.body
    return r.body


async def send(ws: WsClient, chat_id: str, content: str, client_msg_id: str | None = None,
               if_busy: str = "reject") -> dict[str, Any]:
    return await ws.op("chat.send", session_id=chat_id, content=content,
                       client_msg_id=client_msg_id or f"m{next(_ids)}", if_busy=if_busy)


def of_run(frame: dict[str, Any], run_id: str) -> bool:
    data = frame.get("data") or {}
    return frame["type"] == "event" and (data.get("run_id") == run_id
                                         or (data.get("resource") or {}).get("run_id") == run_id)


async def run_events(ws: WsClient, run_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Collect the events of one run until it ends; other frames stay queued for later reads."""
    out: list[dict[str, Any]] = []
    while True:
        frame = await ws.recv_until(lambda f: of_run(f, run_id), timeout)
        out.append(frame)
        if frame["name"] in ENDINGS:
            return out


def streamed_text(events: list[dict[str, Any]]) -> str:
    """Rebuild the reply from message.delta events, checking offsets are contiguous."""
    text = ""
    for event in events:
        if event["name"] != "message.delta":
            continue
        data = event["data"]
        if data.get("snapshot"):
            text = data["text"]
            continue
        assert data["offset"] == len(text), (data["offset"], len(text))
        text += data["text"]
    return text


async def streaming_reply(client: Any, content: str = "help") -> tuple[User, dict[str, Any], WsClient, dict[str, Any]]:
    """Register a user, open a personal chat on a subscribed socket, send `content` and wait until the reply
    has started streaming; return (user, chat, socket, chat.send result data)."""
    from tests.helpers import register_and_login

    user = await register_and_login(client)
    chat = await new_chat(user)
    ws = await WsClient.connect(client, user)
    await ws.op("subscribe", topic=f"chat:{chat['id']}")
    sent = await send(ws, chat["id"], content)
    run_id = sent["data"]["run_id"]
    await ws.recv_until(lambda f: f.get("name") == "message.delta" and f["data"]["run_id"] == run_id)
    return user, chat, ws, sent["data"]
