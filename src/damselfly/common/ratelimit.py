"""Token buckets for byte rates (download total, per task, upload).

``acquire(n)`` takes ``n`` tokens, waiting for the bucket to refill when it is short;
waiting is the limiter's job, so it sleeps on the event loop's clock. A rate of 0 means
no limit. The default burst is a tenth of a second's worth, so a limit holds closely
even over short transfers; a request larger than the burst still passes, after the wait
its size takes (the bucket goes into debt).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else rate / 10
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay_for(self, amount: int) -> float:
        """Take ``amount`` tokens now (going into debt) and return how long to wait."""
        self._refill()
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, amount: int) -> None:
        if self.unlimited or amount <= 0:
            return
        async with self._lock:
            delay = self.delay_for(amount)
            if delay > 0:
                await asyncio.sleep(delay)


async def acquire_all(buckets: list[TokenBucket], amount: int) -> None:
    for bucket in buckets:
        await bucket.acquire(amount)
