"""Stream one chat run as Server-Sent Events: message, delta, tool, done, error (DESIGN §6).

The listener is registered on the chat topic before the message is sent, so no event of the run can
be missed; a client that goes away only stops the stream, never the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chatsvc.events import Event, EventBus, chat_topic

KEEPALIVE_S = 15.0
ENDINGS = ("message.completed", "run.cancelled", "run.failed")


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


async def stream_run(request: web.Request, bus: EventBus, chat_id: str,
                     start: Callable[[], Awaitable[Any]],
                     snapshot: Callable[[str, tuple[str, int]], list[Event]]) -> web.StreamResponse:
    """Send the message (via `start`), then relay its run's events as SSE until the run ends."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    topic = chat_topic(chat_id)
    bus.subscribe(topic, queue.put_nowait)
    try:
        result = await start()  # may raise DomainError: answered as JSON, nothing streamed yet
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
            "X-Content-Type-Options": "nosniff",
        })
        await response.prepare(request)
        await response.write(sse("message", result.user_message))
        reply = result.assistant_message
        if not result.created and reply.get("status") != "streaming":
            await response.write(sse("done", reply))  # an idempotent retry of a finished exchange
            return response
        if not result.created:
            for event in snapshot(topic, bus.position(topic)):  # SSE has no seq: any position
                if event.data.get("run_id") == result.run_id:
                    await response.write(sse("delta", _delta(event.data)))
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):  # not wait_for: on 3.11 it can swallow a cancel
                    event = await queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event.data.get("run_id") != result.run_id:
                continue
            if event.name == "message.delta":
                await response.write(sse("delta", _delta(event.data)))
            elif event.name == "tool.call":
                await response.write(sse("tool", {"name": event.data["name"], "args": event.data["args"]}))
            elif event.name == "tool.result":
                await response.write(sse("tool", {"name": event.data["name"], "result": event.data["result"]}))
            elif event.name in ("message.completed", "run.cancelled"):
                await response.write(sse("done", event.data["message"]))
                break
            elif event.name == "run.failed":
                await response.write(sse("error", {"error": {"code": "run_failed", "message": event.data["error"],
                                                             "details": [{"message": event.data["message"]}]}}))
                break
        return response
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    finally:
        bus.unsubscribe(topic, queue.put_nowait)


def _delta(data: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": data["message_id"], "offset": data["offset"], "text": data["text"]}
