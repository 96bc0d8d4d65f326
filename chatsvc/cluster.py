"""The deployment's processes as each one sees them, and questions put to all of them at once.

With several processes on one Redis (a shared bus), an admin's question about live state — how many sockets
are open, which runs stream, close this user's sockets — has a part in every process. `ProcessDirectory`:
- knows its peers: each process says `process.alive` on the internal `control:processes` topic when it
  starts (a peer that has not heard of it yet answers with its own `process.alive` at once) and every
  ALIVE_EVERY_S after, and `process.gone` when it stops; a peer not heard of for 3 × ALIVE_EVERY_S is gone;
- asks them all: `ask(question, data)` answers locally, publishes `process.asked`, and gathers each live
  peer's `process.answered` until all have answered or ASK_TIMEOUT_S passed (a peer that died within the
  last few seconds makes the answer wait that long; the result says which peers did not answer).
Alone (an in-memory bus) the directory holds this process only and `ask` answers at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatsvc.events import Event, EventBus
from chatsvc.shutdown import TaskSet

log = logging.getLogger("chatsvc.cluster")

PROCESSES_TOPIC = "control:processes"  # server-to-server; authorize_topic refuses `control:` to every client
ALIVE_EVERY_S = 5.0
ASK_TIMEOUT_S = 1.5

Answerer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Gathering:
    """One question in flight: the answers so far and who still owes one."""

    waiting_for: set[str]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Answers:
    """Every process's answer to a question (`process` -> answer) and the peers that did not answer in time."""

    by_process: dict[str, dict[str, Any]]
    missing: list[str]


class ProcessDirectory:
    """This process's view of the deployment (see the module docstring)."""

    def __init__(self, bus: EventBus, *, alive_every_s: float = ALIVE_EVERY_S,
                 ask_timeout_s: float = ASK_TIMEOUT_S) -> None:
        self.bus = bus
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.alive_every_s = alive_every_s
        self.ask_timeout_s = ask_timeout_s
        self.peers: dict[str, float] = {}  # process -> when last heard of (monotonic)
        self.answerers: dict[str, Answerer] = {}
        self._gatherings: dict[str, Gathering] = {}
        self._tasks = TaskSet("process directory")

    def answer(self, question: str, answerer: Answerer) -> None:
        """Register how this process answers `question` (synchronously: it runs in a bus tap)."""
        self.answerers[question] = answerer

    def start(self) -> None:
        if self.bus.shared:
            self._say_alive(hello=True)
            self._tasks.spawn(self._keep_saying_alive())

    async def close(self) -> None:
        if self.bus.shared:
            self.bus.publish([PROCESSES_TOPIC], "process.gone", {"process": self.name})
        await self._tasks.stop()

    def live_peers(self) -> list[str]:
        """Other processes heard of lately, by name."""
        cutoff = time.monotonic() - 3 * self.alive_every_s
        return sorted(name for name, seen in self.peers.items() if seen >= cutoff)

    async def ask(self, question: str, data: dict[str, Any]) -> Answers:
        """Every live process's answer to `question` (this one's first)."""
        mine = {self.name: self.answerers[question](data)}
        peers = self.live_peers()
        if not self.bus.shared or not peers:
            return Answers(mine, [])
        request_id = secrets.token_hex(8)
        gathering = Gathering(waiting_for=set(peers))
        self._gatherings[request_id] = gathering
        try:
            self.bus.publish([PROCESSES_TOPIC], "process.asked",
                             {"process": self.name, "request_id": request_id, "question": question, "data": data})
            try:
                async with asyncio.timeout(self.ask_timeout_s):
                    await gathering.done.wait()
            except TimeoutError:
                log.warning("no answer to %s from %s", question, sorted(gathering.waiting_for))
        finally:
            self._gatherings.pop(request_id, None)
        return Answers({**mine, **gathering.answers}, sorted(gathering.waiting_for))

    # --- the bus side -------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Bus tap (every event of every process, inside publish: publishing from here is deferred)."""
        if event.topic != PROCESSES_TOPIC:
            return
        data, name = event.data, event.name
        sender = str(data.get("process", ""))
        if not sender or sender == self.name:
            return
        if name == "process.gone":
            self.peers.pop(sender, None)
            for gathering in self._gatherings.values():
                self._answered(gathering, sender, None)
            return
        new = sender not in self.peers
        self.peers[sender] = time.monotonic()
        if name == "process.alive" and new and data.get("hello"):
            asyncio.get_running_loop().call_soon(self._say_alive)  # so the newcomer knows us at once
        elif name == "process.asked":
            answerer = self.answerers.get(str(data.get("question")))
            if answerer is not None:
                answer = answerer(dict(data.get("data") or {}))
                asyncio.get_running_loop().call_soon(
                    self.bus.publish, [PROCESSES_TOPIC], "process.answered",
                    {"process": self.name, "request_id": data.get("request_id"), "answer": answer})
        elif name == "process.answered":
            asked = self._gatherings.get(str(data.get("request_id")))
            if asked is not None:
                self._answered(asked, sender, dict(data.get("answer") or {}))

    @staticmethod
    def _answered(gathering: Gathering, process: str, answer: dict[str, Any] | None) -> None:
        if answer is not None:
            gathering.answers[process] = answer
        gathering.waiting_for.discard(process)
        if not gathering.waiting_for:
            gathering.done.set()

    def _say_alive(self, hello: bool = False) -> None:
        self.bus.publish([PROCESSES_TOPIC], "process.alive", {"process": self.name, "hello": hello})

    async def _keep_saying_alive(self) -> None:
        while True:
            await asyncio.sleep(self.alive_every_s)
            self._say_alive()
