"""Group commit (chatsvc.batching.Batcher): concurrent items share one write, each caller hears its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chatsvc.batching import Batcher


class Recorder:
    """A write_many that records the batches it was given and can be told to fail or to wait."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_on: set[int] = set()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail_on & set(items):
            raise RuntimeError("write failed")
        return [item * 10 for item in items]


async def test_a_lone_item_goes_at_once_and_concurrent_ones_share_a_write():
    write = Recorder()
    batcher = Batcher(write, max_batch=4, what="test")
    assert await batcher.submit(1) == 10
    assert write.batches == [[1]]
    write.release.clear()
    first = asyncio.ensure_future(batcher.submit(2))  # starts a write that waits
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(3, 9)]  # queue behind it
    await asyncio.sleep(0)
    write.release.set()
    assert await first == 20
    assert await asyncio.gather(*rest) == [30, 40, 50, 60, 70, 80]
    assert write.batches[1:] == [[2], [3, 4, 5, 6], [7, 8]]  # at most max_batch per write, in arrival order


async def test_a_failed_item_fails_only_its_own_caller():
    write = Recorder()
    batcher = Batcher(write, max_batch=2, what="test")
    write.release.clear()
    write.fail_on = {3}
    futures = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2, 3, 4, 5)]
    await asyncio.sleep(0)
    write.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[:2] == [10, 20] and results[3:] == [40, 50]
    assert isinstance(results[2], RuntimeError)
    assert write.batches == [[1, 2], [3, 4], [3], [4], [5]]  # the failed batch, then each of it alone
    assert await batcher.submit(6) == 60  # and the batcher carries on


async def test_a_caller_that_goes_away_does_not_disturb_the_others():
    write = Recorder()
    batcher = Batcher(write, max_batch=8, what="test")
    write.release.clear()
    gone = asyncio.ensure_future(batcher.submit(1))
    stays = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    write.release.set()
    assert await stays == 20
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_close_cancels_the_write_in_flight_and_whoever_waits():
    write = Recorder()
    batcher = Batcher(write, max_batch=1, what="test")
    write.release.clear()
    waiting = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    await asyncio.wait_for(batcher.close(), 5)
    for future in waiting:
        with pytest.raises(asyncio.CancelledError):
            await future
