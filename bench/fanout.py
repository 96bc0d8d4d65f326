"""Fan-out: 1000 websocket subscribers on one project, one REST update every 100 ms for 10 s (DESIGN §12).

Every subscriber must receive every `project.updated` event in seq order: a missing one is a lost event
and fails the run. Latency is measured two ways per delivered frame: from the moment this process sent the
PATCH (end to end: the REST write, commit, publish, fan-out and the socket), and from the event's `ts`
(server publish time, millisecond resolution). Receive times are taken before any parsing; the frames
are decoded after the measurement so the client's own work stays out of the figures as far as possible.
Goal: p99 ≤ 100 ms, zero loss.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bench.client import Api, User, Ws, client_session, parse_iso
from bench.common import (
    BenchError,
    Config,
    CpuWindow,
    Goal,
    Result,
    Server,
    Table,
    cpu_seconds,
    gc_paused,
    memory,
    ms,
    stats,
)

GOAL_S = 0.100


class Subscriber:
    """One socket subscribed to the project; records (arrival time, raw frame) of everything after that."""

    def __init__(self, ws: Ws) -> None:
        self.ws = ws
        self.start_seq = 0
        self.frames: list[tuple[float, str]] = []
        self.closed_early: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        ws = self.ws.ws
        frames = self.frames
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                frames.append((time.time(), msg.data))
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.ERROR):
                if not getattr(self, "closing", False):
                    self.closed_early = f"{msg.type.name} {msg.data} {msg.extra}"
                return


async def open_subscribers(session: aiohttp.ClientSession, base: str, users: list[User], topic: str,
                           count: int, concurrency: int = 50) -> list[Subscriber]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Subscriber:
        async with gate:
            ws = await Ws.open(session, base, users[i % len(users)])
            data = await ws.op("subscribe", topic=topic)
            sub = Subscriber(ws)
            sub.start_seq = data["seq"]
            sub.frames.extend((time.time(), json.dumps(f)) for f in ws.backlog)
            ws.backlog.clear()
            sub.task = asyncio.get_running_loop().create_task(sub.read())
            return sub

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def run(cfg: Config) -> Result:
    result = Result("fanout")
    server = Server(cfg)
    await server.start()
    subs: list[Subscriber] = []
    try:
        async with client_session() as session:
            api = Api(session, server.base)
            owner = await api.user("fanowner")
            project = await api.project(owner)
            users = [owner]
            for _ in range(9):
                viewer = await api.user("viewer")
                await api.add_member(owner, project["id"], viewer, "viewer")
                users.append(viewer)
            topic = f"project:{project['id']}"
            t0 = time.perf_counter()
            subs = await open_subscribers(session, server.base, users, topic, cfg.fanout_subscribers)
            open_s = time.perf_counter() - t0
            mem = memory(server.pid)
            await asyncio.sleep(0.5)
            sent: list[float] = []
            answered: list[float] = []
            cpu0 = cpu_seconds(server.pid)
            client0 = time.process_time()
            window = CpuWindow([server.pid])
            expected = cfg.fanout_updates
            with gc_paused():
                start = time.perf_counter()
                for i in range(expected):
                    tick = start + i * cfg.fanout_interval_s
                    now = time.perf_counter()
                    if tick > now:
                        await asyncio.sleep(tick - now)
                    sent.append(time.time())
                    await api.call("PATCH", f"/projects/{project['id']}", {"name": f"fan-{i}"}, owner)
                    answered.append(time.time())
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and any(_count_events(s) < expected for s in subs):
                    await asyncio.sleep(0.1)
            server_cpu = cpu_seconds(server.pid) - cpu0
            client_cpu = time.process_time() - client0
            other = window.stop()["other"]
            e2e, from_publish, lost, bad_order, closed = _analyse(subs, sent, expected)
            patch = stats([a - s for s, a in zip(sent, answered, strict=False)])
            for sub in subs:
                sub.closing = True  # type: ignore[attr-defined]
            await asyncio.gather(*(s.ws.close() for s in subs), return_exceptions=True)
            for sub in subs:
                if sub.task is not None:
                    sub.task.cancel()
    finally:
        await server.stop()
        if server.tracebacks():
            result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
        server.cleanup()
    n = cfg.fanout_subscribers
    delivered = len(e2e["values"])
    e, p = stats(e2e["values"]), stats(from_publish["values"])
    table = Table(f"3. Fan-out — {n} websocket subscribers on one project, one PATCH every "
                  f"{cfg.fanout_interval_s * 1000:g} ms for {cfg.fanout_updates * cfg.fanout_interval_s:g} s",
                  ["measure", "p50", "p99", "max", "goal"])
    table.rows.append(["PATCH sent → frame received (end to end)", ms(e["p50"]), ms(e["p99"]), ms(e["max"]),
                       f"p99 ≤ {GOAL_S * 1000:g} ms"])
    table.rows.append(["event published (`ts`) → frame received", ms(p["p50"]), ms(p["p99"]), ms(p["max"]), ""])
    table.rows.append(["PATCH round trip (REST answer)", ms(patch["p50"]), ms(patch["p99"]), ms(patch["max"]), ""])
    table.notes.append(f"Events expected {expected * n}, delivered {delivered}, **lost {lost}** (goal 0); "
                       f"out of order {bad_order}; sockets closed early {closed}. Opening and subscribing {n} "
                       f"sockets took {open_s:.1f} s; server RSS with them open {mem['rss'] / 1024:.0f} MiB. CPU "
                       f"per delivered frame: server {server_cpu * 1e6 / max(1, delivered):.0f} µs (PATCHes "
                       f"included), this load process {client_cpu * 1e6 / max(1, delivered):.0f} µs. Other load on "
                       f"the machine meanwhile: {other:.0%} of a core.")
    result.tables.append(table)
    result.goals.append(Goal("fan-out", f"p99 {ms(e['p99'])} end to end at {n} subscribers, {lost} lost",
                             "p99 ≤ 100 ms, 0 lost", e["p99"] <= GOAL_S and lost == 0))
    result.data = {"end_to_end": e, "from_publish": p, "patch": patch, "lost": lost, "out_of_order": bad_order,
                   "closed_early": closed, "open_s": open_s, "subscribers": n, "updates": expected,
                   "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "other_load": other}
    if lost:
        result.problems.append(f"{lost} events lost")
    if bad_order:
        result.problems.append(f"{bad_order} events out of order")
    if closed:
        result.problems.append(f"{closed} sockets closed early")
    return result


def _count_events(sub: Subscriber) -> int:
    return sum(1 for _, raw in sub.frames if raw.startswith('{"type":"event"'))


def _analyse(subs: list[Subscriber], sent: list[float], expected: int
             ) -> tuple[dict[str, list[float]], dict[str, list[float]], int, int, int]:
    e2e: list[float] = []
    from_publish: list[float] = []
    lost = bad_order = closed = 0
    for sub in subs:
        if sub.closed_early:
            closed += 1
        last = sub.start_seq
        seen: set[int] = set()
        for recv, raw in sub.frames:
            frame = json.loads(raw)
            if frame.get("type") != "event":
                continue
            seq = frame["seq"]
            if seq != last + 1 and frame.get("seq_from", seq) > last + 1:
                bad_order += 1
            last = max(last, seq)
            if frame["name"] != "project.updated":
                continue
            name = frame["data"]["resource"]["name"]
            if not name.startswith("fan-"):
                continue
            i = int(name[4:])
            if i in seen:
                raise BenchError(f"update {i} delivered twice to one socket")
            seen.add(i)
            e2e.append(recv - sent[i])
            from_publish.append(recv - parse_iso(frame["ts"]))
        lost += expected - len(seen)
    return {"values": e2e}, {"values": from_publish}, lost, bad_order, closed
