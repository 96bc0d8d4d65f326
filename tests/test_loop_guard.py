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
    found = _run_in_handle(lambda: time.sleep(0.25))
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
