"""Run the benchmark suite: `python -m bench [--quick] [--only NAME,...]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any

from bench.common import Config, Result, Table, machine, raise_nofile

# name -> (module, seconds allowed in the full run, in --quick). The limits only stop a hung benchmark; they are
# generous so that a slow CI machine never fails on timing.
BENCHMARKS: dict[str, tuple[str, float, float]] = {
    "loop": ("bench.loop_health", 240, 90),
    "rest": ("bench.rest", 150, 90),
    "fanout": ("bench.fanout", 120, 90),
    "streaming": ("bench.streaming", 120, 90),
    "connections": ("bench.connections", 180, 90),
    "startup": ("bench.startup", 120, 90),
    "largedoc": ("bench.large_doc", 360, 120),
}
TOTAL_S = {False: 600.0, True: 300.0}  # the whole suite, full and --quick: no benchmark starts past it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, short phases (< 1 minute): a smoke test")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--tokens-per-s", type=float, help="offline model pacing per run (default 50)")
    parser.add_argument("--loop-runs", help="concurrent runs per loop-health row (default 0,16,64)")
    parser.add_argument("--probe-interval-ms", type=float, help="loop health: one GET every N ms (10)")
    parser.add_argument("--stream-runs", type=int, help="concurrent runs in the streaming benchmark (64)")
    parser.add_argument("--subscribers", type=int, help="fan-out websocket subscribers (1000)")
    parser.add_argument("--connections", type=int, help="idle websockets in the connections benchmark (5000)")
    parser.add_argument("--agent-processes", type=int, help="CHATSVC_AGENT_PROCESSES for the server (default: cores)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write the machine and tables as Markdown")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if args.tokens_per_s is not None:
        overrides["tokens_per_s"] = args.tokens_per_s
    if args.loop_runs:
        overrides["loop_runs"] = tuple(int(x) for x in args.loop_runs.split(","))
    if args.probe_interval_ms is not None:
        overrides["probe_interval_s"] = args.probe_interval_ms / 1000
    if args.stream_runs is not None:
        overrides["stream_runs"] = args.stream_runs
    if args.subscribers is not None:
        overrides["fanout_subscribers"] = args.subscribers
    if args.connections is not None:
        overrides["connections"] = args.connections
    if args.agent_processes is not None:
        overrides["agent_processes"] = args.agent_processes
    return Config.quick_config(**overrides) if args.quick else Config(**overrides)


async def run_one(name: str, cfg: Config, budget_s: float) -> Result:
    module_name, full_s, quick_s = BENCHMARKS[name]
    limit = min(quick_s if cfg.quick else full_s, budget_s)
    started = time.perf_counter()
    if limit < 5:
        return Result(name, problems=["not run: the suite's time budget is used up"])
    try:
        module = importlib.import_module(module_name)
        result = await asyncio.wait_for(module.run(cfg), limit)
    except TimeoutError:
        result = Result(name, problems=[f"did not finish within {limit:.0f} s"])
    except Exception as exc:
        result = Result(name, problems=[f"{type(exc).__name__}: {exc}", traceback.format_exc()])
    result.seconds = time.perf_counter() - started
    return result


def goals_table(results: list[Result]) -> Table:
    table = Table("Goals (DESIGN §12)", ["benchmark", "measured", "goal", "status"])
    for result in results:
        for goal in result.goals:
            table.rows.append([goal.benchmark, goal.figure, goal.goal, "met" if goal.met else "MISSED"])
    return table


def machine_lines(info: dict[str, Any], cfg: Config) -> list[str]:
    return [
        f"- date: {info['date']}",
        f"- machine: {info['cores']} cores ({info['cpu'] or 'unknown CPU'}), {info['memory_gib']} GiB memory, "
        f"load average at start {', '.join(str(x) for x in info['load_avg'])}",
        f"- software: Python {info['python']}, aiohttp {info['aiohttp']}, {info['platform']}",
        f"- mode: {'--quick' if cfg.quick else 'full'}, offline model at {cfg.tokens_per_s:g} tokens/s per run, "
        f"agent processes: {cfg.agent_processes or 'server default (one per core)'}",
    ]


async def main_async(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    nofile = raise_nofile()
    info = machine()
    header = machine_lines(info, cfg)
    print("\n".join(["## chatsvc benchmarks", "", *header, ""]), flush=True)
    if nofile < cfg.connections + 200 and "connections" in names:
        print(f"warning: open-files limit {nofile} is below {cfg.connections} sockets", flush=True)
    started = time.perf_counter()
    results: list[Result] = []
    for name in names:
        result = await run_one(name, cfg, TOTAL_S[cfg.quick] - (time.perf_counter() - started))
        results.append(result)
        for table in result.tables:
            print(table.render() + "\n", flush=True)
        for warning in result.warnings:
            print(f"warning ({name}): {warning}\n", flush=True)
        for problem in result.problems:
            print(f"PROBLEM ({name}): {problem}\n", flush=True)
        print(f"({name} took {result.seconds:.1f} s)\n", flush=True)
    goals = goals_table(results)
    print(goals.render() + "\n", flush=True)
    total = time.perf_counter() - started
    failed = [r.name for r in results if not r.ok]
    print(f"total {total:.0f} s; " + (f"FAILED: {', '.join(failed)}" if failed else "every benchmark ran cleanly"),
          flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "config": asdict(cfg), "seconds": total,
                       "results": [asdict(r) | {"ok": r.ok} for r in results]}, fh, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write("\n".join([*header, f"- total time: {total:.0f} s", ""]) + "\n")
            for result in results:
                for table in result.tables:
                    fh.write(table.render() + "\n\n")
            fh.write(goals.render() + "\n")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
