"""Flow-level network, advanced in small time steps with numpy.

Each transfer moves at the smaller of its source's upload share and its destination's
download share (a host's capacity divided equally among its transfers). The model never
hands out more than a host's capacity and may leave some unused (a transfer held back at
one end does not lend its share to the others), so simulated times are on the slow side
of what max-min fair sharing (TCP, roughly) would give. Rates are recomputed every
``step_s`` for all transfers at once; a transfer that ends inside a step is reported at
the end of the step (on average ``step_s / 2`` late).

Cut-through: a transfer may be *fed* by another, the one bringing the same piece into
its source (the daemon serves a piece while it receives it). The fed transfer never has
a larger share of its bytes than its feeder; when the feeder ends well it runs free, when
the feeder fails or is cancelled it fails too (the parent drops what it streamed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tests.swarm.sim.engine import Engine

DEFAULT_STEP_S = 0.005
Callback = Callable[[], None]


class SimHost:
    __slots__ = ("alive", "down", "index", "name", "up")

    def __init__(self, name: str, up: float, down: float) -> None:
        self.name = name
        self.up = up  # bytes per second
        self.down = down
        self.alive = True
        self.index = -1


class Network:
    def __init__(self, engine: Engine, step_s: float = DEFAULT_STEP_S) -> None:
        self.engine = engine
        self.step_s = step_s
        self.hosts: list[SimHost] = []
        self.up: npt.NDArray[np.float64] = np.zeros(0)
        self.down: npt.NDArray[np.float64] = np.zeros(0)
        self.sent: npt.NDArray[np.float64] = np.zeros(0)
        capacity = 1024
        self.src = np.zeros(capacity, dtype=np.int64)
        self.dst = np.zeros(capacity, dtype=np.int64)
        self.remaining = np.zeros(capacity)
        self.since = np.zeros(capacity)
        self.active = np.zeros(capacity, dtype=bool)
        self.size = np.ones(capacity)
        self.feeder = np.full(capacity, -1, dtype=np.int64)
        # Cut-through links: fed slot -> feeder slot, and feeder slot -> fed slots.
        self.feeder_of: dict[int, int] = {}
        self.readers: dict[int, list[int]] = {}
        self.callbacks: list[tuple[Callback, Callback] | None] = [None] * capacity
        self.free: list[int] = list(range(capacity - 1, -1, -1))
        self.ticking = False
        # Transfers started since the last step, written to the arrays in one go.
        self._new: list[tuple[int, int, int, float, float]] = []

    def add_host(self, host: SimHost) -> SimHost:
        host.index = len(self.hosts)
        self.hosts.append(host)
        self.up = np.append(self.up, host.up)
        self.down = np.append(self.down, host.down)
        self.sent = np.append(self.sent, 0.0)
        return host

    def bytes_sent(self, host: SimHost) -> float:
        return float(self.sent[host.index])

    def _grow(self) -> None:
        old = len(self.active)
        new = old * 2
        self.src = np.resize(self.src, new)
        self.dst = np.resize(self.dst, new)
        self.remaining = np.resize(self.remaining, new)
        self.since = np.resize(self.since, new)
        self.size = np.resize(self.size, new)
        feeder = np.full(new, -1, dtype=np.int64)
        feeder[:old] = self.feeder
        self.feeder = feeder
        active = np.zeros(new, dtype=bool)
        active[:old] = self.active
        self.active = active
        self.callbacks.extend([None] * old)
        self.free.extend(range(new - 1, old - 1, -1))

    def start(
        self,
        src: SimHost,
        dst: SimHost,
        size: float,
        on_done: Callback,
        on_fail: Callback,
        *,
        feeder: int = -1,
    ) -> int:
        """Start moving ``size`` bytes, no faster than transfer ``feeder`` (when given)
        brings them in; returns a handle for ``cancel``."""
        if not src.alive or not dst.alive or (feeder >= 0 and self.callbacks[feeder] is None):
            self.engine.after(0.0, on_fail)
            return -1
        if not self.free:
            self._grow()
        slot = self.free.pop()
        if feeder >= 0:
            self.feeder_of[slot] = feeder
            self.readers.setdefault(feeder, []).append(slot)
        self._new.append((slot, src.index, dst.index, size, self.engine.now))
        self.callbacks[slot] = (on_done, on_fail)
        if not self.ticking:
            self.ticking = True
            self.engine.after(self.step_s, self._tick)
        return slot

    def cancel(self, slot: int) -> None:
        if slot >= 0 and self.callbacks[slot] is not None:
            self._release(slot, completed=False)

    def _release(self, slot: int, *, completed: bool) -> tuple[Callback, Callback] | None:
        """Forget a transfer; a slot still waiting for the next step is freed there.

        Transfers it feeds run free when it completed, and fail when it did not."""
        callbacks, self.callbacks[slot] = self.callbacks[slot], None
        if self.feeder_of.pop(slot, -1) >= 0:
            self.feeder[slot] = -1
        if self.active[slot]:
            self.active[slot] = False
            self.free.append(slot)
        for reader in self.readers.pop(slot, ()):
            if self.feeder_of.get(reader) != slot:
                continue  # gone already (and perhaps its slot reused)
            if completed:
                del self.feeder_of[reader]
                self.feeder[reader] = -1
                continue
            failed = self._release(reader, completed=False)
            if failed is not None:
                self.engine.after(0.0, failed[1])
        return callbacks

    def _flush_new(self) -> None:
        if not self._new:
            return
        fresh = [entry for entry in self._new if self.callbacks[entry[0]] is not None]
        self.free.extend(entry[0] for entry in self._new if self.callbacks[entry[0]] is None)
        self._new = []
        if fresh:
            slots, src, dst, size, since = (np.array(column) for column in zip(*fresh, strict=True))
            self.src[slots], self.dst[slots] = src, dst
            self.remaining[slots], self.since[slots] = size, since
            self.size[slots] = size
            feeder_of = self.feeder_of
            self.feeder[slots] = [feeder_of.get(int(s), -1) for s in slots]
            self.active[slots] = True

    def _tick(self) -> None:
        self._flush_new()
        slots = np.flatnonzero(self.active)
        if slots.size == 0:
            self.ticking = False
            return
        now = self.engine.now
        src, dst = self.src[slots], self.dst[slots]
        hosts = len(self.hosts)
        n_up = np.bincount(src, minlength=hosts)
        n_down = np.bincount(dst, minlength=hosts)
        rate = np.minimum(self.up[src] / n_up[src], self.down[dst] / n_down[dst])
        before = self.remaining[slots]
        left = before - np.minimum(rate * (now - self.since[slots]), before)
        if self.feeder_of:
            left = self._hold_back(slots, left)
        self.sent += np.bincount(src, weights=before - left, minlength=hosts)
        self.remaining[slots] = left
        self.since[slots] = now
        self.engine.after(self.step_s, self._tick)
        for slot in slots[left <= 1e-6].tolist():
            callbacks = self._release(slot, completed=True)
            if callbacks is not None:
                callbacks[0]()

    def _hold_back(
        self, slots: npt.NDArray[np.int64], left: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """A fed transfer keeps at least its feeder's share of its bytes to go (chains of
        feeders are settled link by link)."""
        feeder = self.feeder[slots]
        fed = np.flatnonzero(feeder >= 0)
        if fed.size == 0:
            return left
        share = np.zeros(len(self.active))
        size = self.size[slots]
        share[slots] = left / size
        for _ in range(64):
            floor = size[fed] * share[feeder[fed]]
            held = floor > left[fed]
            if not held.any():
                break
            left[fed[held]] = floor[held]
            share[slots[fed[held]]] = floor[held] / size[fed[held]]
        return left

    def set_upload(self, host: SimHost, up: float) -> None:
        host.up = up
        self.up[host.index] = up

    def kill(self, host: SimHost) -> None:
        """The host is gone: every transfer touching it fails."""
        self._flush_new()
        host.alive = False
        self.up[host.index] = 0.0
        self.down[host.index] = 0.0
        touching = self.active & ((self.src == host.index) | (self.dst == host.index))
        failed = [self._release(int(slot), completed=False) for slot in np.flatnonzero(touching)]
        for callbacks in failed:
            if callbacks is not None:
                callbacks[1]()
