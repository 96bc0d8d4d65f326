"""The in-memory event bus: seq and epoch per topic, bounded ring, all-or-nothing resume."""

from __future__ import annotations

import json

from chatsvc.events import InMemoryEventBus, publish_resource


def collect() -> tuple[list, callable]:
    got: list = []
    return got, got.append


def test_seq_starts_at_one_per_topic_and_frames_are_shared():
    bus = InMemoryEventBus()
    got_a, a = collect()
    got_b, b = collect()
    bus.subscribe("project:1", a)
    bus.subscribe("project:1", b)
    bus.publish(["project:1", "user:9"], "file.created", {"id": "f", "version": 1})
    bus.publish(["project:1"], "file.updated", {"id": "f", "version": 2})
    assert [e.seq for e in got_a] == [1, 2]
    assert got_a[0].frame is got_b[0].frame  # serialised once
    frame = json.loads(got_a[0].frame)
    assert frame == {"type": "event", "topic": "project:1", "seq": 1, "epoch": got_a[0].epoch,
                     "name": "file.created", "ts": frame["ts"], "data": {"id": "f", "version": 1}}
    assert frame["ts"].endswith("Z")
    assert bus.position("user:9")[1] == 1


def test_resume_replays_exactly_the_missed_events():
    bus = InMemoryEventBus()
    for i in range(5):
        bus.publish(["t"], "e", {"i": i})
    epoch, seq = bus.position("t")
    got, listener = collect()
    sub = bus.subscribe("t", listener, since=(epoch, 2))
    assert sub.recovered is True and [e.data["i"] for e in sub.replay] == [2, 3, 4]
    assert (sub.epoch, sub.seq) == (epoch, 5)
    bus.publish(["t"], "e", {"i": 5})
    assert [e.seq for e in got] == [6]


def test_resume_up_to_date_recovers_with_nothing_to_replay():
    bus = InMemoryEventBus()
    bus.publish(["t"], "e", {})
    epoch, seq = bus.position("t")
    sub = bus.subscribe("t", lambda e: None, since=(epoch, seq))
    assert sub.recovered is True and sub.replay == ()


def test_stale_epoch_or_future_seq_is_not_recovered():
    bus = InMemoryEventBus()
    bus.publish(["t"], "e", {})
    assert bus.subscribe("t", lambda e: None, since=("other", 0)).recovered is False
    epoch, _ = bus.position("t")
    assert bus.subscribe("t", lambda e: None, since=(epoch, 99)).recovered is False


def test_since_older_than_the_ring_is_never_a_partial_replay():
    bus = InMemoryEventBus(ring_events=3)
    for i in range(6):
        bus.publish(["t"], "e", {"i": i})
    epoch, _ = bus.position("t")
    lost = bus.subscribe("t", lambda e: None, since=(epoch, 1))
    assert lost.recovered is False and lost.replay == ()
    kept = bus.subscribe("t", lambda e: None, since=(epoch, 3))
    assert kept.recovered is True and [e.seq for e in kept.replay] == [4, 5, 6]


def test_ring_expires_by_age():
    now = [1000.0]
    bus = InMemoryEventBus(ring_seconds=600, clock=lambda: now[0])
    bus.publish(["t"], "e", {})
    now[0] += 601
    epoch, _ = bus.position("t")
    assert bus.subscribe("t", lambda e: None, since=(epoch, 0)).recovered is False


def test_unsubscribe_stops_delivery_and_prune_forgets_idle_topics():
    bus = InMemoryEventBus(ring_seconds=0)
    got, listener = collect()
    bus.subscribe("t", listener)
    bus.unsubscribe("t", listener)
    bus.unsubscribe("t", listener)  # idempotent
    bus.publish(["t"], "e", {})
    assert got == []
    old_epoch, _ = bus.position("t")
    assert bus.prune() >= 1
    assert bus.position("t")[0] != old_epoch  # history lost: a new epoch


def test_a_failing_listener_does_not_stop_others():
    bus = InMemoryEventBus()
    got, listener = collect()

    def broken(_event):
        raise RuntimeError("boom")

    bus.subscribe("t", broken)
    bus.subscribe("t", listener)
    bus.publish(["t"], "e", {})
    assert len(got) == 1


def test_publish_resource_embeds_small_resources_only():
    bus = InMemoryEventBus()
    got, tap = collect()
    bus.add_tap(tap)
    publish_resource(bus, ["p"], "artifact", "updated", {"id": "a", "version": 3, "x": 1}, actor="u")
    publish_resource(bus, ["p"], "artifact", "updated", {"id": "b", "version": 1, "x": "y" * 20000}, actor="u")
    publish_resource(bus, ["p"], "artifact", "deleted", {"id": "a", "version": 4}, actor="u")
    assert got[0].name == "artifact.updated" and got[0].data["resource"]["x"] == 1
    assert "resource" not in got[1].data and got[1].data["id"] == "b"
    assert got[2].data == {"id": "a", "version": 4, "actor": "u"}


def test_embed_size_check_stops_early_on_huge_resources():
    import json

    from chatsvc.events import fits

    huge = {"id": "x", "content": [{"text": "y" * 100} for _ in range(100_000)]}  # about 11 MB of JSON
    assert fits(huge, 16 * 1024) is False
    assert fits({"id": "x"}, 16 * 1024) is True
    # It walks the value and stops past the limit: the work is bounded by the limit, not by the value.
    seen = 0

    class Counted:
        def __str__(self) -> str:  # what default=str writes for a value JSON has no type for
            nonlocal seen
            seen += 1
            return "z" * 10

    assert fits([Counted() for _ in range(100_000)], 16 * 1024) is False
    assert seen < 2000
    # And it measures exactly what the compact encoding writes.
    for value in ("é\u2028\"", [], {}, [1, 2.5, None, True, False], {"ä": {"b": [1, "c"]}, "n": -3}):
        size = len(json.dumps(value, separators=(",", ":")))
        assert (fits(value, size), fits(value, size - 1)) == (True, False), value


