"""A discrete-event loop with a simulated clock, and the scheduler's Clock and Timers on it."""

from __future__ import annotations

import heapq
from collections.abc import Callable

# The scheduler's clock starts here, so "never happened" (0.0) is far in its past.
CLOCK_ORIGIN = 1000.0


class Event:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Engine:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = 0
        self.events = 0

    def at(self, when: float, fn: Callable[[], None]) -> Event:
        event = Event(fn)
        self._seq += 1
        heapq.heappush(self._heap, (max(when, self.now), self._seq, event))
        return event

    def after(self, delay: float, fn: Callable[[], None]) -> Event:
        return self.at(self.now + delay, fn)

    def run(self, until: float, done: Callable[[], bool]) -> None:
        """Run events in time order until ``done()`` or the clock passes ``until``."""
        heap = self._heap
        while heap and not done():
            when, _, event = heapq.heappop(heap)
            if when > until:
                heapq.heappush(heap, (when, 0, event))
                self.now = until
                return
            if event.cancelled:
                continue
            self.now = when
            self.events += 1
            event.fn()


class SimClock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def now(self) -> float:
        return CLOCK_ORIGIN + self.engine.now


class SimTimers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def call_later(self, delay: float, callback: Callable[[], None]) -> Event:
        return self.engine.after(delay, callback)
