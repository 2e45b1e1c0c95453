"""The daemon's piece buffers: one budget for every download, reuse, and turns."""

from __future__ import annotations

import asyncio

import pytest

from damselfly.daemon.download.buffers import BufferPool

MIB = 1 << 20


def run(scenario: object) -> None:
    asyncio.run(scenario)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_takers_beyond_the_budget_wait_their_turn() -> None:
    async def scenario() -> None:
        pool = BufferPool(8 * MIB)
        first = await pool.take(4 * MIB)
        second = await pool.take(4 * MIB)
        order: list[str] = []

        async def taker(name: str) -> None:
            buffer = await pool.take(4 * MIB)
            order.append(name)
            pool.give(buffer)

        waiting = [asyncio.create_task(taker(name)) for name in ("a", "b", "c")]
        await settle()
        assert order == [] and pool.out == 8 * MIB
        pool.give(first)
        await asyncio.wait_for(asyncio.gather(*waiting), 5)
        assert order == ["a", "b", "c"]
        pool.give(second)
        assert pool.out == 0 and pool.peak == 8 * MIB

    run(scenario())


def test_a_piece_longer_than_the_budget_still_gets_a_buffer() -> None:
    async def scenario() -> None:
        pool = BufferPool(4 * MIB)
        buffer = await asyncio.wait_for(pool.take(16 * MIB), 1)
        assert len(buffer) == 16 * MIB
        later = asyncio.create_task(pool.take(4 * MIB))
        await settle()
        assert not later.done()  # one out already: the budget holds again
        pool.give(buffer)
        assert len(await asyncio.wait_for(later, 1)) == 4 * MIB

    run(scenario())


def test_a_given_back_buffer_is_reused() -> None:
    async def scenario() -> None:
        pool = BufferPool(16 * MIB)
        buffer = await pool.take(4 * MIB)
        pool.give(buffer)
        assert await pool.take(4 * MIB) is buffer
        # Another length needs room: kept buffers make way within the budget.
        other = await pool.take(16 * MIB - 4 * MIB)
        assert pool.held <= 16 * MIB
        pool.give(other)

    run(scenario())


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def scenario() -> None:
        pool = BufferPool(4 * MIB)
        held = await pool.take(4 * MIB)
        first = asyncio.create_task(pool.take(4 * MIB))
        second = asyncio.create_task(pool.take(4 * MIB))
        await settle()
        pool.give(held)  # wakes ``first``...
        first.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        assert len(await asyncio.wait_for(second, 1)) == 4 * MIB

    run(scenario())


def test_kept_buffers_are_dropped_once_the_daemon_is_idle() -> None:
    async def scenario() -> None:
        pool = BufferPool(16 * MIB, keep_idle_s=0)
        buffers = [await pool.take(4 * MIB) for _ in range(3)]
        pool.give(buffers.pop())
        await settle()
        assert pool.held == 12 * MIB  # two still out: the given one is kept
        for buffer in buffers:
            pool.give(buffer)
        assert pool.held == 12 * MIB
        await settle()  # the idle timer (0 s here) runs
        assert pool.held == 0

    run(scenario())


def test_ready_says_whether_a_take_would_wait() -> None:
    async def scenario() -> None:
        pool = BufferPool(8 * MIB)
        assert pool.ready(4 * MIB)
        first = await pool.take(4 * MIB)
        second = await pool.take(4 * MIB)
        assert not pool.ready(4 * MIB)
        pool.give(second)
        assert pool.ready(4 * MIB)  # a kept one
        waiting = asyncio.create_task(pool.take(8 * MIB))
        await settle()
        assert not pool.ready(4 * MIB)  # someone is in line first
        pool.give(first)
        pool.give(await asyncio.wait_for(waiting, 1))

    run(scenario())
