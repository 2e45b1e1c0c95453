"""Small running statistics the scheduler keeps per peer and per host (pure, O(1) each)."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator


class CostWindow:
    """The last ``size`` samples with running sums, so mean and sigma cost O(1).

    ``mean_before_last`` and ``std_before_last`` leave the newest sample out, as
    Dragonfly's bad-parent test compares the newest cost with the ones before it.
    """

    __slots__ = ("_samples", "_sq", "_sum")

    def __init__(self, size: int) -> None:
        self._samples: deque[float] = deque(maxlen=max(2, size))
        self._sum = 0.0
        self._sq = 0.0

    def add(self, value: float) -> None:
        samples = self._samples
        if len(samples) == samples.maxlen:
            old = samples[0]
            self._sum -= old
            self._sq -= old * old
        samples.append(value)
        self._sum += value
        self._sq += value * value

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def last(self) -> float:
        return self._samples[-1]

    def mean_before_last(self) -> float:
        count = len(self._samples) - 1
        return (self._sum - self._samples[-1]) / count if count > 0 else 0.0

    def std_before_last(self) -> float:
        """Population standard deviation of the samples before the newest."""
        count = len(self._samples) - 1
        if count <= 0:
            return 0.0
        last = self._samples[-1]
        mean = (self._sum - last) / count
        variance = (self._sq - last * last) / count - mean * mean
        return math.sqrt(variance) if variance > 0 else 0.0

    def mean(self) -> float:
        return self._sum / len(self._samples) if self._samples else 0.0


class DecayingRate:
    """An exponentially decaying rate: ``add(amount, now)``, ``rate(now)`` in amount/s.

    For a steady flow of ``r`` per second the estimate converges to ``r`` after a few
    ``tau``; when the flow stops it decays towards 0 with time constant ``tau``.
    """

    __slots__ = ("_at", "_tau", "_value")

    def __init__(self, tau_s: float) -> None:
        self._tau = tau_s
        self._value = 0.0
        self._at = 0.0

    def add(self, amount: float, now: float) -> None:
        self._value = self._decayed(now) + amount
        self._at = now

    def _decayed(self, now: float) -> float:
        if self._value == 0.0 or now <= self._at:
            return self._value
        return self._value * math.exp(-(now - self._at) / self._tau)

    def rate(self, now: float) -> float:
        return self._decayed(now) / self._tau


class SamplePool:
    """A set with O(1) add, discard and uniform random sampling."""

    __slots__ = ("_items", "_pos")

    def __init__(self) -> None:
        self._items: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._pos

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def add(self, item: str) -> None:
        if item not in self._pos:
            self._pos[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: str) -> None:
        index = self._pos.pop(item, None)
        if index is None:
            return
        last = self._items.pop()
        if last != item:
            self._items[index] = last
            self._pos[last] = index

    def sample(self, count: int, rng: random.Random) -> list[str]:
        """``count`` distinct items at random (all of them, shuffled, when fewer).

        From a pool much larger than ``count`` (the usual case: a sample of 16 from a
        task's parents), draws with ``random()`` and drops repeats: a third of the time
        of ``Random.sample``, which runs once per scheduling decision."""
        items = self._items
        size = len(items)
        if size <= 2 * count:
            return rng.sample(items, min(count, size))
        picked: dict[str, None] = {}
        draw = rng.random
        while len(picked) < count:
            picked[items[int(draw() * size)]] = None
        return list(picked)


class WindowRate:
    """Amount per second over the last ``window_s`` (None until a full window passed
    since the first amount)."""

    __slots__ = ("_entries", "_first", "_sum", "_window")

    def __init__(self, window_s: float) -> None:
        self._window = window_s
        self._entries: deque[tuple[float, float]] = deque()
        self._sum = 0.0
        self._first: float | None = None

    def add(self, amount: float, now: float) -> None:
        if self._first is None:
            self._first = now
        self._entries.append((now, amount))
        self._sum += amount
        self._trim(now)

    def _trim(self, now: float) -> None:
        entries, start = self._entries, now - self._window
        while entries and entries[0][0] <= start:
            self._sum -= entries.popleft()[1]

    def rate(self, now: float) -> float | None:
        if self._first is None or now - self._first < self._window:
            return None
        self._trim(now)
        return max(0.0, self._sum) / self._window
