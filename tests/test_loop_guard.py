"""The loop guard itself: it must catch Python-heavy work and blocking waits on the loop (a guard that
cannot fail would make every green test meaningless)."""

from __future__ import annotations

import asyncio
import time

from tests import conftest


def _run_in_handle(fn) -> list[str]:
    loop = asyncio.new_event_loop()
    try:
        handle = asyncio.Handle(fn, (), loop)
        before = len(conftest._slow_callbacks)
        saved = list(conftest._slow_callbacks)
        import threading

        assert threading.current_thread() is threading.main_thread()
        handle._run()
        found = conftest._slow_callbacks[before:]
        conftest._slow_callbacks[:] = saved
        return found
    finally:
        loop.close()


def test_guard_catches_cpu_heavy_callbacks():
    def burn() -> None:
        end = time.thread_time() + 0.08
        while time.thread_time() < end:
            pass

    found = _run_in_handle(burn)
    assert found and "blocked the loop" in found[0]


def test_guard_catches_blocking_waits():
    # A wait during which another thread was preempted (it may have held the GIL) is excused: on a loaded
    # machine the guard's own threads can be, so the same blocking call is tried a few times.
    found: list[str] = []
    for _attempt in range(4):
        found = _run_in_handle(lambda: time.sleep(0.25))
        if found:
            break
    assert found and "wall" in found[0]


def test_guard_ignores_quick_callbacks():
    assert _run_in_handle(lambda: sum(range(1000))) == []


def test_guard_does_not_count_gil_waits_as_blocking():
    """Start-up work runs on threads (migrations, mapper set-up); a loop callback that waits for the GIL
    meanwhile is not doing blocking I/O and must not fail a test (a flaky guard teaches people to ignore it)."""
    import threading

    stop = threading.Event()

    def busy_thread() -> None:
        while not stop.is_set():
            sum(range(2000))

    def yields_often() -> None:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            time.sleep(0)  # gives the GIL away; getting it back waits for the busy thread

    worker = threading.Thread(target=busy_thread)
    worker.start()
    try:
        assert _run_in_handle(yields_often) == []
    finally:
        stop.set()
        worker.join()


def test_guard_catches_a_thread_that_holds_the_gil():
    """A long C call on an executor thread (here: sum over a big range, which never gives the GIL away) starves the
    loop however idle it is: the GIL watch reports the thread by name."""
    import threading

    from tests import loopguard

    before = len(conftest._slow_callbacks)
    saved = list(conftest._slow_callbacks)
    summed, release = threading.Event(), threading.Event()

    def hog() -> None:  # like an executor thread, it stays alive after its job
        sum(range(60_000_000))
        summed.set()
        release.wait(10)

    found: list[str] = []
    for _attempt in range(6):  # a machine loaded by other jobs may preempt the hog or the watcher: not reported
        summed.clear()
        release.clear()
        thread = threading.Thread(target=hog, name="cpu-hog")
        thread.start()
        try:
            assert summed.wait(30)
            time.sleep(loopguard.WATCH_INTERVAL_S * 5)  # the watcher reports after its late wake-up
        finally:
            release.set()
            thread.join()
        found = conftest._slow_callbacks[before:]
        if found:
            break
    conftest._slow_callbacks[:] = saved
    assert any("'cpu-hog' held the GIL" in line for line in found), found


def test_gil_holder_is_the_thread_that_used_the_cpu():
    from tests.loopguard import gil_holder

    before = {1: ("loop", 0.0), 2: ("watcher", 0.0), 3: ("cpu_0", 1.0), 4: ("aiosqlite", 2.0)}
    after = {1: ("loop", 0.5), 2: ("watcher", 0.0), 3: ("cpu_0", 1.29), 4: ("aiosqlite", 2.01)}
    assert gil_holder(before, after, 0.3, watcher=2, main=1) == ("cpu_0", after[3][1] - 1.0)
    assert gil_holder(before, {**after, 3: ("cpu_0", 1.1)}, 0.3, watcher=2, main=1) is None  # nobody on the CPU


def test_a_long_collection_stays_excused_among_many_short_ones():
    """Decoding a large JSON value runs hundreds of young collections right after a long full one: the long
    pause must still count as the collector's (it did not: it fell out of the kept pauses)."""
    from tests import loopguard

    start = time.perf_counter()
    loopguard._track_gc("start", {})
    time.sleep(0.05)
    loopguard._track_gc("stop", {})
    for _ in range(1000):
        loopguard._track_gc("start", {})
        loopguard._track_gc("stop", {})
    assert loopguard.gc_time_within(start, time.perf_counter()) >= 0.05
