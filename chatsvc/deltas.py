"""The hot path of streaming: when each run's coalesced `message.delta` goes out, and its JSON.

Every streaming run publishes about 20 deltas a second, each due when its oldest token is 50 ms old,
and never sooner than 50 ms after the run's previous delta. A timer per run and per delta made every
delta its own trip around the event loop; here one timer serves every run, on a grid of FLUSH_TICK_S:
a delta goes out in the tick in which its window ends (so up to one tick before the window's end), but
never in a tick that starts before the spacing allows. The runs falling due in one tick are flushed
by one callback, and their sockets' writers are woken together in the next loop iteration.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from json.encoder import encode_basestring_ascii
from typing import Protocol

log = logging.getLogger("chatsvc.deltas")

FLUSH_TICK_S = 0.001  # epoll waits in whole ms anyway; 5 ms grouped more but added ~3 ms to the latency p50


class Flushable(Protocol):
    flush_slot: int | None  # the tick its next flush is booked in; None when not booked

    def flush(self) -> None:
        """Publish the pending text (sets flush_slot to None)."""


class DeltaClock:
    """One timer for the flushes of every run, in ticks of FLUSH_TICK_S (call from the event loop only)."""

    def __init__(self, tick_s: float = FLUSH_TICK_S) -> None:
        self.tick_s = tick_s
        self._slots: dict[int, list[Flushable]] = {}  # tick number -> runs booked in it
        self._order: list[int] = []  # heap of the booked tick numbers
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot: int | None = None

    def book(self, run: Flushable, window: float, spacing: float) -> None:
        """Flush `run` in the tick in which `window` seconds from now fall, but not in one that starts sooner
        than `spacing` seconds from now; unless it flushes before (by size, a tool call, its end)."""
        now = asyncio.get_running_loop().time()
        tick = self.tick_s
        slot = max(int((now + window) // tick), -int(-(now + spacing) // tick))
        run.flush_slot = slot
        booked = self._slots.get(slot)
        if booked is not None:
            booked.append(run)
            return
        self._slots[slot] = [run]
        heapq.heappush(self._order, slot)
        if self._timer_slot is None or slot < self._timer_slot:
            self._arm(slot)

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = asyncio.get_running_loop().call_at(slot * self.tick_s, self._tick)

    def _tick(self) -> None:
        self._timer = self._timer_slot = None
        now = asyncio.get_running_loop().time()
        order = self._order
        while order and order[0] * self.tick_s <= now:
            slot = heapq.heappop(order)
            for run in self._slots.pop(slot):
                if run.flush_slot == slot:  # not flushed (by size, a tool call, the end) or booked again since
                    try:
                        run.flush()
                    except Exception:  # one broken run must not stall the others' deltas
                        run.flush_slot = None
                        log.exception("flushing a delta failed")
        if order:
            self._arm(order[0])

    def pending(self) -> int:
        """Booked flushes (some may be stale)."""
        return sum(len(runs) for runs in self._slots.values())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_slot = None
        self._slots.clear()
        self._order.clear()


def delta_head(message_id: str, run_id: str) -> str:
    """The constant start of a run's delta JSON (see delta_payload)."""
    return f'{{"message_id":{json.dumps(message_id)},"run_id":{json.dumps(run_id)},"offset":'


def delta_payload(head: str, offset: int, text: str, produced_at: str | None) -> str:
    """The JSON of `{message_id, run_id, offset, text[, produced_at]}` (what events.event_payload makes of
    that dict, byte for byte) without a generic encoder pass: one per delta, about 20 per run per second."""
    tail = "}" if produced_at is None else f',"produced_at":{encode_basestring_ascii(produced_at)}}}'
    return f"{head}{offset},\"text\":{encode_basestring_ascii(text)}{tail}"
