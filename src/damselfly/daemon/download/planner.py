"""Which piece to fetch next and from which parent (pure).

Parents announce pieces as they get them. A worker takes the least loaded parent that
has a piece nobody is fetching, and from it the lowest such piece, so the download moves
forward in order and the load spreads over every parent. A parent that failed a piece is
not asked for that piece again; one that keeps failing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from damselfly.core.models import PieceInfo

MAX_PARENT_FAILURES = 3


@dataclass
class _Parent:
    pieces: dict[int, PieceInfo] = field(default_factory=dict)
    live: bool = True
    load: int = 0
    failures: int = 0


class PiecePlanner:
    def __init__(self, done: set[int] | None = None) -> None:
        self.total = -1
        self.done: set[int] = set(done or ())
        self.inflight: dict[int, str] = {}
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

    def next(self) -> tuple[PieceInfo, str] | None:
        order = sorted(self.parents.items(), key=lambda item: item[1].load)
        for parent_id, parent in order:
            for number in sorted(parent.pieces):
                if (
                    number not in self.done
                    and number not in self.inflight
                    and parent_id not in self.excluded.get(number, ())
                ):
                    return parent.pieces[number], parent_id
        return None

    def started(self, number: int, parent_id: str) -> None:
        self.inflight[number] = parent_id
        if parent_id in self.parents:
            self.parents[parent_id].load += 1

    def _release(self, number: int) -> None:
        parent_id = self.inflight.pop(number, None)
        if parent_id in self.parents:
            self.parents[parent_id].load -= 1

    def finished(self, number: int) -> None:
        self._release(number)
        self.done.add(number)

    def failed(self, number: int, parent_id: str) -> bool:
        """Record a failed piece; True when the parent has now been dropped."""
        self._release(number)
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
