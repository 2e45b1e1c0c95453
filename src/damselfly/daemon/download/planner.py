"""Which piece to fetch next and from which parent (pure).

Parents announce pieces as they get them. A worker takes the parent that would deliver
a new piece soonest, judged by its measured throughput and the pieces it is already
serving us, and from it the rarest piece among our parents (ties broken at random), so
children of one seed ask it for different pieces and can then trade them, as
BitTorrent's rarest-first does; asking for pieces in order would have the seed send the
same piece to every child. A parent that failed a piece is not asked for it again; one
that keeps failing is dropped. In the endgame, when every missing piece is in flight, an
idle worker asks a second parent for a piece that is late (in flight much longer than
its parent's pace), and the first answer wins: one slow parent cannot hold the whole
download back, and a healthy download wastes no bytes on duplicates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from damselfly.core.models import PieceInfo

MAX_PARENT_FAILURES = 3
# Pieces in flight at one parent: a parent not yet measured gets MIN_INFLIGHT; a measured
# one as many as it delivers in TARGET_LATENCY_S, up to MAX_INFLIGHT. Asking a slow,
# shared parent (a seed at 100 Mbit/s) for 8 pieces at once only queues them behind every
# other child's, until they time out; a fast one needs several to fill the pipe.
MIN_INFLIGHT = 2
MAX_INFLIGHT = 8
TARGET_LATENCY_S = 0.5
# An in-flight piece is late, and worth asking a second parent for, after this many
# times its parent's expected time (or LATE_UNMEASURED_S when the parent is unmeasured).
LATE_FACTOR = 3.0
LATE_UNMEASURED_S = 3.0
# Throughput assumed for a parent not yet measured: optimistic, so every parent is tried.
UNMEASURED_BYTES_PER_S = 1e12
# Weight of the newest sample in a parent's throughput average.
THROUGHPUT_SMOOTHING = 0.3


@dataclass
class _Parent:
    pieces: dict[int, PieceInfo] = field(default_factory=dict)
    wanted: set[int] = field(default_factory=set)
    """Its pieces we do not have yet."""
    live: bool = True
    load: int = 0
    failures: int = 0
    bytes_per_s: float = 0.0
    piece_length: int = 1
    """The length of this parent's pieces (all but a last one are equal)."""

    def full(self, length: int) -> bool:
        """No more requests for now: as many pieces in flight as it can turn around."""
        if not self.bytes_per_s:
            return self.load >= MIN_INFLIGHT
        fits = int(self.bytes_per_s * TARGET_LATENCY_S / max(length, 1)) + 1
        return self.load >= max(MIN_INFLIGHT, min(MAX_INFLIGHT, fits))

    def expected_s(self, length: int) -> float:
        """Seconds until a new piece of ``length`` from this parent would be in."""
        rate = self.bytes_per_s or UNMEASURED_BYTES_PER_S
        return (self.load + 1) * length / rate


class PiecePlanner:
    def __init__(self, done: set[int] | None = None, rng: random.Random | None = None) -> None:
        self.total = -1
        self.done: set[int] = set(done or ())
        self.inflight: dict[int, list[str]] = {}
        self.started_at: dict[int, float] = {}
        self.rng = rng or random.Random()
        self.parents: dict[str, _Parent] = {}
        self.dropped: set[str] = set()
        self.excluded: dict[int, set[str]] = {}
        self._holders: dict[int, int] = {}
        """How many of our parents hold each piece."""

    def add_parent(self, parent_id: str) -> bool:
        """Track a parent; False when it is known already or was dropped."""
        if parent_id in self.parents or parent_id in self.dropped:
            return False
        self.parents[parent_id] = _Parent()
        return True

    def drop_parent(self, parent_id: str) -> None:
        parent = self.parents.pop(parent_id, None)
        if parent is not None:
            self.dropped.add(parent_id)
            for number in parent.pieces:
                self._holders[number] -= 1

    def announce(self, parent_id: str, pieces: list[PieceInfo]) -> None:
        parent = self.parents.get(parent_id)
        if parent is not None:
            for piece in pieces:
                number = piece.number
                if number not in parent.pieces:
                    self._holders[number] = self._holders.get(number, 0) + 1
                    if number not in self.done:
                        parent.wanted.add(number)
                parent.pieces[number] = piece
                parent.piece_length = max(parent.piece_length, piece.length)

    def announced(self, parent_id: str, number: int) -> PieceInfo | None:
        """What ``parent_id`` last announced of piece ``number``; None when it has not,
        or when the parent is gone."""
        parent = self.parents.get(parent_id)
        return parent.pieces.get(number) if parent is not None else None

    def parent_finished(self, parent_id: str) -> None:
        """The parent's piece stream ended: it will announce nothing more."""
        parent = self.parents.get(parent_id)
        if parent is not None:
            parent.live = False

    def complete(self) -> bool:
        return self.total >= 0 and len(self.done) >= self.total

    def _usable(self, number: int, parent_id: str) -> bool:
        return number not in self.done and parent_id not in self.excluded.get(number, ())

    def _rarest(self, parent_id: str, parent: _Parent) -> int | None:
        """The piece of ``parent`` we may fetch that the fewest of our parents hold."""
        best: tuple[int, float, int] | None = None
        holders = self._holders
        for number in parent.wanted:
            if number in self.inflight or not self._usable(number, parent_id):
                continue
            key = (holders[number], self.rng.random(), number)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def next(self, now: float = 0.0) -> tuple[PieceInfo, str] | None:
        best: tuple[float, float, str, int] | None = None
        for parent_id, parent in self.parents.items():
            if parent.full(parent.piece_length):
                continue
            number = self._rarest(parent_id, parent)
            if number is None:
                continue
            length = parent.pieces[number].length
            key = (parent.expected_s(length), self.rng.random(), parent_id, number)
            if best is None or key < best:
                best = key
        if best is not None:
            return self.parents[best[2]].pieces[best[3]], best[2]
        return self._endgame(now)

    def _late(self, number: int, now: float) -> bool:
        fetching = self.parents.get(self.inflight[number][0])
        if fetching is None:
            return True
        length = fetching.pieces[number].length if number in fetching.pieces else 0
        pace = (
            LATE_FACTOR * length / fetching.bytes_per_s
            if fetching.bytes_per_s
            else LATE_UNMEASURED_S
        )
        return now - self.started_at.get(number, now) > pace

    def _endgame(self, now: float) -> tuple[PieceInfo, str] | None:
        """Every piece left is in flight: ask another parent for the oldest late one."""
        for number in sorted(self.inflight, key=lambda n: self.started_at.get(n, 0.0)):
            fetching = self.inflight[number]
            if len(fetching) != 1 or not self._late(number, now):
                continue
            choices = [
                (parent.expected_s(parent.pieces[number].length), parent_id)
                for parent_id, parent in self.parents.items()
                if number in parent.pieces
                and not parent.full(parent.pieces[number].length)
                and parent_id not in fetching
                and self._usable(number, parent_id)
            ]
            if choices:
                parent_id = min(choices)[1]
                return self.parents[parent_id].pieces[number], parent_id
        return None

    def started(self, number: int, parent_id: str, now: float = 0.0) -> None:
        if number not in self.inflight:
            self.started_at[number] = now
        self.inflight.setdefault(number, []).append(parent_id)
        if parent_id in self.parents:
            self.parents[parent_id].load += 1

    def _release(self, number: int, parent_id: str) -> None:
        fetching = self.inflight.get(number)
        if fetching is None or parent_id not in fetching:
            return
        fetching.remove(parent_id)
        if not fetching:
            del self.inflight[number]
            self.started_at.pop(number, None)
        if parent_id in self.parents:
            self.parents[parent_id].load -= 1

    def is_done(self, number: int) -> bool:
        return number in self.done

    def finished(self, number: int, parent_id: str = "", seconds: float = 0.0) -> bool:
        """Record a piece in; False when another parent delivered it first."""
        parent = self.parents.get(parent_id)
        if parent is not None and seconds > 0:
            length = parent.pieces[number].length if number in parent.pieces else 0
            sample = length / seconds
            parent.bytes_per_s = (
                sample
                if not parent.bytes_per_s
                else THROUGHPUT_SMOOTHING * sample + (1 - THROUGHPUT_SMOOTHING) * parent.bytes_per_s
            )
        first = number not in self.done
        for fetching in list(self.inflight.get(number, [])):
            self._release(number, fetching)
        self.done.add(number)
        if first:
            for holder in self.parents.values():
                holder.wanted.discard(number)
        return first

    def failed(self, number: int, parent_id: str) -> bool:
        """Record a failed piece; True when the parent has now been dropped."""
        self._release(number, parent_id)
        if number in self.done:
            return False
        self.excluded.setdefault(number, set()).add(parent_id)
        parent = self.parents.get(parent_id)
        if parent is None:
            return False
        parent.failures += 1
        if parent.failures >= MAX_PARENT_FAILURES:
            self.drop_parent(parent_id)
            return True
        return False

    def stalled(self) -> bool:
        """Nothing to fetch, nothing in flight and no parent that may announce more."""
        if self.complete() or self.inflight:
            return False
        if any(p.live for p in self.parents.values()):
            return False
        return self.next() is None

    def missing(self) -> list[int]:
        return [n for n in range(self.total) if n not in self.done] if self.total >= 0 else []
