"""Bounded shutdown: stop background asyncio tasks without ever waiting forever.

Every close path (event bus, run manager, task manager, agent pool, sockets) ends its tasks through
`stop_tasks`, never through a bare `gather` of tasks that might not end. Why a bound is needed even for
cancelled tasks: on Python 3.11 a cancellation can be lost. `asyncio.wait_for` swallows a cancel that lands
while its inner future is finishing (CPython gh-86296, fixed in 3.12), and libraries use it on their I/O
paths (redis-py wraps socket writes in it), so a task blocked in I/O may carry on as if never cancelled.
`stop_tasks` therefore cancels, waits part of the bound, cancels the stragglers again, and gives up with an
error log at the deadline instead of hanging the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("chatsvc.shutdown")


class TaskSet:
    """Background tasks a component starts and must stop: keeps a reference (asyncio holds only weak ones)
    until each ends, and stops what is left in bounded time."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def stop(self, timeout: float = 5.0) -> bool:
        """Cancel every task still running; see stop_tasks."""
        return await stop_tasks(list(self._tasks), self.what, timeout)


async def stop_tasks(tasks: Iterable[asyncio.Future[Any]], what: str, timeout: float = 5.0) -> bool:
    """Cancel `tasks` and wait for them, at most `timeout` seconds; return True when all of them ended."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    # A task cleaning up after its cancel (writing `interrupted`, say) gets most of the time; one whose
    # cancel was lost is cancelled once more half-way.
    pending = await _wait(pending, timeout / 2)
    for task in pending:
        task.cancel()
    pending = await _wait(pending, timeout / 2)
    if pending:
        log.error("%s: %d task(s) did not stop within %.1f s after cancel; leaving them behind: %s",
                  what, len(pending), timeout, ", ".join(_describe(task) for task in pending))
    return not pending


async def wait_bounded(tasks: Iterable[asyncio.Future[Any]], what: str, timeout: float) -> bool:
    """Wait for `tasks` to end by themselves, at most `timeout` seconds; return True when all of them ended."""
    pending = await _wait({task for task in tasks if not task.done()}, timeout)
    if pending:
        log.error("%s: %d task(s) still running after %.1f s: %s", what, len(pending), timeout,
                  ", ".join(_describe(task) for task in pending))
    return not pending


async def _wait(pending: set[asyncio.Future[Any]], timeout: float) -> set[asyncio.Future[Any]]:
    if pending:
        done, pending = await asyncio.wait(pending, timeout=max(timeout, 0.0))
        for task in done:  # mark failures as seen, as gather(return_exceptions=True) did: no "never retrieved"
            if not task.cancelled():
                task.exception()
    return pending


def _describe(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
