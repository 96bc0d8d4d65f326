"""The loop guard: record every event-loop callback that blocked the loop (used by the test suite, and by
the browser tests' server process through tests/e2e/guarded_server.py).

Blocking means more than 50 ms of CPU on the loop thread (Python-heavy work), or more than 200 ms of wall
time during which the thread went to sleep by itself (a blocking wait such as sync I/O or sleep: voluntary
context switches). Being preempted by other processes on a busy 2-core machine is neither; garbage-collector
passes inside the callback are not counted either, nor is time other threads of this process spent on the
CPU meanwhile: waiting for the GIL is a voluntary sleep too, and the loop thread shares it with start-up
work (migrations, mapper set-up) that the app deliberately runs off the loop. For the same reason a wait
during which another thread of the process was preempted (it may have held the GIL) is not counted, nor the
part of a wait during which the machine's storage was stalled (Linux PSI, /proc/pressure/io: on a machine
whose disks are saturated by other jobs, even paging in a library or a page-cache miss waits that long).

What those excuses would hide, the GIL watch counts: a thread of the server's pools (not asyncio's default
executor, which carries start-up work; see UNWATCHED_PREFIXES) that holds the GIL for more than 200 ms at a
stretch (a long C call — JSON of megabytes, a regex over a big document, pydantic on a huge payload — made from an
executor thread of the server). The loop cannot run meanwhile, however idle it is, so that is blocking work of
ours. A watcher thread wakes every 10 ms; when its wake-up is late by more than the limit, the thread whose CPU
time grew by at least half that delay held the GIL. Not reported: a garbage-collector pass, a delay during which
the watcher was preempted (it waited for a core, not the GIL: the machine was busy), or one during which the
loop's thread ran (contention with the loop, whose own long holds the callback timing catches). Plain Python
code on a thread gives the GIL away every 5 ms and is not caught: the rule against Python-heavy threads stands
on its own.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

SLOW_CALLBACK_S = float(os.environ.get("CHATSVC_SLOW_CALLBACK_MS", "50")) / 1000
BLOCKING_WAIT_S = float(os.environ.get("CHATSVC_BLOCKING_WAIT_MS", "200")) / 1000

blocked: list[str] = []  # what the guard found, for whoever reports it
_report: list[Callable[[str], None]] = [blocked.append]

_gc_pauses: collections.deque[tuple[float, float]] = collections.deque(maxlen=256)
_io_stalls: collections.deque[tuple[float, float]] = collections.deque(maxlen=400)  # (when, seconds stalled so far)
PSI_IO = "/proc/pressure/io"


def _read_io_stall() -> float | None:
    """Seconds some task of this machine has waited for storage since boot (PSI), or None without PSI."""
    try:
        with open(PSI_IO) as fh:
            some = fh.readline().split()
        return int(some[-1].split("=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


# The guard's own threads' involuntary switches, by thread: not a sign of a GIL holder preempted.
_guard_preempted: dict[str, int] = {}


def _sample_io_stalls() -> None:
    while True:
        total = _read_io_stall()
        if total is None:
            return
        _io_stalls.append((time.perf_counter(), total))
        _guard_preempted["io"] = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        time.sleep(0.05)


def _snapshot(samples: collections.deque[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A copy of samples another thread (the sampler, a gc callback) may append to meanwhile."""
    while True:
        try:
            return tuple(samples)
        except RuntimeError:  # "deque mutated during iteration": take it again
            continue


def io_stall_within(start: float, end: float) -> float:
    """Seconds of machine-wide storage stall between start and end (0 without PSI); sampled every 50 ms."""
    stalls = _snapshot(_io_stalls)
    before = [total for when, total in stalls if when <= start]
    if not before:
        return 0.0
    now = _read_io_stall()
    after = [total for when, total in stalls if when >= end] or ([now] if now is not None else [])
    return max(0.0, min(after[0] - before[-1], end - start)) if after else 0.0
_gc_started = [0.0]


GC_PAUSE_KEPT_S = 0.001  # shorter collections (young generations, every few hundred allocations) excuse nothing


def _track_gc(phase: str, _info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    now = time.perf_counter()
    # Only pauses that can matter are kept: decoding a large JSON value runs hundreds of young collections,
    # which pushed the one long full collection (the whole suite's heap, ~0.9 s) out of the 256 kept, so the
    # GIL watch blamed the thread the collector happened to run on.
    if now - _gc_started[0] >= GC_PAUSE_KEPT_S:
        _gc_pauses.append((_gc_started[0], now))


def gc_time_within(start: float, end: float) -> float:
    """Seconds the garbage collector ran between start and end."""
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in _snapshot(_gc_pauses))


def _switches() -> tuple[int, int, int]:
    """(times this thread went to sleep by itself, times the kernel preempted any *other* thread of the process,
    this thread's major page faults)."""
    mine = resource.getrusage(resource.RUSAGE_THREAD)
    process = resource.getrusage(resource.RUSAGE_SELF)
    return mine.ru_nvcsw, process.ru_nivcsw - mine.ru_nivcsw - sum(_guard_preempted.values()), mine.ru_majflt


_original_handle_run = asyncio.events.Handle._run


def _timed_handle_run(self: asyncio.Handle) -> None:
    """Run a loop callback, reporting it when it blocked the loop (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        return _original_handle_run(self)
    waits_start, others_preempted_start, faults_start = _switches()
    cpu_start, wall_start, process_start = time.thread_time(), time.perf_counter(), time.process_time()
    try:
        return _original_handle_run(self)
    finally:
        cpu = time.thread_time() - cpu_start
        wall_end = time.perf_counter()
        wall = wall_end - wall_start
        if cpu > SLOW_CALLBACK_S or wall > BLOCKING_WAIT_S:
            gc_s = gc_time_within(wall_start, wall_end)
            waits, others_preempted, faults = _switches()
            # A thread the kernel preempted while holding the GIL makes the loop wait without using the CPU
            # either: on an overloaded machine that is not a blocking call of ours, so it does not count. Nor
            # does paging memory back in (a major fault: the machine is short of memory or page cache).
            waited = waits > waits_start and others_preempted == others_preempted_start and faults == faults_start
            other_threads_cpu = max(0.0, time.process_time() - process_start - cpu)
            excused = gc_s + other_threads_cpu + (io_stall_within(wall_start, wall_end) if waited else 0.0)
            if cpu - gc_s > SLOW_CALLBACK_S or (waited and wall - excused > BLOCKING_WAIT_S):
                _report[0](f"{self!r} blocked the loop: {cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall")


GIL_HOLD_S = float(os.environ.get("CHATSVC_GIL_HOLD_MS", "200")) / 1000
WATCH_INTERVAL_S = 0.01
WATCHER = "loop guard: gil watch"


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every Python thread of the process, by thread id."""
    found: dict[int, tuple[str, float]] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            found[thread.ident] = (thread.name, time.clock_gettime(time.pthread_getcpuclockid(thread.ident)))
        except (OSError, AttributeError):  # the thread ended meanwhile
            pass
    return found


def gil_holder(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], late: float,
               watcher: int, main: int) -> tuple[str, float] | None:
    """The thread (not the loop's, not the watcher) whose CPU grew by at least half of `late`, with its CPU (on a
    loaded machine the holder itself is preempted part of the time)."""
    for ident, (name, cpu) in after.items():
        if ident in (watcher, main) or name.startswith(UNWATCHED_PREFIXES):
            continue
        used = cpu - before.get(ident, (name, 0.0))[1]  # a thread new since the last sample: all its CPU
        if used >= 0.5 * late:
            return name, used
    return None


# Start-up work the app runs on a thread before it serves (nothing waits on the loop then): not starvation.
STARTUP_WORK = frozenset({"run_migrations_blocking", "configure_mappers", "create_app", "sweep_temp"})
# Threads watched: the server's own pools that run while it serves (the cpu executor, SQLite's connection
# threads, thread-mode agent workers). asyncio's default executor (`asyncio_N`) carries the start-up work above
# and the tests' own set-up (`asyncio.to_thread`); a start-up hold seen only after the job ended cannot be told
# from a serving one, so that pool is not watched.
UNWATCHED_PREFIXES = ("asyncio_", "loop guard", "hang guard")


def _stack_of(thread_name: str) -> list[tuple[str, str]]:
    """(function, file:line) of a thread's frames, outermost first (it just gave the GIL back: still close)."""
    import sys
    import traceback

    ident = next((t.ident for t in threading.enumerate() if t.name == thread_name), None)
    frame = sys._current_frames().get(ident) if ident is not None else None
    if frame is None:
        return []
    return [(f.name, f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}") for f in traceback.extract_stack(frame)]


def _watch_gil() -> None:
    me, main = threading.get_ident(), threading.main_thread().ident or 0
    before = _thread_cpu()
    while True:
        preempted_before = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        start = time.perf_counter()
        time.sleep(WATCH_INTERVAL_S)  # waking needs the GIL back: lateness is how long someone else held it
        end = time.perf_counter()
        late = end - start - WATCH_INTERVAL_S
        after = _thread_cpu()
        preempted_now = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        preempted = preempted_now - preempted_before
        _guard_preempted["gil"] = preempted_now  # as the io sampler: its own switches are not a GIL holder's
        if late > GIL_HOLD_S and preempted <= 1 and gc_time_within(start, end) < late / 2 \
                and _cpu_of(before, after, main) < late / 4:
            # Late, yet never preempted (it waited for the GIL, not for a core) while the loop's thread stood
            # still too: a holder that is not the loop. (The loop's own long holds are slow callbacks.)
            holder = gil_holder(before, after, late, me, main)
            where = _stack_of(holder[0]) if holder is not None else []
            if holder is not None and late > _limit_for(holder[0]) \
                    and not STARTUP_WORK.intersection(name for name, _at in where):
                _report[0](f"thread {holder[0]!r} held the GIL for {late * 1000:.0f} ms ({holder[1] * 1000:.0f} ms "
                           f"CPU): the event loop could not run meanwhile; it is now in "
                           f"{' < '.join(at for _name, at in where[-3:][::-1])}")
        before = after


# SQLite's connection threads move a statement's whole parameters and rows in single C calls: at the size limit
# (a 2 MiB document makes a 55 MB test-case artifact) that holds the GIL ~350 ms, a known cost (bench/RESULTS.md)
# that only chunked storage of such artifacts would remove. They are watched with a wider limit, not excused.
SQLITE_THREAD_GIL_HOLD_S = 1.0


def _limit_for(thread_name: str) -> float:
    return SQLITE_THREAD_GIL_HOLD_S if "_connection_worker_thread" in thread_name else GIL_HOLD_S


def _cpu_of(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], ident: int) -> float:
    return after.get(ident, ("", 0.0))[1] - before.get(ident, ("", 0.0))[1]


def install(report: Callable[[str], None] | None = None) -> None:
    """Time every loop callback of the main thread from now on; `report` gets each blocking one."""
    if report is not None:
        _report[0] = report
    if _track_gc not in gc.callbacks:
        gc.callbacks.append(_track_gc)
    if _read_io_stall() is not None and not any(t.name == "loop guard: io stalls" for t in threading.enumerate()):
        threading.Thread(target=_sample_io_stalls, name="loop guard: io stalls", daemon=True).start()
    if not any(t.name == WATCHER for t in threading.enumerate()):
        threading.Thread(target=_watch_gil, name=WATCHER, daemon=True).start()
    asyncio.events.Handle._run = _timed_handle_run  # type: ignore[method-assign]
