"""Hang guard for the suite: a test that hangs fails with a traceback instead of stalling the run.

Two layers (the hooks are imported into tests/conftest.py):
- pytest-timeout's signal method fails the test after its timeout (`timeout` in setup.cfg, longer for a
  few slow tests with `@pytest.mark.timeout(N)`). Before failing it, this guard prints every asyncio task of
  the test's loop with its stack: a hung async test is parked in `select()`, so the thread stacks alone
  never say which await is stuck.
- A backstop: if the test still has not finished `BACKSTOP_S` after its timeout (its teardown hangs too,
  e.g. cancelling a task that ignores cancellation), pytest-timeout's thread method takes over: it prints
  every thread's stack past the output capture and ends the process with exit code 1 — a red run with a
  traceback, never a silent one.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading
from typing import Any

import pytest
import pytest_timeout

BACKSTOP_S = float(os.environ.get("CHATSVC_TEST_HANG_BACKSTOP_S", "60"))


def _say(item: Any, text: str) -> None:
    """Write past pytest's output capture (a run the backstop ends never shows what was captured)."""
    capman = item.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    finally:
        if capman is not None:
            capman.resume_global_capture()


def _asyncio_tasks_report(item: Any) -> str:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return ""
    out = io.StringIO()
    tasks = asyncio.all_tasks(loop)
    out.write(f"\n+++ {item.nodeid}: {len(tasks)} asyncio task(s) of the test's loop at the timeout +++\n")
    for task in tasks:
        out.write(f"--- {task!r}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


def _end_the_run(item: Any, settings: Any) -> None:
    _say(item, f"\n+++ HANG GUARD: {item.nodeid} is still running {settings.timeout + BACKSTOP_S:.0f} s after it "
               "started, so even its teardown hangs; ending the run (exit code 1) +++\n")
    pytest_timeout.timeout_timer(item, settings)  # every thread's stack, then os._exit(1)


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: Any, settings: Any) -> bool | None:
    """Arm pytest-timeout's signal timer with an asyncio task dump, plus the backstop."""
    if settings.timeout <= 0 or settings.method != "signal":
        return None  # pytest-timeout's own implementation
    _cancel_backstop()
    backstop = threading.Timer(settings.timeout + BACKSTOP_S, _end_the_run, (item, settings))
    backstop.name = f"hang guard {item.nodeid}"
    backstop.daemon = True
    backstop.start()
    _backstops.append(backstop)

    def on_timeout(_signum: int, _frame: Any) -> None:
        __tracebackhide__ = True
        _say(item, _asyncio_tasks_report(item))
        pytest_timeout.timeout_sigalrm(item, settings)

    def cancel() -> None:  # also called when the test fails: the backstop stays armed until its teardown is over
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel
    signal.signal(signal.SIGALRM, on_timeout)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
    """Disarm the backstop only once the test's whole protocol (setup, call, teardown) is over."""
    yield
    _cancel_backstop()


_backstops: list[threading.Timer] = []


def _cancel_backstop() -> None:
    while _backstops:
        _backstops.pop().cancel()
