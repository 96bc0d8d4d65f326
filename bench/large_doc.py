"""Large documents: REST GET latency while a big requirements document is created, tested and covered (DESIGN §12).

A probe process of its own sends an authenticated `GET /projects/{id}` every 20 ms on one keep-alive
connection from before the first phase to after the last, so its latency is the server's, not this
process's (which encodes a 2 MiB body and decodes the answers). Phases, one after the other:

- idle: nothing else happens;
- create: `POST /projects/{id}/document-versions` with a Markdown document of numbered `REQ-n`
  requirements just under the server's limit (2 MiB of UTF-8; ~256 KiB with --quick);
- generate: `POST /bot/test-cases` for that document, until the task ends;
- coverage: `POST /bot/coverage`, until the task ends;
- read suite: `GET /artifacts/{id}` of the generated test suite (tens of MB of JSON);
- edit a case: `PATCH /artifacts/{id}/test-cases/{tc_id}` of one case of that suite, three times;
- replace suite: `PATCH /artifacts/{id}` replacing that suite's whole content with its first cases (one
  retitled), a body just under the server's 4 MiB JSON limit: each case's revision is made against the
  stored suite.

Each GET counts in the phase during which it was sent. Goal: GET max ≤ 100 ms in every phase.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.chatload import one_run
from bench.client import API, Api, User, client_session
from bench.common import (
    BenchError,
    Config,
    CpuWindow,
    Goal,
    Result,
    Server,
    Table,
    cpu_seconds,
    descendants,
    gc_paused,
    ms,
    progress,
    stats,
)

GOAL_MAX_S = 0.100
PROBE_INTERVAL_S = 0.02
FULL_BYTES = 2 * 1024 * 1024  # the server's document limit (chatsvc.schemas.documents.MAX_CONTENT_BYTES)
QUICK_BYTES = 256 * 1024
IDLE_S = 2.0  # 1 s with --quick
TASK_TIMEOUT_S = 240.0
POLL_S = 0.25
PHASES = ("idle", "create", "generate", "coverage", "read suite", "edit a case", "replace suite")
REPLACE_BYTES = 3_900_000  # a whole-content PATCH body just under the server's JSON body limit (4 MiB)
REPLACE_CASES = 5000  # the most cases a content written through the API may hold
COMPONENTS = ("billing service", "audit log", "login page", "report exporter", "search index", "API gateway")


def document(limit: int) -> tuple[str, int]:
    """Markdown with numbered requirements (sections of 50), at most `limit` UTF-8 bytes; return (text, count).

    Six in ten record something, three in ten carry a numeric limit (boundary test cases), one in ten
    is a prohibition (a negative case), so generation writes a realistic mix.
    """
    lines = ["# Large requirements document", ""]
    size = sum(len(line) + 1 for line in lines)
    count = 0
    while True:
        i = count + 1
        line = f"\n## Area {i // 50 + 1}\n" if i % 50 == 1 else ""
        component = COMPONENTS[i % len(COMPONENTS)]
        kind = i % 10
        if kind < 6:
            line += f"- REQ-{i}: The {component} shall record event kind {i} for every signed-in user."
        elif kind < 9:
            line += f"- REQ-{i}: The {component} shall answer query {i} within {i % 90 + 10} milliseconds."
        else:
            line += f"- REQ-{i}: The {component} shall not expose field {i} to anonymous callers."
        if size + len(line.encode()) + 1 > limit:
            return "\n".join(lines) + "\n", count
        lines.append(line)
        size += len(line.encode()) + 1
        count = i


# --- the probe process ---------------------------------------------------------------------------

def probe_main(pipe: Connection, url: str, headers: dict[str, str], interval: float) -> None:
    """Process entry point: GET `url` every `interval` s until told to stop; send back (sent_at, latency, ok)."""
    asyncio.run(_probe(pipe, url, headers, interval))


async def _probe(pipe: Connection, url: str, headers: dict[str, str], interval: float) -> None:
    samples: list[tuple[float, float, bool]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(pipe.fileno(), stop.set)  # any message means stop
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.get(url, headers=headers) as resp:  # open the keep-alive connection
            await resp.read()
        pipe.send("ready")
        with gc_paused():
            tick = time.monotonic()
            while not stop.is_set():
                now = time.monotonic()
                if tick > now:
                    try:
                        await asyncio.wait_for(stop.wait(), tick - now)
                        break
                    except TimeoutError:
                        pass
                t0 = time.monotonic()
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                samples.append((t0, time.monotonic() - t0, ok))
                tick = max(tick + interval, time.monotonic())
    loop.remove_reader(pipe.fileno())
    pipe.recv()
    pipe.send(samples)


class Probe:
    """The parent's handle on the probe process."""

    def __init__(self, url: str, headers: dict[str, str], interval: float) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.process = ctx.Process(target=probe_main, name="bench-largedoc-probe", daemon=True,
                                   args=(child, url, headers, interval))
        self.process.start()
        child.close()

    async def _recv(self, timeout: float) -> Any:
        if not await asyncio.get_running_loop().run_in_executor(None, self.pipe.poll, timeout):
            raise BenchError("the probe process did not answer in time")
        return self.pipe.recv()

    async def ready(self) -> None:
        await self._recv(60)

    async def stop(self) -> list[tuple[float, float, bool]]:
        try:
            self.pipe.send("stop")
            samples: list[tuple[float, float, bool]] = await self._recv(60)
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 10)
            return samples
        finally:
            if self.process.is_alive():
                self.process.kill()


# --- the phases ----------------------------------------------------------------------------------

async def wait_task(api: Api, user: User, task_id: str) -> dict[str, Any]:
    """Poll a task until it ends; return its JSON."""
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while time.monotonic() < deadline:
        task: dict[str, Any] = await api.call("GET", f"/tasks/{task_id}", user=user)
        if task["status"] not in ("queued", "running"):
            return task
        await asyncio.sleep(POLL_S)
    raise BenchError(f"task {task_id} did not end within {TASK_TIMEOUT_S:g} s")


async def post_raw(api: Api, path: str, body: bytes, user: User) -> dict[str, Any]:
    """POST an already encoded JSON body (this process's loop is not the measurement, but keep it quick)."""
    headers = {**user.headers, "Content-Type": "application/json"}
    async with api.session.post(api.base + API + path, data=io.BytesIO(body), headers=headers) as resp:
        raw = await resp.read()
        if resp.status != 201:
            raise BenchError(f"POST {path} answered {resp.status}: {raw[:300]!r}")
    answer: dict[str, Any] = await asyncio.to_thread(json.loads, raw)
    return answer


async def get_big(api: Api, path: str, user: User) -> dict[str, Any]:
    """GET a big JSON answer; return its size, the id of its first test case and a whole-content PATCH body
    of its first cases (decoded and encoded on a thread here)."""
    async with api.session.get(api.base + API + path, headers=user.headers) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise BenchError(f"GET {path} answered {resp.status}: {raw[:300]!r}")
    answer: dict[str, Any] = await asyncio.to_thread(json.loads, raw)
    cases = answer["content"]["test_cases"]
    return {"bytes": len(raw), "first_case": cases[0]["id"],
            "replacement": await asyncio.to_thread(replacement_body, cases)}


def replacement_body(cases: list[dict[str, Any]]) -> bytes:
    """A PATCH body replacing a suite with as many of its first cases as fit in REPLACE_BYTES (and the 5000 a
    suite written by hand may hold), one retitled."""
    kept, size = [], 64
    for case in cases[:REPLACE_CASES]:
        size += len(json.dumps(case)) + 1
        if size > REPLACE_BYTES:
            break
        kept.append(case)
    kept[0] = {**kept[0], "title": "Replaced"}
    return json.dumps({"content": {"test_cases": kept}}).encode()


async def replace_suite(api: Api, suite_id: str, body: bytes, user: User) -> None:
    """Replace a suite's whole content (PATCH /artifacts/{id})."""
    headers = {**user.headers, "Content-Type": "application/json"}
    async with api.session.patch(f"{api.base}{API}/artifacts/{suite_id}", data=io.BytesIO(body),
                                 headers=headers) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise BenchError(f"PATCH /artifacts/{suite_id} answered {resp.status}: {raw[:300]!r}")


async def edit_cases(api: Api, suite_id: str, tc_id: str, user: User, times: int = 3) -> None:
    """Change one case's title a few times, as a person editing it would (each a whole-suite write)."""
    for n in range(times):
        await api.call("PATCH", f"/artifacts/{suite_id}/test-cases/{tc_id}", {"title": f"Edited {n + 1}"}, user)


async def run(cfg: Config) -> Result:
    result = Result("largedoc")
    limit = QUICK_BYTES if cfg.quick else FULL_BYTES
    text, count = await asyncio.to_thread(document, limit)
    body = await asyncio.to_thread(lambda: json.dumps({"title": "Large spec", "content": text}).encode())
    size = len(text.encode())
    table = Table(f"Large document — authenticated REST GET every {PROBE_INTERVAL_S * 1000:g} ms while a "
                  f"{size / 1024:.0f} KiB document is created, tested and covered",
                  ["phase", "took", "GETs", "GET p50", "GET p99", "GET max", "server CPU", "workers CPU", "other load",
                   "goal"])
    server = Server(cfg)
    await server.start()
    marks: dict[str, tuple[float, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    facts: dict[str, Any] = {"document_bytes": size, "requirements_written": count}
    probe: Probe | None = None
    try:
        async with client_session() as session:
            api = Api(session, server.base)
            owner = await api.user("owner")
            project = await api.project(owner, "Large document")
            chat = await api.chat(owner, project["id"], "Warm-up")
            # The first run starts the agent worker processes: not part of any phase.
            await one_run(session, server.base, owner, chat["id"], "help")
            probe = Probe(f"{server.base}{API}/projects/{project['id']}", owner.headers, PROBE_INTERVAL_S)
            await probe.ready()

            async def phase(name: str, work: Any) -> Any:
                workers0 = {pid: cpu_seconds(pid) for pid in descendants(server.pid)}
                window = CpuWindow([server.pid, *workers0])
                server0 = cpu_seconds(server.pid)
                t0 = time.monotonic()
                try:
                    return await work
                finally:
                    marks[name] = (t0, time.monotonic())
                    used = window.stop()  # (a worker started meanwhile counts in "workers", not in "other")
                    workers = sum(cpu_seconds(pid) - workers0.get(pid, 0.0) for pid in descendants(server.pid))
                    cpu[name] = {"server": (cpu_seconds(server.pid) - server0) / used["seconds"],
                                 "workers": workers / used["seconds"], "other": used["other"]}
                    progress(f"largedoc: {name} took {marks[name][1] - t0:.1f} s")

            await phase("idle", asyncio.sleep(IDLE_S / 2 if cfg.quick else IDLE_S))
            version = await phase("create", post_raw(api, f"/projects/{project['id']}/document-versions", body,
                                                     owner))
            facts["requirements_extracted"] = version["requirement_count"]

            async def task(kind: str) -> dict[str, Any]:
                path = "/bot/test-cases" if kind == "generate" else "/bot/coverage"
                started = await api.call("POST", path, {"project_id": project["id"]}, owner)
                return await wait_task(api, owner, started["task_id"])

            generated = await phase("generate", task("generate"))
            covered = await phase("coverage", task("coverage"))
            suite_id = (generated.get("result") or {}).get("artifact_id")
            if suite_id is None:
                raise BenchError(f"test generation made no suite: {generated}")
            suite = await phase("read suite", get_big(api, f"/artifacts/{suite_id}", owner))
            facts["suite_bytes"] = suite["bytes"]
            await phase("edit a case", edit_cases(api, suite_id, suite["first_case"], owner))
            facts["replacement_bytes"] = len(suite["replacement"])
            await phase("replace suite", replace_suite(api, suite_id, suite["replacement"], owner))
            samples = await probe.stop()
            probe = None
    finally:
        if probe is not None:
            await probe.stop()
        await server.stop()
        if server.tracebacks():
            result.warnings.append(f"server logged {server.tracebacks()} tracebacks:\n{server.log_tail()}")
        server.cleanup()

    for name, task_json in (("generate", generated), ("coverage", covered)):
        if task_json["status"] != "succeeded":
            result.problems.append(f"{name} task ended {task_json['status']}: {task_json.get('error')}")
    facts["test_cases"] = (generated.get("result") or {}).get("test_case_count")
    facts["coverage_pct"] = (covered.get("result") or {}).get("coverage_pct")
    if facts["requirements_extracted"] != count:
        result.problems.append(f"{count} requirements written, {facts['requirements_extracted']} extracted")
    failed = sum(1 for _t, _lat, ok in samples if not ok)
    if failed:
        result.problems.append(f"{failed} probe GETs failed")
    worst = 0.0
    for name in PHASES:
        start, end = marks[name]
        lat = stats([latency for sent, latency, _ok in samples if start <= sent < end])
        worst = max(worst, lat["max"]) if lat["n"] else worst
        table.rows.append([name, f"{end - start:.1f} s", lat["n"], ms(lat["p50"]), ms(lat["p99"]), ms(lat["max"]),
                           f"{cpu[name]['server']:.0%}", f"{cpu[name]['workers']:.0%}", f"{cpu[name]['other']:.0%}",
                           f"≤ {GOAL_MAX_S * 1000:g} ms max"])
        result.data[name] = {"seconds": end - start, "get": lat, "cpu": cpu[name]}
    result.data["facts"] = facts
    result.goals.append(Goal("large document", f"GET max {ms(worst)} over every phase "
                             f"({size / 1024:.0f} KiB document)", f"≤ {GOAL_MAX_S * 1000:g} ms", worst <= GOAL_MAX_S))
    table.notes.append(
        f"Document: {size} bytes of Markdown (server limit {FULL_BYTES} bytes), {count} requirements "
        f"({facts['requirements_extracted']} extracted); {facts['test_cases']} test cases generated; coverage "
        f"{facts['coverage_pct']} %; the suite read back is {facts.get('suite_bytes', 0) / 1048576:.1f} MiB of "
        f"JSON, replaced by a PATCH of {facts.get('replacement_bytes', 0) / 1048576:.1f} MiB. Probe: its own "
        "process and keep-alive connection. CPU columns: share of one "
        "core used by the server process and by its agent worker processes during the phase; \"other load\": "
        "CPU used meanwhile by processes outside the benchmark (this machine is shared).")
    result.tables.append(table)
    return result
