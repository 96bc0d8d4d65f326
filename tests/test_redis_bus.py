"""RedisEventBus on a real Redis: two bus instances stand for two server processes sharing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from chatsvc import keys
from chatsvc.events import Event
from tests.chatutil import new_chat
from tests.conftest import REDIS_URL, build_app, make_settings, redis_url_with
from tests.helpers import register_and_login
from tests.procutil import free_port
from tests.wsutil import WsClient

redis_asyncio = pytest.importorskip("redis.asyncio")
from chatsvc.redisbus import EventsUnavailable, RedisEventBus, RedisUnavailable, public_url, split_prefix  # noqa: E402

TOPIC = "project:p1"


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """This module's short name for conftest's `redis_prefix`."""
    return redis_prefix


@contextlib.asynccontextmanager
async def started(*urls: str, prefix: str) -> AsyncIterator[list[RedisEventBus]]:
    """Started buses (one per URL), closed at the end."""
    buses: list[RedisEventBus] = []
    try:
        for url in urls:
            bus = RedisEventBus(url, prefix=prefix)
            await bus.start()
            buses.append(bus)
        yield buses
    finally:
        for bus in buses:
            await bus.close()


class Inbox:
    """A listener that keeps what it receives for the test to await."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def __call__(self, event: Event) -> None:
        self.queue.put_nowait(event)

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        return [await asyncio.wait_for(self.queue.get(), timeout) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.3) -> None:
        await asyncio.sleep(wait)
        assert self.queue.empty(), [e.seq for e in self.queue._queue]  # type: ignore[attr-defined]


async def test_an_event_published_on_one_process_reaches_listeners_on_both_in_order(prefix):
    async with started(REDIS_URL, REDIS_URL, prefix=prefix) as (a, b):
        on_a, on_b, tapped = Inbox(), Inbox(), []
        b.add_tap(tapped.append)
        sub = await b.subscribe_async(TOPIC, on_b)
        await a.subscribe_async(TOPIC, on_a)
        assert (sub.seq, sub.recovered, sub.replay) == (0, None, ())
        for i in range(3):
            a.publish([TOPIC], "project.updated", {"i": i})
        a.publish(["task:t1", TOPIC], "task.created", {"id": "t1"})  # one event, a seq on each topic

        events = await on_b.take(4)
        assert [(e.seq, e.name, e.data) for e in events] == [
            (1, "project.updated", {"i": 0}), (2, "project.updated", {"i": 1}), (3, "project.updated", {"i": 2}),
            (4, "task.created", {"id": "t1"})]
        assert {e.epoch for e in events} == {sub.epoch}
        frame = json.loads(events[0].frame)
        assert frame | {"ts": None} == {"type": "event", "topic": TOPIC, "seq": 1, "epoch": sub.epoch,
                                        "name": "project.updated", "ts": None, "data": {"i": 0}}
        # The publisher's own listeners get its events the same way, through Redis.
        assert [e.seq for e in await on_a.take(4)] == [1, 2, 3, 4]
        assert [(e.topic, e.seq) for e in tapped] == [(TOPIC, 1), (TOPIC, 2), (TOPIC, 3), ("task:t1", 1),
                                                      (TOPIC, 4)]
        assert a.position(TOPIC) == b.position(TOPIC) == await b.fetch_position(TOPIC) == (sub.epoch, 4)
        assert await a.fetch_position("task:t1") == b.position("task:t1")
        assert (a.published_total, b.published_total, a.subscriber_count()) == (5, 0, 1)
        await on_b.nothing_more()


async def test_resume_replays_exactly_the_missed_events_before_live_ones(prefix):
    async with started(REDIS_URL, REDIS_URL, prefix=prefix) as (a, b):
        on_a, first = Inbox(), Inbox()
        await a.subscribe_async(TOPIC, on_a)
        sub = await b.subscribe_async(TOPIC, first)
        a.publish([TOPIC], "seen", {"n": 1})
        assert [e.seq for e in await first.take(1)] == [1]
        b.unsubscribe(TOPIC, first)  # the websocket went away
        for n in (2, 3, 4):
            a.publish([TOPIC], "missed", {"n": n})
        await on_a.take(4)  # all of them are in Redis now

        again = Inbox()
        resumed = await b.subscribe_async(TOPIC, again, since=(sub.epoch, 1))
        assert (resumed.epoch, resumed.seq, resumed.recovered) == (sub.epoch, 4, True)
        assert [(e.seq, e.name, e.data["n"]) for e in resumed.replay] == [(2, "missed", 2), (3, "missed", 3),
                                                                          (4, "missed", 4)]
        a.publish([TOPIC], "live", {"n": 5})
        assert [(e.seq, e.name) for e in await again.take(1)] == [(5, "live")]
        await again.nothing_more()
        await first.nothing_more()


async def test_live_events_read_during_a_resume_wait_until_the_replay_is_out(prefix):
    async with started(REDIS_URL, REDIS_URL, prefix=prefix) as (a, b):
        epoch, _ = await a.fetch_position(TOPIC)
        a.publish([TOPIC], "missed", {})
        tapped: asyncio.Queue[Event] = asyncio.Queue()
        b.add_tap(tapped.put_nowait)
        assert (await tapped.get()).name == "missed"
        real_read = b._read

        async def read_then_let_an_event_through(topic: str, since: Any) -> Any:
            position = await real_read(topic, since)
            a.publish([TOPIC], "live", {})  # after the position was read ...
            while (await tapped.get()).name != "live":  # ... and dispatched by b while the replay is pending
                pass
            return position

        b._read = read_then_let_an_event_through  # type: ignore[method-assign]
        got: list[Event] = []
        sub = await b.subscribe_async(TOPIC, got.append, since=(epoch, 0))
        assert sub.recovered is True and [e.name for e in sub.replay] == ["missed"]
        assert got == []  # held back: the caller queues its result and the replay first
        await asyncio.sleep(0)
        assert [(e.seq, e.name) for e in got] == [(2, "live")]


async def test_events_racing_a_resume_arrive_exactly_once_in_order(prefix):
    async with started(REDIS_URL, REDIS_URL, prefix=prefix) as (a, b):
        epoch, _ = await a.fetch_position(TOPIC)
        for n in range(300):  # still on their way to Redis and to b's reader while b resumes
            a.publish([TOPIC], "e", {"n": n})
        live = Inbox()
        sub = await b.subscribe_async(TOPIC, live, since=(epoch, 0))
        for n in range(300, 400):
            a.publish([TOPIC], "e", {"n": n})
        assert sub.recovered is True
        rest = await live.take(400 - len(sub.replay))
        assert [e.seq for e in sub.replay + tuple(rest)] == list(range(1, 401))
        assert [e.data["n"] for e in rest] == list(range(len(sub.replay), 400))
        await live.nothing_more()


async def test_a_resume_is_all_or_nothing(prefix):
    async with started(REDIS_URL, prefix=prefix) as (bus,):
        raw = redis_asyncio.Redis.from_url(REDIS_URL)
        try:
            inbox = Inbox()
            sub = await bus.subscribe_async(TOPIC, inbox)
            for n in range(3):
                bus.publish([TOPIC], "e", {"n": n})
            await inbox.take(3)
            epoch = sub.epoch

            async def resume(since: tuple[str, int]) -> tuple[bool | None, list[int]]:
                result = await bus.subscribe_async(TOPIC, Inbox(), since=since)
                return result.recovered, [e.seq for e in result.replay]

            assert await resume(("another-epoch", 1)) == (False, [])
            assert await resume((epoch, 4)) == (False, [])  # ahead of the topic
            assert await resume((epoch, 2 ** 62)) == (False, [])
            assert await resume((epoch, 3)) == (True, [])  # nothing missed
            assert await resume((epoch, 1)) == (True, [2, 3])
            await raw.delete(f"{prefix}history:{TOPIC}")  # the history expired (idle topic)
            assert await resume((epoch, 1)) == (False, [])
            assert await resume((epoch, 3)) == (True, [])

            await raw.delete(f"{prefix}topic:{TOPIC}")  # Redis lost the topic: a new epoch, seq from 1
            bus.publish([TOPIC], "after.loss", {})
            event = (await inbox.take(1))[0]
            assert (event.seq, event.name) == (1, "after.loss") and event.epoch != epoch
            assert await resume((epoch, 3)) == (False, [])
        finally:
            await raw.aclose()


async def blocked_in_xread(prefix: str) -> None:
    """Wait until a bus's reader with this key prefix is blocked in XREAD on the server."""
    raw = redis_asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with asyncio.timeout(5):
            while not any(c.get("name", "").startswith(f"{prefix}reader:") and c.get("cmd") == "xread"
                          and "b" in c.get("flags", "") for c in await raw.client_list()):
                await asyncio.sleep(0.01)
    finally:
        await raw.aclose()


async def test_close_returns_promptly_while_a_blocking_read_is_pending(prefix):
    bus = RedisEventBus(REDIS_URL, prefix=prefix)
    await bus.start()
    await blocked_in_xread(prefix)  # XREAD BLOCK 5000 in flight
    began = time.perf_counter()
    async with asyncio.timeout(4):
        await bus.close()
    assert time.perf_counter() - began < 2.5
    assert all(task.done() for task in bus._tasks)


async def test_close_returns_promptly_when_the_read_ignores_its_cancellation(prefix):
    # Python 3.11's asyncio.wait_for (inside redis-py) can swallow a cancel that lands as a command's write
    # finishes: the reader then carries on into another XREAD BLOCK. Here every cancel is lost, so close()
    # can only end the read by closing the socket under it.
    bus = RedisEventBus(REDIS_URL, prefix=prefix)
    real_xread = bus._reader.xread
    swallowed = []

    async def xread_deaf_to_cancel(*args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                return await real_xread(*args, **kwargs)
            except asyncio.CancelledError:
                swallowed.append(True)

    bus._reader.xread = xread_deaf_to_cancel  # type: ignore[method-assign]
    await bus.start()
    await blocked_in_xread(prefix)
    began = time.perf_counter()
    async with asyncio.timeout(6):
        await bus.close()
    assert swallowed and time.perf_counter() - began < 3.5
    assert all(task.done() for task in bus._tasks)


async def test_close_is_bounded_when_redis_is_gone_with_events_queued(prefix):
    target = urlsplit(REDIS_URL)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    bus = RedisEventBus(f"redis://127.0.0.1:{proxy.port}{target.path}", prefix=prefix)
    bus.drain_s = 0.5
    await bus.start()
    await proxy.stop()
    bus.publish([TOPIC], "never.sent", {})
    began = time.perf_counter()
    async with asyncio.timeout(6):
        await bus.close()
    assert time.perf_counter() - began < 4 and bus.pending_count() == 1
    assert all(task.done() for task in bus._tasks)


async def all_sent(bus: RedisEventBus) -> None:
    async with asyncio.timeout(5):
        while bus.pending_count():
            await asyncio.sleep(0.01)


class TcpProxy:
    """A TCP relay to Redis that the test can cut and restore, as a network failure would."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_publish_never_blocks_or_raises_while_redis_is_away_and_sends_later(prefix):
    target = urlsplit(REDIS_URL)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    via_proxy = f"redis://127.0.0.1:{proxy.port}{target.path}"
    async with started(via_proxy, REDIS_URL, prefix=prefix) as (a, b):
        a.retry_max_s = 0.2
        inbox = Inbox()
        await b.subscribe_async(TOPIC, inbox)
        a.publish([TOPIC], "before", {})
        assert [e.name for e in await inbox.take(1)] == ["before"]
        await all_sent(a)  # b may see an event before a has read Redis's reply

        await proxy.stop()

        def handler_after_commit() -> None:  # what a request handler does: a sync call after its commit
            for n in range(3):
                a.publish([TOPIC], "while.away", {"n": n})

        began = time.perf_counter()
        handler_after_commit()
        assert time.perf_counter() - began < 0.05
        await inbox.nothing_more(0.5)
        assert a.pending_count() == 3
        with pytest.raises(EventsUnavailable):  # a websocket's subscribe gets a retryable error
            await a.subscribe_async(TOPIC, Inbox())
        assert a.subscriber_count() == 0

        await proxy.start()
        events = await inbox.take(3)
        assert [(e.seq, e.data["n"]) for e in events] == [(2, 0), (3, 1), (4, 2)]
        await inbox.nothing_more()  # resent batches are not applied twice
        await all_sent(a)
        assert a.dropped_total == 0
    await proxy.stop()
    a.publish([TOPIC], "after.close", {})  # dropped with a log line, never raised
    assert a.dropped_total == 1


async def test_start_up_fails_with_a_clear_message_when_redis_is_unreachable():
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable) as failure:
        await RedisEventBus(url).start()
    message = str(failure.value)
    assert "is not reachable" in message and "CHATSVC_REDIS_URL" in message
    assert "hunter2" not in message and public_url(url) in message


def test_the_key_prefix_rides_in_the_url():
    assert split_prefix("redis://h:6379/2?prefix=app1:&socket_timeout=3") == ("redis://h:6379/2?socket_timeout=3",
                                                                              "app1:")
    assert split_prefix("redis://h:6379/0") == ("redis://h:6379/0", "chatsvc:")


async def redis_app(aiohttp_client: Any, tmp_path: Any, prefix: str) -> Any:
    """A test client of the real app with CHATSVC_REDIS_URL set."""
    settings = make_settings(tmp_path, redis_url=redis_url_with(prefix))
    client = await aiohttp_client(await build_app(settings))
    assert isinstance(client.app[keys.EVENTS], RedisEventBus)
    return client


async def test_the_app_resumes_a_websocket_through_the_redis_bus(prefix, aiohttp_client, tmp_path):
    client = await redis_app(aiohttp_client, tmp_path, prefix)
    owner = await register_and_login(client)
    project = (await owner.post("/projects", {"name": "on redis"})).body
    topic = f"project:{project['id']}"
    ws = await WsClient.connect(client, owner)
    sub = await ws.op("subscribe", topic=topic)
    await owner.patch(f"/projects/{project['id']}", {"name": "seen"})
    # project.created may come first: publishing is asynchronous, so it can reach Redis after the subscribe.
    seen = await ws.recv_until(lambda f: f.get("name") == "project.updated")
    assert seen["seq"] > sub["data"]["seq"] and seen["epoch"] == sub["data"]["epoch"]
    await ws.close()

    for name in ("missed 1", "missed 2"):
        await owner.patch(f"/projects/{project['id']}", {"name": name})
    await all_sent(client.app[keys.EVENTS])  # publishing is asynchronous: both must be in Redis to be replayed
    ws = await WsClient.connect(client, owner)
    resumed = await ws.op("subscribe", topic=topic, since={"epoch": seen["epoch"], "seq": seen["seq"]})
    assert resumed["data"]["recovered"] is True and resumed["data"]["replayed"] == 2
    replay = await ws.events(2)
    assert [e["data"]["resource"]["name"] for e in replay] == ["missed 1", "missed 2"]
    await owner.patch(f"/projects/{project['id']}", {"name": "live"})
    live = (await ws.events(1))[0]
    assert live["seq"] == seen["seq"] + 3 and live["data"]["resource"]["name"] == "live"
    await ws.nothing_more()
    await ws.close()


async def test_the_app_streams_a_reply_as_sse_through_the_redis_bus(prefix, aiohttp_client, tmp_path):
    client = await redis_app(aiohttp_client, tmp_path, prefix)
    user = await register_and_login(client)
    chat = await new_chat(user)
    headers = {**user.headers, "Accept": "text/event-stream"}
    async with client.post(f"/api/v1/chat/sessions/{chat['id']}/messages", json={"content": "hello"},
                           headers=headers) as resp:
        assert resp.status == 200
        body = (await resp.read()).decode()
    events = [(block.split("\n")[0][len("event: "):], json.loads(block.split("\n")[1][len("data: "):]))
              for block in body.split("\n\n") if block.startswith("event: ")]
    names = [name for name, _ in events]
    assert names[0] == "message" and "delta" in names and names[-1] == "done"
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert events[-1][1]["content"] == text != ""
