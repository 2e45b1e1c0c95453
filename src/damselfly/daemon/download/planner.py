"""Which piece to fetch next and from which parent (pure).

Parents announce pieces as they get them. A worker takes the parent that would deliver
a new piece soonest, judged by its measured throughput and the pieces it is already
serving us, and from it the lowest piece nobody is fetching, so the download moves
forward in order and load follows speed. A parent that failed a piece is not asked for
it again; one that keeps failing is dropped. In the endgame, when every missing piece is
already in flight, an idle worker asks a second parent for the oldest one, and the first
answer wins: one slow parent cannot hold the whole download back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from damselfly.core.models import PieceInfo

MAX_PARENT_FAILURES = 3
# Throughput assumed for a parent not yet measured: optimistic, so every parent is tried.
UNMEASURED_BYTES_PER_S = 1e12
# Weight of the newest sample in a parent's throughput average.
THROUGHPUT_SMOOTHING = 0.3


@dataclass
class _Parent:
    pieces: dict[int, PieceInfo] = field(default_factory=dict)
    live: bool = True
    load: int = 0
    failures: int = 0
    bytes_per_s: float = 0.0

    def expected_s(self, length: int) -> float:
        """Seconds until a new piece of ``length`` from this parent would be in."""
        rate = self.bytes_per_s or UNMEASURED_BYTES_PER_S
        return (self.load + 1) * length / rate


class PiecePlanner:
    def __init__(self, done: set[int] | None = None) -> None:
        self.total = -1
        self.done: set[int] = set(done or ())
        self.inflight: dict[int, list[str]] = {}
        self.parents: dict[str, _Parent] = {}
        self.dropped: set[str] = set()
        self.excluded: dict[int, set[str]] = {}

    def add_parent(self, parent_id: str) -> bool:
        """Track a parent; False when it is known already or was dropped."""
        if parent_id in self.parents or parent_id in self.dropped:
            return False
        self.parents[parent_id] = _Parent()
        return True

    def drop_parent(self, parent_id: str) -> None:
        if self.parents.pop(parent_id, None) is not None:
            self.dropped.add(parent_id)

    def announce(self, parent_id: str, pieces: list[PieceInfo]) -> None:
        parent = self.parents.get(parent_id)
        if parent is not None:
            for piece in pieces:
                parent.pieces[piece.number] = piece

    def parent_finished(self, parent_id: str) -> None:
        """The parent's piece stream ended: it will announce nothing more."""
        parent = self.parents.get(parent_id)
        if parent is not None:
            parent.live = False

    def complete(self) -> bool:
        return self.total >= 0 and len(self.done) >= self.total

    def _usable(self, number: int, parent_id: str) -> bool:
        return number not in self.done and parent_id not in self.excluded.get(number, ())

    def next(self) -> tuple[PieceInfo, str] | None:
        best: tuple[float, int, str] | None = None
        for parent_id, parent in self.parents.items():
            number = next(
                (
                    n
                    for n in sorted(parent.pieces)
                    if n not in self.inflight and self._usable(n, parent_id)
                ),
                None,
            )
            if number is None:
                continue
            key = (parent.expected_s(parent.pieces[number].length), number, parent_id)
            if best is None or key < best:
                best = key
        if best is not None:
            return self.parents[best[2]].pieces[best[1]], best[2]
        return self._endgame()

    def _endgame(self) -> tuple[PieceInfo, str] | None:
        """Every piece left is in flight: ask another parent for the oldest single one."""
        for number in sorted(self.inflight):
            fetching = self.inflight[number]
            if len(fetching) != 1:
                continue
            choices = [
                (parent.expected_s(parent.pieces[number].length), parent_id)
                for parent_id, parent in self.parents.items()
                if number in parent.pieces
                and parent_id not in fetching
                and self._usable(number, parent_id)
            ]
            if choices:
                parent_id = min(choices)[1]
                return self.parents[parent_id].pieces[number], parent_id
        return None

    def started(self, number: int, parent_id: str) -> None:
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
