"""Connections: 5000 idle authenticated websockets; server memory per connection and time to open them.

Each socket authenticates with a bearer token at the upgrade, reads `welcome` and subscribes to its
user's topic (what every browser tab does first), then stays idle. The server's resident memory is read
from /proc before (after a warm-up of a few sockets) and after; the difference divided by the count is
the cost of one idle connection. Goal: ≤ 30 KiB each at 5000.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.client import Api, User, Ws, client_session
from bench.common import BenchError, Config, Goal, Result, Server, Table, kib, memory, ms, stats

GOAL_KIB = 30.0


async def _open(session: aiohttp.ClientSession, base: str, user: User, times: list[float]) -> Ws:
    t0 = time.perf_counter()
    ws = await Ws.open(session, base, user)
    await ws.op("subscribe", topic=f"user:{user.id}")
    times.append(time.perf_counter() - t0)
    return ws


async def _drain(ws: Ws) -> None:
    """Keep reading (answers the server's heartbeat pings) until the socket closes."""
    async for _msg in ws.ws:
        pass


async def run(cfg: Config) -> Result:
    result = Result("connections")
    count = cfg.connections
    server = Server(cfg)
    await server.start()
    sockets: list[Ws] = []
    readers: list[asyncio.Task[None]] = []
    try:
        async with client_session() as session:
            api = Api(session, server.base)
            users = [await api.user("idle") for _ in range(10)]
            warm: list[float] = []
            warmup = [await _open(session, server.base, users[i % 10], warm) for i in range(50)]
            await asyncio.gather(*(w.close() for w in warmup))
            await asyncio.sleep(1.0)
            before = memory(server.pid)
            times: list[float] = []
            gate = asyncio.Semaphore(100)

            async def one(i: int) -> Ws:
                async with gate:
                    return await _open(session, server.base, users[i % len(users)], times)

            t0 = time.perf_counter()
            opened = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
            open_s = time.perf_counter() - t0
            failures = [o for o in opened if isinstance(o, BaseException)]
            sockets = [o for o in opened if isinstance(o, Ws)]
            if failures:
                result.problems.append(f"{len(failures)} of {count} sockets failed to open: {failures[0]!r}")
            readers = [asyncio.get_running_loop().create_task(_drain(ws)) for ws in sockets]
            await asyncio.sleep(2.0)
            after = memory(server.pid)
            live = await api.metric("chatsvc_websockets")
            if live != len(sockets):
                result.problems.append(f"the server counts {live:.0f} open sockets, expected {len(sockets)}")
            closed = sum(1 for ws in sockets if ws.ws.closed)
            if closed:
                result.problems.append(f"{closed} idle sockets were closed by the server")
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            await asyncio.sleep(1.0)
            after_close = memory(server.pid)
    finally:
        for task in readers:
            task.cancel()
        await server.stop()
        if server.tracebacks():
            result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
        server.cleanup()
    if not sockets:
        raise BenchError("no socket opened")
    per_conn = (after["rss"] - before["rss"]) / len(sockets)
    handshake = stats(times)
    table = Table(f"5. Connections — {len(sockets)} idle authenticated websockets",
                  ["measure", "value", "goal"])
    table.rows.append(["server RSS before → with the sockets open",
                       f"{before['rss'] / 1024:.0f} → {after['rss'] / 1024:.0f} MiB", ""])
    table.rows.append(["memory per idle socket", kib(per_conn), f"≤ {GOAL_KIB:g} KiB"])
    table.rows.append(["time to open them all (100 at a time)", f"{open_s:.1f} s "
                       f"({len(sockets) / open_s:.0f}/s)", ""])
    table.rows.append(["one socket: upgrade + welcome + subscribe, p50 / p99", f"{ms(handshake['p50'])} / "
                       f"{ms(handshake['p99'])}", ""])
    table.rows.append(["server RSS after closing them", f"{after_close['rss'] / 1024:.0f} MiB", ""])
    table.notes.append("RSS from /proc/<pid>/status of the server process (its agent workers hold no sockets). "
                       "Each socket: bearer auth at the upgrade, `welcome`, one `subscribe` to its user's topic.")
    result.tables.append(table)
    result.goals.append(Goal("connections", f"{kib(per_conn)} per idle socket at {len(sockets)}",
                             "≤ 30 KiB each at 5000", per_conn <= GOAL_KIB))
    result.data = {"before": before, "after": after, "after_close": after_close, "per_conn_kib": per_conn,
                   "open_s": open_s, "handshake": handshake, "count": len(sockets)}
    return result
