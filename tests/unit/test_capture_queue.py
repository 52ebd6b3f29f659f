"""The hot-path hand-off: bounded, never waits, drops and counts when full."""

from __future__ import annotations

import asyncio

from sidecar.capture.queue import CaptureQueue
from sidecar.models import Exchange
from tests.fixtures.exchanges import make_exchange


def _exchange(i: int) -> Exchange:
    return make_exchange(request_id=str(i), request_body=b"{}", response_body=b"{}")


async def test_full_queue_drops_and_counts() -> None:
    queue = CaptureQueue(3)
    results = [queue.offer(_exchange(i)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert queue.dropped == 2 and len(queue) == 3


async def test_take_waits_for_an_item_and_batches() -> None:
    queue = CaptureQueue(10)
    waiter = asyncio.create_task(queue.take(4))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    for i in range(6):
        queue.offer(_exchange(i))
    batch = await asyncio.wait_for(waiter, 1)
    assert [e.request_id for e in batch] == ["0", "1", "2", "3"]
    assert [e.request_id for e in await queue.take(4)] == ["4", "5"]


async def test_byte_budget_bounds_the_queue_too() -> None:
    queue = CaptureQueue(100, max_bytes=10)  # each exchange holds 4 body bytes ("{}" twice)
    assert [queue.offer(_exchange(i)) for i in range(4)] == [True, True, False, False]
    assert queue.bytes == 8 and queue.dropped == 2
    await queue.take(1)
    assert queue.bytes == 4 and queue.offer(_exchange(9))
