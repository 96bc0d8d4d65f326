"""REST throughput: authenticated GET /projects/{id} and POST /projects/{id}/artifacts beside what a user would
pick instead (the seed's design: bench.seed_replica, FastAPI over a sync SQLAlchemy session, no auth) and a
bare aiohttp app (bench.hello), measured side by side with the same client and concurrency (DESIGN §12).

Goals (issue 11): the authenticated GET ≥ 3 × the seed replica's unauthenticated GET and ≥ 15 % of bare
aiohttp; the POST ≥ 10 % of the bare JSON echo. Every app runs as its own process like the server. Each target
gets a warm-up, then a closed-loop measurement; the server's own CPU use during it is read from /proc so the
table shows who was the bottleneck.
"""

from __future__ import annotations

import subprocess
import tempfile
from typing import Any

from bench.client import API, Api, client_session
from bench.common import Config, Goal, Result, Server, Table, cpu_seconds, ms, percentile, start_app
from bench.httpload import CLIENTS

GET_VS_SEED = 3.0
GET_VS_BARE = 0.15
POST_VS_BARE = 0.10
NOTE_BODY = {"type": "note", "name": "Bench note", "content": {"text": "A short note written by the benchmark.",
                                                               "tags": ["bench", "rest"]}}


async def measure(client: str, pid: int, url: str, method: str, headers: dict[str, str], body: Any,
                  cfg: Config) -> dict[str, Any]:
    load = CLIENTS[client]
    await load(url, method, headers, body, cfg.rest_concurrency, min(1.0, cfg.rest_seconds / 3))  # warm-up
    cpu0 = cpu_seconds(pid)
    out = await load(url, method, headers, body, cfg.rest_concurrency, cfg.rest_seconds)
    out["server_cpu"] = (cpu_seconds(pid) - cpu0) / out["seconds"]
    return out


async def run(cfg: Config) -> Result:
    result = Result("rest")
    seed_db = tempfile.TemporaryDirectory(prefix="chatsvc-seed-")
    hello, hello_base = await start_app("bench.hello")
    seed, seed_base = await start_app("bench.seed_replica", f"{seed_db.name}/seed.db", probe="/items/1")
    server = Server(cfg)
    try:
        await server.start()
        async with client_session() as session:
            api = Api(session, server.base)
            owner = await api.user("rest")
            project = await api.project(owner)
        get, post = "bare aiohttp `GET /` (hello)", "bare aiohttp `POST /echo` (JSON)"
        seed_get, seed_post = "seed replica `GET /items/{id}` (no auth)", "seed replica `POST /items` (no auth)"
        our_get, our_post = "chatsvc `GET /projects/{id}`", "chatsvc `POST /projects/{id}/artifacts`"
        targets = [
            (get, hello.pid, hello_base + "/", "GET", {}, None),
            (seed_get, seed.pid, seed_base + "/items/1", "GET", {}, None),
            (our_get, server.pid, f"{server.base}{API}/projects/{project['id']}", "GET", owner.headers, None),
            (post, hello.pid, hello_base + "/echo", "POST", {}, NOTE_BODY),
            (seed_post, seed.pid, seed_base + "/items", "POST", {}, {"name": "Bench item", "description": "x"}),
            (our_post, server.pid, f"{server.base}{API}/projects/{project['id']}/artifacts", "POST", owner.headers,
             NOTE_BODY),
        ]
        # (ours, baseline, least ratio): what each goal compares.
        goals = {our_get: [(seed_get, GET_VS_SEED), (get, GET_VS_BARE)], our_post: [(post, POST_VS_BARE)]}
        table = Table("2. REST throughput — chatsvc vs the seed's design and a bare aiohttp app (same client, "
                      "same concurrency)",
                      ["client", "target", "requests/s", "p50", "p99", "server CPU", "client CPU",
                       "chatsvc / baseline", "goal"])
        for client in ("raw", "aiohttp"):
            figures: dict[str, dict[str, Any]] = {}
            for label, pid, url, method, headers, body in targets:
                out = await measure(client, pid, url, method, headers, body, cfg)
                if out["errors"]:
                    result.problems.append(f"{client} {label}: {out['errors']} requests failed")
                figures[label] = out
            for label, *_rest in targets:
                out = figures[label]
                ratios, wanted = [], []
                for baseline, least in goals.get(label, []):
                    base_rps = figures[baseline]["rps"]
                    ratio = out["rps"] / base_rps if base_rps else 0.0
                    what = "seed" if baseline.startswith("seed") else "bare"
                    ratios.append(f"{ratio:.2f}× {what}" if what == "seed" else f"{ratio:.0%} of {what}")
                    wanted.append(f"≥ {least:g}× seed" if what == "seed" else f"≥ {least:.0%} of bare")
                    result.goals.append(Goal("REST throughput", f"{label.split(' ', 1)[1]}: {out['rps']:.0f}/s = "
                                             f"{ratios[-1]} ({base_rps:.0f}/s), {client} client", wanted[-1],
                                             ratio >= least))
                table.rows.append([client, label, f"{out['rps']:.0f}", ms(percentile(out["latencies"], 50)),
                                   ms(percentile(out["latencies"], 99)), f"{out['server_cpu']:.0%}",
                                   f"{out['client_cpu']:.0%}", "; ".join(ratios), "; ".join(wanted)])
                result.data[f"{client}:{label}"] = {k: v for k, v in out.items() if k != "latencies"}
        table.notes.append(f"{cfg.rest_concurrency} keep-alive connections, {cfg.rest_seconds:g} s per row after a "
                           "warm-up; bearer token auth on chatsvc, none on the others. CPU columns: share of one "
                           "core. The seed replica is FastAPI + uvicorn with async endpoints over a synchronous "
                           "SQLAlchemy session on SQLite (bench/seed_replica.py).")
        result.tables.append(table)
    finally:
        for proc in (hello, seed):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        seed_db.cleanup()
        await server.stop()
        if server.tracebacks():
            result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
        server.cleanup()
    return result
