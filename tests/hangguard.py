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
import os
import signal
import sys
import threading
from typing import Any

import pytest
import pytest_timeout

BACKSTOP_S = float(os.environ.get("CHATSVC_TEST_HANG_BACKSTOP_S", "60"))


def _print_asyncio_tasks() -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        return
    tasks = asyncio.all_tasks(loop)
    print(f"\n+++ {len(tasks)} asyncio task(s) of the test's loop at the timeout +++", file=sys.stderr)
    for task in tasks:
        print(f"--- {task!r}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: Any, settings: Any) -> bool | None:
    """Arm pytest-timeout's signal timer with an asyncio task dump, plus the backstop."""
    if settings.timeout <= 0 or settings.method != "signal":
        return None  # pytest-timeout's own implementation
    _cancel_backstop()
    backstop = threading.Timer(settings.timeout + BACKSTOP_S, pytest_timeout.timeout_timer, (item, settings))
    backstop.name = f"hang guard {item.nodeid}"
    backstop.daemon = True
    backstop.start()
    _backstops.append(backstop)

    def on_timeout(_signum: int, _frame: Any) -> None:
        __tracebackhide__ = True
        _print_asyncio_tasks()
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
