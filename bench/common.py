"""Shared pieces of the benchmarks: the server subprocess, memory and CPU readings, statistics, tables.

The server is the real `python run.py serve`, started as a subprocess; nothing here imports its modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


_t0 = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr (the tables go to stdout)."""
    print(f"[{time.perf_counter() - _t0:6.1f}s] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A benchmark could not do what it measures (a failed request, a lost event, a dead server)."""


@dataclass
class Config:
    """What to run and how big; `--quick` shrinks every count and duration."""

    quick: bool = False
    tokens_per_s: float = 50.0
    agent_processes: int = 0  # 0: the server's default (one per core)
    loop_runs: tuple[int, ...] = (0, 16, 64)
    many_runs: int = 256  # issue 11: one more loop-health row on a machine with at least many_runs_cores cores
    many_runs_cores: int = 8
    loop_seconds: float = 10.0
    probe_interval_s: float = 0.01
    prompt: str = "list the requirements"
    stagger_s: float = 2.0  # chats start their first run at random within this window (steady load)
    requirements: int = 30
    rest_seconds: float = 5.0
    rest_concurrency: int = 16
    fanout_subscribers: int = 1000
    fanout_updates: int = 100
    fanout_interval_s: float = 0.1
    stream_runs: int = 64
    stream_seconds: float = 10.0
    connections: int = 5000
    startup_repeats: int = 3

    @classmethod
    def quick_config(cls, **overrides: Any) -> Config:
        base = dict(quick=True, loop_runs=(0, 16), loop_seconds=2.0, rest_seconds=0.75, fanout_subscribers=200,
                    fanout_updates=20, stream_runs=16, stream_seconds=2.0, connections=500, startup_repeats=1,
                    requirements=8, stagger_s=0.5)
        base.update(overrides)
        return cls(**base)


# --- processes -----------------------------------------------------------------------------------

def raise_nofile() -> int:
    """Raise this process's open-files soft limit to the hard limit (thousands of sockets); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the load generator's own garbage collector out of a measurement (its pauses are not the server's)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(cfg: Config, **extra: str) -> dict[str, str]:
    """The server's environment: no inherited CHATSVC_* settings, cheap bcrypt, the chosen pacing, no quotas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSVC_")}
    env.update(
        CHATSVC_BCRYPT_ROUNDS="4",
        CHATSVC_OFFLINE_TOKENS_PER_S=f"{cfg.tokens_per_s:g}",
        CHATSVC_LOG_LEVEL="WARNING",
        # The fan-out and connection rows open hundreds of sockets per benchmark user (the default quota is 50),
        # the streaming rows run 16–64 replies per user (the default quota is 8).
        CHATSVC_MAX_SOCKETS_PER_USER="100000",
        CHATSVC_MAX_RUNS_PER_USER="100000",
        CHATSVC_REGISTRATIONS_PER_IP="100000",
        PYTHONUNBUFFERED="1",
    )
    if cfg.agent_processes:
        env["CHATSVC_AGENT_PROCESSES"] = str(cfg.agent_processes)
    env.update(extra)
    return env


class Server:
    """`python run.py serve` as a subprocess on a free loopback port and a temporary data dir."""

    script = "run.py"  # what to run (a diagnostic wrapper may stand in for it)

    def __init__(self, cfg: Config, *, data_dir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="chatsvc-bench-")
        self.data_dir = data_dir or Path(self._tmp.name) / "data"  # type: ignore[union-attr]
        self.env = env or server_env(cfg)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.start_s = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 60.0) -> float:
        """Start the process; return the seconds from spawning it to the first /healthz 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        cmd = [sys.executable, self.script, "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir)]
        t0 = time.perf_counter()
        # Its own session: a Ctrl-C on the benchmark reaches us, and we stop the server in order.
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = t0 + timeout
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            while True:
                if self.proc.poll() is not None:
                    raise BenchError(f"the server exited during start-up:\n{self.log_tail()}")
                try:
                    async with session.get(f"{self.base}/healthz",
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            break
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                if time.perf_counter() > deadline:
                    raise BenchError(f"the server did not answer /healthz within {timeout:g} s")
                await asyncio.sleep(0.005)
        self.start_s = time.perf_counter() - t0
        return self.start_s

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGINT (graceful shutdown), then SIGKILL after `timeout`; return the exit code."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        loop = asyncio.get_running_loop()
        try:
            code = await loop.run_in_executor(None, proc.wait, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = await loop.run_in_executor(None, proc.wait)
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def tracebacks(self) -> int:
        return self.log_text().count("Traceback (most recent call last)")

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.stop()
        finally:
            self.cleanup()


# --- memory --------------------------------------------------------------------------------------

def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident set size of one process (VmRSS), KiB."""
    return _status_kib(pid, "VmRSS")


def pss_kib(pid: int) -> int:
    """Proportional set size of one process (shared pages split between sharers), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (agent workers, their fork server)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def memory(pid: int) -> dict[str, int]:
    """The server's RSS, and RSS and PSS of it plus its child processes, KiB."""
    tree = [pid, *descendants(pid)]
    return {"rss": rss_kib(pid), "tree_rss": sum(rss_kib(p) for p in tree),
            "tree_pss": sum(pss_kib(p) for p in tree), "processes": len(tree)}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time one process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU time every core of the machine spent not idle, since boot."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU used during a measurement: by the benchmark's processes, and by anything else on the machine.

    Other engineers' test runs share this machine; `other` says how much of it they took meanwhile, so a
    noisy figure can be recognised as such.
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = sorted({os.getpid(), *pids})
        self.t0 = time.perf_counter()
        self.busy0 = _machine_busy_seconds()
        self.cpu0 = {pid: cpu_seconds(pid) for pid in self.pids}

    def stop(self) -> dict[str, float]:
        """Cores used on average: {ours, other, seconds}."""
        seconds = time.perf_counter() - self.t0
        ours = sum(cpu_seconds(pid) - self.cpu0[pid] for pid in self.pids)
        busy = _machine_busy_seconds() - self.busy0
        return {"ours": ours / seconds, "other": max(0.0, busy - ours) / seconds, "seconds": seconds}


def machine() -> dict[str, Any]:
    """Cores, memory, load and software versions of the machine the numbers come from."""
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except FileNotFoundError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "platform": sys.platform,
    }


# --- statistics and tables ------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
            "max": max(values) if values else float("nan"),
            "mean": sum(values) / len(values) if values else float("nan")}


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    return f"{seconds * 1000:.1f} ms"


def kib(value: float) -> str:
    if value >= 10 * 1024:
        return f"{value / 1024:.0f} MiB"
    return f"{value:.1f} KiB"


@dataclass
class Table:
    """One printed table (GitHub Markdown, so it pastes into RESULTS.md as is)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[str(c) for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]

        def line(row: list[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |"

        out = [f"### {self.title}", "", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in cells[1:]]
        if self.notes:
            out.append("")
            out += [f"{n}" for n in self.notes]
        return "\n".join(out)


@dataclass
class Goal:
    """One goal of DESIGN §12 beside the figure measured for it."""

    benchmark: str
    figure: str
    goal: str
    met: bool


@dataclass
class Result:
    """What one benchmark found: its tables, its goals, and whether it ran cleanly (no errors, no loss)."""

    name: str
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # errors and lost events: the run fails
    warnings: list[str] = field(default_factory=list)  # worth reading, never fails the run
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


async def start_app(module: str, *args: str, probe: str = "/") -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m module PORT *args` and wait until `probe` answers 200."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, str(port), *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(base + probe) as resp:
                    if resp.status == 200:
                        return proc, base
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                why = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise BenchError(f"{module} did not start (for the seed replica: pip install -e '.[bench]')\n{why}")
            await asyncio.sleep(0.05)
