"""Piece buffers shared by every download of a daemon, within one memory budget.

A piece is received whole into a buffer (its crc32c is checked before it touches the
file), so pieces in flight cost memory. The buffers out at once, and those kept for
reuse, hold at most ``download.buffer_budget_mb`` together however many tasks run: a
taker waits, in turn, until enough is given back. One buffer is always granted when none
is out, so a piece longer than the whole budget still downloads. Given-back buffers are
reused (a fresh one is zero-filled on the event loop: about 2 ms per 4 MiB here) and
dropped once the daemon has had none out for ``KEEP_IDLE_S``.
"""

from __future__ import annotations

import asyncio
from collections import deque

from damselfly.common.waiters import wake_one

KEEP_IDLE_S = 10.0


class BufferPool:
    def __init__(self, budget: int, keep_idle_s: float = KEEP_IDLE_S) -> None:
        self.budget = budget
        self.keep_idle_s = keep_idle_s
        self.out = 0
        """Bytes in buffers taken and not yet given back."""
        self.peak = 0
        """The most bytes this pool has held at once."""
        self._free: dict[int, list[bytearray]] = {}
        self._kept = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._trim: asyncio.TimerHandle | None = None

    @property
    def held(self) -> int:
        """Bytes this pool holds: out, and kept for reuse."""
        return self.out + self._kept

    async def take(self, length: int) -> bytearray:
        """A buffer of exactly ``length`` bytes (old contents), once the budget allows."""
        while True:
            if not self._waiters:
                buffer = self._try_take(length)
                if buffer is not None:
                    return buffer
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # this turn was ours: pass it on
                else:
                    self._waiters.remove(waiter)
                raise
            buffer = self._try_take(length)
            if buffer is not None:
                self._wake()  # the next in line may fit too
                return buffer

    def ready(self, length: int) -> bool:
        """Whether ``take(length)`` would return at once."""
        if self._waiters:
            return False
        return bool(self._free.get(length)) or not self.out or self.out + length <= self.budget

    def give(self, buffer: bytearray) -> None:
        length = len(buffer)
        self.out -= length
        if self.held + length <= self.budget:
            self._free.setdefault(length, []).append(buffer)
            self._kept += length
        if self.out == 0 and self._kept and self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(self.keep_idle_s, self._drop_kept)
        self._wake()

    def _try_take(self, length: int) -> bytearray | None:
        if self._trim is not None:
            self._trim.cancel()
            self._trim = None
        free = self._free.get(length)
        if free:
            self._kept -= length
            self.out += length
            return free.pop()
        if self.out and self.out + length > self.budget:
            return None
        self._shed(self.budget - self.out - length)
        self.out += length
        self.peak = max(self.peak, self.held)
        return bytearray(length)

    def _shed(self, room: int) -> None:
        """Drop kept buffers until at most ``room`` bytes stay kept."""
        for length in list(self._free):
            free = self._free[length]
            while free and self._kept > max(0, room):
                free.pop()
                self._kept -= length
            if not free:
                del self._free[length]

    def _drop_kept(self) -> None:
        self._trim = None
        self._shed(0)

    def _wake(self) -> None:
        wake_one(self._waiters)
