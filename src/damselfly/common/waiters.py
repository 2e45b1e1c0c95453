"""Waking one of several waiters at a time (futures parked in a deque)."""

from __future__ import annotations

import asyncio
from collections import deque


def wake_one(waiters: deque[asyncio.Future[None]], *, newest: bool = False) -> bool:
    """Wake the longest-waiting future still pending (the most recent with ``newest``);
    cancelled ones are dropped on the way. False when none was waiting."""
    take = waiters.pop if newest else waiters.popleft
    while waiters:
        waiter = take()
        if not waiter.done():
            waiter.set_result(None)
            return True
    return False
