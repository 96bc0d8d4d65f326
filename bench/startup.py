"""Start-up: process start to the first `/healthz` 200, and resident memory idle and after the first run.

"Cold" starts on an empty data dir (the secret key is generated and every migration applied); "warm"
starts again on that data dir, as a restart does. The clock starts just before the process is spawned, so
the interpreter's own start-up counts. Then one chat run (offline model) shows the price of the first
agent run: the worker processes start and import langchain/langgraph. Goal: start ≤ 1.5 s.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bench.chatload import one_run
from bench.client import Api, client_session
from bench.common import Config, Goal, Result, Server, Table, memory, ms

GOAL_S = 1.5


async def run(cfg: Config) -> Result:
    result = Result("startup")
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="chatsvc-bench-start-") as tmp:
        for i in range(cfg.startup_repeats):
            server = Server(cfg, data_dir=Path(tmp) / f"cold{i}" / "data")
            try:
                cold.append(await server.start())
            finally:
                await server.stop()
        data_dir = Path(tmp) / f"cold{cfg.startup_repeats - 1}" / "data"
        for _ in range(cfg.startup_repeats - 1):
            server = Server(cfg, data_dir=data_dir)
            try:
                warm.append(await server.start())
            finally:
                await server.stop()
        server = Server(cfg, data_dir=data_dir)  # the last warm start also gives the memory figures
        try:
            warm.append(await server.start())
            await asyncio.sleep(0.5 if cfg.quick else 1.0)
            idle = memory(server.pid)
            async with client_session() as session:
                api = Api(session, server.base)
                user = await api.user("first")
                chat = await api.chat(user, None)
                first = await one_run(session, server.base, user, chat["id"], "help")
                await asyncio.sleep(1.0)
                after_first = memory(server.pid)
                second = await one_run(session, server.base, user, chat["id"], "help")
        finally:
            await server.stop()
            if server.tracebacks():
                result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
    table = Table("6. Start-up — process start to /healthz OK, and memory", ["measure", "value", "goal"])
    table.rows.append([f"cold start (empty data dir: key, migrations), {len(cold)}×",
                       " / ".join(f"{s:.2f} s" for s in cold), f"≤ {GOAL_S:g} s"])
    table.rows.append([f"warm start (existing data dir), {len(warm)}×", " / ".join(f"{s:.2f} s" for s in warm),
                       f"≤ {GOAL_S:g} s"])
    table.rows.append(["RSS idle (server process)", f"{idle['rss'] / 1024:.0f} MiB", ""])
    table.rows.append([f"RSS after the first agent run: server / all {after_first['processes']} processes (PSS)",
                       f"{after_first['rss'] / 1024:.0f} MiB / {after_first['tree_pss'] / 1024:.0f} MiB", ""])
    table.rows.append(["first run (workers start): to first delta / to completed",
                       f"{ms(first['first_delta_s'])} / {first['total_s']:.2f} s", ""])
    table.rows.append(["second run: to first delta / to completed",
                       f"{ms(second['first_delta_s'])} / {second['total_s']:.2f} s", ""])
    table.notes.append(f"Offline model at {cfg.tokens_per_s:g} tokens/s; prompt \"help\" (no tool call). "
                       "PSS counts pages shared between the server and its workers once.")
    result.tables.append(table)
    worst = max(cold + warm)
    result.goals.append(Goal("start-up", f"cold {max(cold):.2f} s, warm {max(warm):.2f} s (worst of each)",
                             "≤ 1.5 s", worst <= GOAL_S))
    result.data = {"cold_s": cold, "warm_s": warm, "idle": idle, "after_first_run": after_first,
                   "first_run": first, "second_run": second}
    return result
