"""Pieces this daemon is receiving, readable by its children while the bytes arrive.

Store-and-forward makes every hop of a distribution tree cost a whole piece time (a
4 MiB piece is 0.34 s at 100 Mbit/s), so a chain of eight hosts starts its last host
almost three seconds late. A parent therefore announces a piece as soon as it starts
receiving it, and its piece server streams the bytes to a child as they land
(cut-through), finishing from the content file once the piece is recorded.

The bytes live in the downloading worker's buffer, which the worker reuses for its next
piece: a reader copies what it needs without yielding in between, and checks ``state``
first. All of this runs on the daemon's one event loop.
"""

from __future__ import annotations

import asyncio
from enum import Enum

from damselfly.core.models import PieceInfo


class Changes:
    """One-shot futures for "the next change": each is registered when asked for, not
    when first awaited, so a change between asking and awaiting is never lost."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def next(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def fire(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class InFlightState(Enum):
    RECEIVING = "receiving"
    RECORDED = "recorded"  # verified and in the content file: read it from there
    FAILED = "failed"  # readers must drop what they sent: the child's check would fail


class InFlightPiece:
    def __init__(self, info: PieceInfo, buffer: memoryview) -> None:
        self.info = info
        self.state = InFlightState.RECEIVING
        self.filled = 0
        self._buffer: memoryview | None = buffer
        self._changes = Changes()

    def advance(self, filled: int) -> None:
        """The first ``filled`` bytes of the piece are in the buffer."""
        if filled > self.filled:
            self.filled = filled
            self._changes.fire()

    def copy(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the piece; only while receiving and within ``filled``."""
        if self._buffer is None or self.state is not InFlightState.RECEIVING:
            raise RuntimeError("the piece is no longer in the receive buffer")
        return bytes(self._buffer[start : min(end, self.filled)])

    def changed(self) -> asyncio.Future[None]:
        """A future for the next bytes or the end; registered at once."""
        return self._changes.next()

    def end(self, recorded: bool) -> None:
        """The worker is done with its buffer: readers continue from the file or stop."""
        self.state = InFlightState.RECORDED if recorded else InFlightState.FAILED
        self._buffer = None
        self._changes.fire()
