"""The event bus for several server processes (DESIGN §11): Redis Streams carry every event to every process.

`publish()` stays synchronous for its callers: it only queues the event. One sender task runs a Lua script
per event that assigns the topic's `seq` (creating its `epoch` once, so all processes agree; a topic whose
state Redis lost gets a new epoch), appends the event to the topic's history stream (entry id = seq, so a
resume is one XRANGE) and to one fan-out stream. One reader task per process follows the fan-out stream
and calls local listeners and taps in stream order — events this process published too, so every
process sees one order.

A resume needs an await (reading the history), so `subscribe_async()` registers the listener in a
buffering state first, reads position and history in one script, and lets through only live events after
that position, from the next loop iteration on: after the caller has queued its result and the replay.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from chatsvc.errors import Unavailable
from chatsvc.events import (
    DELTA,
    RING_EVENTS,
    RING_SECONDS,
    Event,
    Listener,
    PublishHook,
    Subscription,
    event_payload,
    make_event,
    run_publish_hooks,
)
from chatsvc.shutdown import stop_tasks

log = logging.getLogger("chatsvc.redisbus")

FANOUT_EVENTS = 10_000  # a process further behind than this misses events (its clients see a seq gap)
STATE_TTL_S = 24 * 3600  # a topic's epoch and seq outlive its history, so idle clients resume cheaply
BATCH = 200  # events per pipeline round trip
MAX_PENDING = 100_000  # events queued while Redis is unreachable; later ones are dropped (and logged)
READ_BLOCK_MS = 5000
READ_COUNT = 200  # entries dispatched per loop callback: keeps each well under the loop's 50 ms budget
OP_TIMEOUT_S = 5.0

# KEYS: fan-out stream, this publisher's last applied number, then (state hash, history stream) per topic.
# ARGV: publish number, name, ts, data, new epoch, history len, fan-out len, history ttl, state ttl, topics...
PUBLISH_LUA = """
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then
  return 0  -- a resend of an event already applied
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[9])
local positions = {}
for i = 10, #ARGV do
  local state, history = KEYS[(i - 10) * 2 + 3], KEYS[(i - 10) * 2 + 4]
  local epoch = redis.call('HGET', state, 'epoch')
  if not epoch then
    epoch = ARGV[5]
    redis.call('HSET', state, 'epoch', epoch, 'seq', 0)
    redis.call('DEL', history)
  end
  local seq = redis.call('HINCRBY', state, 'seq', 1)
  redis.call('EXPIRE', state, ARGV[9])
  redis.call('XADD', history, 'MAXLEN', '~', ARGV[6], seq .. '-0', 'n', ARGV[2], 'ts', ARGV[3], 'd', ARGV[4])
  redis.call('EXPIRE', history, ARGV[8])
  positions[#positions + 1] = {ARGV[i], seq, epoch}
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*',
           'p', cjson.encode(positions), 'n', ARGV[2], 'ts', ARGV[3], 'd', ARGV[4])
return #positions
"""

# KEYS: state hash, history stream. ARGV: new epoch, state ttl, since epoch ('' = none), first seq wanted.
READ_LUA = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local entries = {}
if ARGV[3] == epoch and tonumber(ARGV[4]) <= seq then
  entries = redis.call('XRANGE', KEYS[2], ARGV[4] .. '-0', '+')
end
return {epoch, seq, entries}
"""


class RedisUnavailable(RuntimeError):
    """Redis could not be reached when the server started."""


class EventsUnavailable(Unavailable):
    default_message = "Live events are unavailable right now; retry shortly."


def public_url(url: str) -> str:
    """Return a Redis URL with any password hidden, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def split_prefix(url: str, default: str = "chatsvc:") -> tuple[str, str]:
    """Take our own `prefix` query parameter (several deployments on one Redis) out of a Redis URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), default)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


class _Gate:
    """One listener's registration: holds live events back until its replay is out, then drops the overlap."""

    __slots__ = ("listener", "buffer", "floor", "closed")

    def __init__(self, listener: Listener, buffering: bool) -> None:
        self.listener = listener
        self.buffer: list[Event] | None = [] if buffering else None
        self.floor: tuple[str, int] | None = None  # events up to this position came before the subscription
        self.closed = False

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if self.buffer is not None:
            self.buffer.append(event)
            return
        if self.floor is not None and event.epoch == self.floor[0] and event.seq <= self.floor[1]:
            return
        _deliver(self.listener, event)

    def open(self) -> None:
        held, self.buffer = self.buffer or [], None
        for event in held:
            self.push(event)


@dataclass(slots=True)
class _Local:
    """What this process knows of a topic: its listeners and the last position it dispatched."""

    gates: dict[Listener, _Gate] = field(default_factory=dict)
    epoch: str = ""
    seq: int = 0
    seen: float = field(default_factory=time.monotonic)


def _deliver(listener: Listener, event: Event) -> None:
    try:
        listener(event)
    except Exception:  # one broken listener must not stop the others
        log.exception("event listener failed for %s %s", event.topic, event.name)


class RedisEventBus:
    """The multi-process bus: same interface as InMemoryEventBus, plus start/close and subscribe_async."""

    shared = True  # every process sees every event: RunManager relays cancels through it

    retry_max_s = 5.0
    drain_s = 5.0  # on close, how long queued events may take to reach Redis
    stop_s = 1.0  # on close, how long the sender and reader may take to stop (twice when they must be forced)

    def __init__(self, url: str, *, prefix: str = "chatsvc:", history_events: int = RING_EVENTS,
                 history_seconds: float = RING_SECONDS) -> None:
        self.url = url
        self.prefix = prefix
        self.history_events = history_events
        self.history_seconds = history_seconds
        # No client-side retries: the sender and reader retry with backoff, and only the script knows
        # whether a resent event was already applied.
        self._publisher_id = secrets.token_hex(8)
        self._redis = self._client(url, "")
        # The reader's blocking XREAD has a connection of its own, so close() can shut it under the reader
        # without touching the sender's.
        self._reader = self._client(url, "reader")
        self._publish_script = self._redis.register_script(PUBLISH_LUA)
        self._read_script = self._redis.register_script(READ_LUA)
        self._fanout = f"{prefix}events"
        self._publisher = f"{prefix}publisher:{self._publisher_id}"  # numbers its events, for resends
        self._numbers = itertools.count(1)
        self._pending: deque[tuple[list[str], list[Any]]] = deque()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._topics: dict[str, _Local] = {}
        self._taps: list[Listener] = []
        self._delta_taps: list[Listener] = []  # the taps that also want message.delta
        self._publish_hooks: list[PublishHook] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._last_id = "0-0"
        self._closed = False  # publish() drops events from now on
        self._stopping = False  # the sender and reader leave their loops
        self.published_total = 0
        self.dropped_total = 0  # publications that never reached Redis

    def _client(self, url: str, role: str) -> Redis:
        name = f"{self.prefix}{role or 'bus'}:{self._publisher_id}"
        return Redis.from_url(url, decode_responses=True, retry=Retry(NoBackoff(), 0), client_name=name,
                              socket_connect_timeout=OP_TIMEOUT_S, socket_timeout=READ_BLOCK_MS / 1000 + 5)

    @classmethod
    async def connect(cls, url: str) -> RedisEventBus:
        """Build and start a bus for a CHATSVC_REDIS_URL (which may carry `?prefix=`)."""
        redis_url, prefix = split_prefix(url)
        bus = cls(redis_url, prefix=prefix)
        await bus.start()
        return bus

    def _state_key(self, topic: str) -> str:
        return f"{self.prefix}topic:{topic}"

    def _history_key(self, topic: str) -> str:
        return f"{self.prefix}history:{topic}"

    # --- lifetime ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Check Redis, note where the fan-out stream ends, start the sender and the reader."""
        try:
            async with asyncio.timeout(OP_TIMEOUT_S):
                await self._redis.ping()
                await self._redis.script_load(PUBLISH_LUA)
                last = await self._redis.xrevrange(self._fanout, count=1)
        except Exception as exc:
            await self._close_clients()
            raise RedisUnavailable(
                f"Redis at {public_url(self.url)} is not reachable ({exc.__class__.__name__}: {exc}). Start it, "
                "or unset CHATSVC_REDIS_URL to run a single process with the in-memory event bus."
            ) from None
        # Read from the stream's current end, not `$`: events we publish before the first XREAD still count.
        self._last_id = str(last[0][0]) if last else "0-0"
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_loop()), loop.create_task(self._read_loop())]
        log.info("event bus: Redis at %s (keys %s*)", public_url(self.url), self.prefix)

    async def close(self) -> None:
        """Give queued events a moment to reach Redis, then stop both tasks and the connections, in bounded time.

        A blocking XREAD may not notice its cancellation (see chatsvc/shutdown.py), so when the tasks have not
        ended within a second their connections are closed under them.
        """
        self._closed = True
        if self._pending and self._tasks:
            try:
                async with asyncio.timeout(self.drain_s):
                    await self._drained.wait()
            except TimeoutError:
                log.error("%d events could not be sent to Redis before shutdown", len(self._pending))
        self._stopping = True
        self._wakeup.set()
        if not await stop_tasks(self._tasks, "Redis event bus", timeout=self.stop_s):
            await self._close_clients()  # a read or send that ignored the cancel fails on its closed socket
            await stop_tasks(self._tasks, "Redis event bus (connections closed)", timeout=self.stop_s)
        await self._close_clients()

    async def _close_clients(self) -> None:
        for client in (self._reader, self._redis):
            try:
                async with asyncio.timeout(self.stop_s):
                    await client.aclose()
            except Exception as exc:  # a client that cannot close cleanly is dropped: the process is leaving
                log.warning("closing a Redis connection failed: %r", exc)

    # --- publishing -------------------------------------------------------------------------
    def publish(self, topics: Iterable[str], name: str, data: dict[str, Any], payload: str | None = None) -> None:
        """Queue one event for several topics (never blocks, never raises); call after commit."""
        topic_names = tuple(dict.fromkeys(topics))
        if not topic_names:
            return
        # Before a drop, too: this process's caches must forget regardless (a delta changes nothing they hold).
        if name != DELTA:
            run_publish_hooks(self._publish_hooks, topic_names, name, data)
        if self._closed or len(self._pending) >= MAX_PENDING:
            self.dropped_total += 1
            if self._closed or self.dropped_total % 10_000 == 1:  # one line per 10000 while Redis is away
                log.error("event %s on %s dropped (%d so far): %s", name, ",".join(topic_names), self.dropped_total,
                          "the bus is closed" if self._closed else "too many events waiting for Redis")
            return
        if payload is None:
            payload = event_payload(data)
        keys = [self._fanout, self._publisher]
        for topic in topic_names:
            keys += [self._state_key(topic), self._history_key(topic)]
        args = [next(self._numbers), name, repr(time.time()), payload, secrets.token_hex(6),
                self.history_events, FANOUT_EVENTS, int(self.history_seconds), STATE_TTL_S, *topic_names]
        self._pending.append((keys, args))
        self.published_total += len(topic_names)
        self._drained.clear()
        self._wakeup.set()

    async def _send_loop(self) -> None:
        """Send queued events in order, a pipeline at a time; retry with backoff while Redis is away."""
        failures = 0
        while not self._stopping:
            if not self._pending:
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = list(itertools.islice(self._pending, BATCH))
            try:
                results = await self._send(batch)
            except Exception as exc:  # resending is safe: the script skips what it already applied
                failures += 1
                if failures == 1:
                    log.warning("cannot send events to Redis (%s); %d waiting, retrying", exc, len(self._pending))
                await asyncio.sleep(min(self.retry_max_s, 0.05 * 2 ** failures))
                continue
            if failures:
                log.warning("Redis is reachable again after %d failed sends", failures)
                failures = 0
            for (_keys, args), result in zip(batch, results, strict=True):
                self._pending.popleft()
                if isinstance(result, Exception):
                    self.dropped_total += 1
                    log.error("Redis refused event %s: %s", args[1], result)

    async def _send(self, batch: list[tuple[list[str], list[Any]]]) -> list[Any]:
        async with asyncio.timeout(OP_TIMEOUT_S):
            pipe = self._redis.pipeline(transaction=False)
            for keys, args in batch:
                pipe.evalsha(self._publish_script.sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            if any(isinstance(r, NoScriptError) for r in results):  # Redis restarted: load it, send again
                await self._redis.script_load(PUBLISH_LUA)
                raise NoScriptError("the publish script was not loaded")
            return results

    # --- reading and dispatching ------------------------------------------------------------
    async def _read_loop(self) -> None:
        """Follow the fan-out stream and dispatch each event to this process's listeners, in order."""
        failures = 0
        while not self._stopping:
            try:
                reply = await self._reader.xread({self._fanout: self._last_id}, count=READ_COUNT,
                                                 block=READ_BLOCK_MS)
            except Exception as exc:
                if self._stopping:
                    break
                failures += 1
                if failures == 1:
                    log.warning("cannot read events from Redis (%s); retrying", exc)
                await asyncio.sleep(min(self.retry_max_s, 0.05 * 2 ** failures))
                continue
            if failures:
                log.warning("reading events from Redis again")
                failures = 0
            streams: Any = reply.items() if isinstance(reply, dict) else reply or ()  # RESP3 map, RESP2 list
            for _stream, entries in streams:
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    try:
                        self._dispatch(fields)
                    except Exception:  # a malformed entry must not stop the reader
                        log.exception("could not dispatch fan-out entry %s", entry_id)

    def _dispatch(self, fields: dict[str, str]) -> None:
        name, ts, payload = fields["n"], float(fields["ts"]), fields["d"]
        data = json.loads(payload)
        for topic, seq, epoch in json.loads(fields["p"]):
            event = make_event(topic, seq, epoch, name, ts, data, payload)
            local = self._local(topic)
            local.epoch, local.seq, local.seen = epoch, seq, time.monotonic()
            for gate in tuple(local.gates.values()):
                gate.push(event)
            for tap in tuple(self._delta_taps if name == DELTA else self._taps):
                _deliver(tap, event)

    def _local(self, topic: str) -> _Local:
        local = self._topics.get(topic)
        if local is None:
            local = self._topics[topic] = _Local()
        return local

    # --- subscribing ------------------------------------------------------------------------
    async def subscribe_async(self, topic: str, listener: Listener,
                              since: tuple[str, int] | None = None) -> Subscription:
        """Register a listener and return the topic's position (and the replay after `since`).

        Live events after that position reach the listener from the next loop iteration on, so a caller
        that queues its result and the replay before it awaits anything keeps them in order.
        """
        local = self._local(topic)
        gate = self._register(local, listener, buffering=True)
        try:
            epoch, seq, entries = await self._read(topic, since)
        except BaseException as exc:
            if local.gates.get(listener) is gate:
                del local.gates[listener]
            if not isinstance(exc, Exception):
                raise
            log.warning("cannot read %s from Redis: %s", topic, exc)
            raise EventsUnavailable() from None
        gate.floor = (epoch, seq)
        if epoch != local.epoch or seq > local.seq:
            local.epoch, local.seq = epoch, seq
        asyncio.get_running_loop().call_soon(gate.open)
        return self._subscription(topic, epoch, seq, since, entries)

    async def _read(self, topic: str, since: tuple[str, int] | None) -> tuple[str, int, list[Any]]:
        # A since.seq beyond any real position cannot be an XRANGE id; it is answered `recovered: false`.
        wanted = "" if since is None or not 0 <= since[1] < 2 ** 53 else since[0]
        first = str(since[1] + 1) if wanted and since else "0"
        async with asyncio.timeout(OP_TIMEOUT_S):
            epoch, seq, entries = await self._read_script(
                keys=[self._state_key(topic), self._history_key(topic)],
                args=[secrets.token_hex(6), STATE_TTL_S, wanted, first])
        return epoch, int(seq), entries

    def _subscription(self, topic: str, epoch: str, seq: int, since: tuple[str, int] | None,
                      entries: list[Any]) -> Subscription:
        if since is None:
            return Subscription(epoch, seq, None)
        since_epoch, last_seen = since
        if since_epoch != epoch or not 0 <= last_seen <= seq:
            return Subscription(epoch, seq, False)
        replay = []
        for entry_id, flat in entries:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            event_seq, ts = int(entry_id.split("-", 1)[0]), float(fields["ts"])
            replay.append(make_event(topic, event_seq, epoch, fields["n"], ts, json.loads(fields["d"]), fields["d"]))
        if len(replay) != seq - last_seen or (replay and replay[0].seq != last_seen + 1):
            return Subscription(epoch, seq, False)  # part of the gap is gone: no partial replay
        return Subscription(epoch, seq, True, tuple(replay))

    def subscribe(self, topic: str, listener: Listener, since: tuple[str, int] | None = None) -> Subscription:
        """Register a listener for every event dispatched from now on (no replay: use subscribe_async)."""
        local = self._local(topic)
        self._register(local, listener, buffering=False)
        return Subscription(local.epoch, local.seq, None if since is None else False)

    @staticmethod
    def _register(local: _Local, listener: Listener, buffering: bool) -> _Gate:
        old = local.gates.get(listener)
        if old is not None:
            old.closed = True
        gate = local.gates[listener] = _Gate(listener, buffering)
        return gate

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        local = self._topics.get(topic)
        gate = local.gates.pop(listener, None) if local else None
        if gate is not None:
            gate.closed = True  # a replay still being read must not flush into a gone listener

    def add_tap(self, tap: Listener, *, deltas: bool = False) -> None:
        self._taps.append(tap)
        if deltas:
            self._delta_taps.append(tap)

    def add_publish_hook(self, hook: PublishHook) -> None:
        self._publish_hooks.append(hook)

    # --- positions and housekeeping ---------------------------------------------------------
    def position(self, topic: str) -> tuple[str, int]:
        """The last position of a topic this process has seen (fetch_position() asks Redis)."""
        local = self._local(topic)
        return local.epoch, local.seq

    async def fetch_position(self, topic: str) -> tuple[str, int]:
        """The topic's current position in Redis (creating its epoch when the topic is new)."""
        epoch, seq, _ = await self._read(topic, None)
        return epoch, seq

    def subscriber_count(self) -> int:
        return sum(len(t.gates) for t in self._topics.values())

    def pending_count(self) -> int:
        """Events published here that have not reached Redis yet."""
        return len(self._pending)

    def prune(self) -> int:
        """Forget topics with no listeners and no event for a while; return how many."""
        cutoff = time.monotonic() - self.history_seconds
        gone = [name for name, t in self._topics.items() if not t.gates and t.seen < cutoff]
        for name in gone:
            del self._topics[name]
        return len(gone)
