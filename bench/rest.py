"""REST throughput: authenticated GET /projects/{id} and POST /projects/{id}/artifacts against a bare aiohttp
app on the same machine, measured side by side with the same client and concurrency (DESIGN §12).

Goal: chatsvc ≥ 40 % of the bare figure. The bare app (bench.hello) runs as its own process like the
server. Each target gets a warm-up, then a closed-loop measurement; the server's own CPU use during it is
read from /proc so the table shows who was the bottleneck.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import aiohttp

from bench.client import API, Api, client_session
from bench.common import ROOT, BenchError, Config, Goal, Result, Server, Table, cpu_seconds, free_port, ms, percentile
from bench.httpload import CLIENTS

GOAL = 0.40
NOTE_BODY = {"type": "note", "name": "Bench note", "content": {"text": "A short note written by the benchmark.",
                                                               "tags": ["bench", "rest"]}}


async def start_hello() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(base + "/") as resp:
                    if resp.status == 200:
                        return proc, base
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise BenchError("the bare aiohttp app did not start")
            await asyncio.sleep(0.05)


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
    hello, hello_base = await start_hello()
    server = Server(cfg)
    try:
        await server.start()
        async with client_session() as session:
            api = Api(session, server.base)
            owner = await api.user("rest")
            project = await api.project(owner)
        targets = [
            ("bare aiohttp `GET /` (hello)", hello.pid, hello_base + "/", "GET", {}, None),
            ("chatsvc `GET /projects/{id}`", server.pid, f"{server.base}{API}/projects/{project['id']}", "GET",
             owner.headers, None),
            ("bare aiohttp `POST /echo` (JSON)", hello.pid, hello_base + "/echo", "POST", {}, NOTE_BODY),
            ("chatsvc `POST /projects/{id}/artifacts`", server.pid,
             f"{server.base}{API}/projects/{project['id']}/artifacts", "POST", owner.headers, NOTE_BODY),
        ]
        table = Table("2. REST throughput — chatsvc vs a bare aiohttp app (same client, same concurrency)",
                      ["client", "target", "requests/s", "p50", "p99", "server CPU", "client CPU",
                       "chatsvc / bare", "goal"])
        for client in ("raw", "aiohttp"):
            figures: dict[str, dict[str, Any]] = {}
            for label, pid, url, method, headers, body in targets:
                out = await measure(client, pid, url, method, headers, body, cfg)
                if out["errors"]:
                    result.problems.append(f"{client} {label}: {out['errors']} requests failed")
                figures[label] = out
            for i, (label, *_rest) in enumerate(targets):
                out = figures[label]
                ratio_cell, goal_cell = "", ""
                if i % 2 == 1:
                    bare = figures[targets[i - 1][0]]
                    ratio = out["rps"] / bare["rps"] if bare["rps"] else 0.0
                    ratio_cell, goal_cell = f"{ratio:.0%}", f"≥ {GOAL:.0%}"
                    result.goals.append(Goal("REST throughput", f"{label.split(' ', 1)[1]}: {out['rps']:.0f}/s = "
                                             f"{ratio:.0%} of bare ({bare['rps']:.0f}/s), {client} client",
                                             "≥ 40 % of bare aiohttp", ratio >= GOAL))
                table.rows.append([client, label, f"{out['rps']:.0f}", ms(percentile(out["latencies"], 50)),
                                   ms(percentile(out["latencies"], 99)), f"{out['server_cpu']:.0%}",
                                   f"{out['client_cpu']:.0%}", ratio_cell, goal_cell])
                result.data[f"{client}:{label}"] = {k: v for k, v in out.items() if k != "latencies"}
        table.notes.append(f"{cfg.rest_concurrency} keep-alive connections, {cfg.rest_seconds:g} s per row after a "
                           "warm-up; bearer token auth on chatsvc. CPU columns: share of one core. The POST rows "
                           "are compared with the bare app's JSON echo (`POST` with the same body).")
        result.tables.append(table)
    finally:
        hello.terminate()
        try:
            hello.wait(10)
        except subprocess.TimeoutExpired:
            hello.kill()
        await server.stop()
        if server.tracebacks():
            result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
        server.cleanup()
    return result
