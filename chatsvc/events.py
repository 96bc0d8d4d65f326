"""Events published after commit, and the bus that carries them to websocket subscribers.

Every topic has an `epoch` (changes when its history is lost, e.g. on restart) and a `seq` (+1 per
event, from 1). A bounded ring keeps recent events so a reconnecting client can resume: either every
missed event is replayed in order, or none is (`recovered: false`) — never a partial replay.
`subscribe` registers the listener and reads the ring with no `await` in between, so nothing
published meanwhile can fall into a gap.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

from chatsvc.audit import security_event

log = logging.getLogger("chatsvc.events")

EMBED_LIMIT = 16 * 1024  # resources larger than this travel as ids only
DELTA = "message.delta"  # the streaming hot path: taps skip it unless they ask for it
RING_EVENTS = 1000
RING_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Event:
    """One published event on one topic; `frame` is its websocket text, serialised once for all subscribers."""

    topic: str
    seq: int
    epoch: str
    name: str
    ts: float
    data: dict[str, Any]
    frame: str


Listener = Callable[[Event], None]  # must not block or await: it only enqueues
PublishHook = Callable[[tuple[str, ...], str, dict[str, Any]], None]  # the same: cheap and synchronous


@dataclass(frozen=True, slots=True)
class Subscription:
    """What subscribe() answers: the topic's position, and the replay when `since` was given."""

    epoch: str
    seq: int
    recovered: bool | None  # None when no `since` was given
    replay: tuple[Event, ...] = ()


class EventBus(Protocol):
    shared: bool  # True when every server process sees every event (so processes can ask each other things)

    def publish(self, topics: Iterable[str], name: str, data: dict[str, Any], payload: str | None = None) -> None:
        """Publish one event to several topics; call only after the transaction committed. `payload`: the
        data's JSON when the caller already has it (it must equal event_payload(data))."""

    def subscribe(self, topic: str, listener: Listener, since: tuple[str, int] | None = None) -> Subscription:
        """Register a listener and return the position (and the replay after `since`), atomically."""

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        """Stop delivering a topic to a listener (idempotent)."""

    published_total: int  # topic events published through this process since it started

    async def subscribe_async(self, topic: str, listener: Listener,
                              since: tuple[str, int] | None = None) -> Subscription:
        """subscribe(), for a bus whose history lives elsewhere (Redis): live events wait for the replay."""

    def add_tap(self, tap: Listener, *, deltas: bool = False) -> None:
        """See every event of every topic (server-side reactions such as access re-checks) — except
        `message.delta`, the hot path no server-side reaction needs, unless `deltas`."""

    def add_publish_hook(self, hook: PublishHook) -> None:
        """Call `hook(topics, name, data)` inside publish(), in the publishing process, before anything is sent
        (caches that must not answer from stale data one moment after the commit)."""

    def position(self, topic: str) -> tuple[str, int]:
        """The last (epoch, seq) of a topic this process knows."""

    def subscriber_count(self) -> int:
        """Listeners registered in this process."""

    def prune(self) -> int:
        """Forget idle topics; return how many."""

    async def close(self) -> None:
        """Stop, in bounded time (events already published may still be sent)."""


@dataclass(slots=True)
class _Topic:
    epoch: str
    seq: int = 0
    ring: deque[Event] = field(default_factory=deque)
    listeners: list[Listener] = field(default_factory=list)


_iso_second: tuple[int, str] = (-1, "")  # the last whole second formatted: strftime is costly per event
_iso_milli: tuple[int, str] = (-1, "")  # the last millisecond formatted: the deltas of one tick share it


def iso_ts(ts: float) -> str:
    """Format seconds since the epoch as ISO 8601 UTC with milliseconds and `Z`."""
    global _iso_second, _iso_milli
    milli = int(ts * 1000)
    cached_milli, text = _iso_milli
    if milli == cached_milli:
        return text
    second = milli // 1000
    cached, prefix = _iso_second
    if second != cached:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _iso_second = (second, prefix)
    text = f"{prefix}.{milli % 1000:03d}Z"
    _iso_milli = (milli, text)
    return text


_compact = json.JSONEncoder(separators=(",", ":"), default=str)  # one for all: json.dumps would build one per call


def compact_json(value: Any) -> str:
    """JSON without spaces, as every websocket frame is written."""
    return _compact.encode(value)


def event_payload(data: dict[str, Any]) -> str:
    """An event's data as the JSON text every frame of it embeds (serialised once, shared by all subscribers)."""
    return _compact.encode(data)


_json_str = encode_basestring_ascii  # json.dumps(a_str), without its Python-level detour


def event_frame(topic: str, seq: int, epoch: str, name: str, ts: float, payload: str,
                seq_from: int | None = None) -> str:
    """The websocket text of an event (DESIGN §7), from its JSON data: the one place frames are built."""
    merged = f',"seq_from":{seq_from}' if seq_from is not None else ""
    return (f'{{"type":"event","topic":{_json_str(topic)},"seq":{seq}{merged},"epoch":{_json_str(epoch)},'
            f'"name":{_json_str(name)},"ts":"{iso_ts(ts)}","data":{payload}}}')


def make_event(topic: str, seq: int, epoch: str, name: str, ts: float, data: dict[str, Any],
               payload: str | None = None, seq_from: int | None = None) -> Event:
    """An Event with its frame (pass `payload` when the data is already serialised)."""
    text = event_payload(data) if payload is None else payload
    return Event(topic, seq, epoch, name, ts, data, event_frame(topic, seq, epoch, name, ts, text, seq_from))


def run_publish_hooks(hooks: list[PublishHook], topics: tuple[str, ...], name: str, data: dict[str, Any]) -> None:
    for hook in hooks:
        try:
            hook(topics, name, data)
        except Exception:  # a broken hook must not fail a command that already committed
            log.exception("publish hook failed for %s", name)


class InMemoryEventBus:
    """The single-process bus: per-topic ring, epoch and seq; listeners called synchronously."""

    shared = False

    def __init__(self, ring_events: int = RING_EVENTS, ring_seconds: float = RING_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.ring_events = ring_events
        self.ring_seconds = ring_seconds
        self._clock = clock
        self._topics: dict[str, _Topic] = {}
        self._taps: list[Listener] = []
        self._delta_taps: list[Listener] = []  # the taps that also want message.delta
        self._publish_hooks: list[PublishHook] = []
        self.published_total = 0

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(epoch=secrets.token_hex(4))
        return topic

    def _trim(self, topic: _Topic, now: float) -> None:
        ring = topic.ring
        while ring and (len(ring) > self.ring_events or ring[0].ts < now - self.ring_seconds):
            ring.popleft()

    def publish(self, topics: Iterable[str], name: str, data: dict[str, Any], payload: str | None = None) -> None:
        now = self._clock()
        if payload is None:
            payload = event_payload(data)
        topic_names = tuple(dict.fromkeys(topics))
        if name == DELTA:  # the streaming hot path: hooks forget cached rights, which a delta never changes
            taps = self._delta_taps
        else:
            run_publish_hooks(self._publish_hooks, topic_names, name, data)
            taps = self._taps
        for topic_name in topic_names:
            topic = self._topic(topic_name)
            topic.seq += 1
            event = make_event(topic_name, topic.seq, topic.epoch, name, now, data, payload)
            topic.ring.append(event)
            self._trim(topic, now)
            self.published_total += 1
            listeners = (*topic.listeners, *taps) if taps else tuple(topic.listeners)  # a copy: one may unsubscribe
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # one broken listener must not stop the others
                    log.exception("event listener failed for %s %s", event.topic, event.name)

    def subscribe(self, topic: str, listener: Listener, since: tuple[str, int] | None = None) -> Subscription:
        state = self._topic(topic)
        self._trim(state, self._clock())
        state.listeners.append(listener)
        if since is None:
            return Subscription(state.epoch, state.seq, None)
        epoch, last_seen = since
        if epoch != state.epoch or last_seen > state.seq or last_seen < 0:
            return Subscription(state.epoch, state.seq, False)
        if last_seen == state.seq:
            return Subscription(state.epoch, state.seq, True)
        oldest = state.ring[0].seq if state.ring else state.seq + 1
        if last_seen + 1 < oldest:
            return Subscription(state.epoch, state.seq, False)  # part of the gap is gone: no partial replay
        replay = tuple(e for e in state.ring if e.seq > last_seen)
        return Subscription(state.epoch, state.seq, True, replay)

    async def subscribe_async(self, topic: str, listener: Listener,
                              since: tuple[str, int] | None = None) -> Subscription:
        return self.subscribe(topic, listener, since)

    async def close(self) -> None:
        """Nothing to stop: the in-memory bus has no tasks or connections."""

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        state = self._topics.get(topic)
        if state is None:
            return
        try:
            state.listeners.remove(listener)
        except ValueError:
            pass

    def add_tap(self, tap: Listener, *, deltas: bool = False) -> None:
        self._taps.append(tap)
        if deltas:
            self._delta_taps.append(tap)

    def add_publish_hook(self, hook: PublishHook) -> None:
        self._publish_hooks.append(hook)

    def position(self, topic: str) -> tuple[str, int]:
        state = self._topic(topic)
        return state.epoch, state.seq

    def subscriber_count(self) -> int:
        return sum(len(t.listeners) for t in self._topics.values())

    def prune(self) -> int:
        """Forget topics with no listeners whose history has expired; return how many."""
        now = self._clock()
        gone = []
        for name, topic in self._topics.items():
            self._trim(topic, now)
            if not topic.listeners and not topic.ring:
                gone.append(name)
        for name in gone:
            del self._topics[name]
        return len(gone)


def project_topic(project_id: str) -> str:
    return f"project:{project_id}"


def chat_topic(session_id: str) -> str:
    return f"chat:{session_id}"


def session_topics(chat: Any) -> list[str]:
    """Topics a chat session's own events go to: the chat, plus its project or its owner."""
    topics = [chat_topic(chat.id)]
    if chat.project_id is not None:
        topics.append(project_topic(chat.project_id))
    elif chat.owner_id is not None:
        topics.append(user_topic(chat.owner_id))
    return topics


def user_topic(user_id: str) -> str:
    return f"user:{user_id}"


def task_topic(task_id: str) -> str:
    return f"task:{task_id}"


def resource_event(
    kind: str, action: str, *, id: str, version: int, actor: str | None, resource: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Return (name, data) of a `<kind>.<action>` event; the resource rides along when small."""
    data: dict[str, Any] = {"id": id, "version": version, "actor": actor}
    if resource is not None and action != "deleted" and fits(resource, EMBED_LIMIT):
        data["resource"] = resource
    return f"{kind}.{action}", data


_SCALAR_SIZES = {True: 4, False: 5, None: 4}


def fits(value: Any, limit: int) -> bool:
    """Whether value's compact JSON is at most `limit` characters; walks the value and stops as soon as it is
    not (cheap for MBs), without encoding it (the json module's incremental encoder is pure Python: ~40 µs for
    a small artifact, where this walk takes a few)."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += len(_json_str(item))
        elif isinstance(item, dict):
            size += 2 * len(item) + 1 if item else 2  # braces, colons and commas: 2 + n + (n - 1)
            for key, child in item.items():
                size += len(_json_str(key if isinstance(key, str) else str(key)))
                stack.append(child)
        elif isinstance(item, list | tuple):
            size += 1 + len(item) if item else 2
            stack.extend(item)
        elif item is None or isinstance(item, bool):
            size += _SCALAR_SIZES[item]
        elif isinstance(item, int | float):
            size += len(repr(item))
        else:  # what default=str writes
            size += len(_json_str(str(item)))
        if size > limit:
            return False
    return True


def publish_sessions_revoked(bus: EventBus, user_id: str, auth_session_ids: list[str]) -> None:
    """Tell live connections of these sessions to close (the websocket layer listens on user topics)."""
    if auth_session_ids:
        security_event("sessions_revoked", user_id=user_id, count=len(auth_session_ids))
        bus.publish([user_topic(user_id)], "session.revoked", {"auth_session_ids": auth_session_ids})


def publish_resource(
    bus: EventBus, topics: Iterable[str], kind: str, action: str, resource: dict[str, Any], actor: str | None
) -> None:
    """Publish `<kind>.<action>` for a resource JSON (with id and version); call after commit."""
    name, data = resource_event(
        kind, action, id=resource["id"], version=int(resource.get("version", 1)), actor=actor, resource=resource
    )
    bus.publish(topics, name, data)
