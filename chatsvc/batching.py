"""Group commit: concurrent callers' items written by one statement in one transaction.

SQLite has a single writer, and on the async stack every transaction costs the loop ~0.5 ms of CPU
(session, BEGIN, statement, COMMIT: each a trip to the connection's thread) whatever it writes. Under load
the writes queue for that one connection anyway, so a `Batcher` takes every item that arrived meanwhile
and hands them to `write_many` together: the first caller of a quiet server goes alone (no added
latency), a busy one pays the transaction once per batch instead of once per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from chatsvc.shutdown import TaskSet

Item = TypeVar("Item")
Out = TypeVar("Out")


class Batcher(Generic[Item, Out]):
    """`await submit(item)` answers `write_many(batch)[i]` for the batch the item was written in. `write_many` is
    one transaction (all or nothing): when a batch fails, each of its items is written again on its own, so an
    error is only the caller's whose item caused it."""

    def __init__(self, write_many: Callable[[Sequence[Item]], Awaitable[Sequence[Out]]], *, max_batch: int,
                 what: str) -> None:
        self.write_many = write_many
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Out]]] = []
        self._draining = False  # a writer task is on it: set and cleared in step with the queue's checks
        self._writer = TaskSet(what)

    async def submit(self, item: Item) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if not self._draining:
            self._draining = True
            self._writer.spawn(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                if not await self._write(batch) and len(batch) > 1:
                    for one in batch:  # one bad item must not fail the others: each again on its own
                        if not one[1].done():
                            await self._write([one])
        finally:
            self._draining = False

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Out]]]) -> bool:
        """Write a batch and answer its callers; False when it failed (rolled back: nothing of it written)."""
        try:
            outs = await self.write_many([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 and not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return False
        except BaseException:  # cancelled (shutdown): so are the callers of this batch
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), out in zip(batch, outs, strict=True):
            if not future.done():  # a caller that went away (cancelled) simply does not hear back
                future.set_result(out)
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the writer (shutdown): callers still waiting see the cancellation."""
        await self._writer.stop(timeout)
        queued, self._queue = self._queue, []
        for _, future in queued:
            future.cancel()
