"""Two pieces of a simulated daemon's bookkeeping: the pieces it is receiving, which its
children may read meanwhile (cut-through), and the finished pieces it has yet to report."""

from __future__ import annotations

from collections.abc import Callable

from damselfly.core.models import PieceInfo
from tests.swarm.sim.engine import Engine, Event

BATCH_PIECES = 16
BATCH_DELAY_S = 0.2


class Receiving:
    """Pieces being received from parents, readable by children while the bytes arrive
    (the daemon's storage/inflight.py): piece -> the transfer bringing it in. Only the
    first transfer of a piece counts (an endgame duplicate stays private)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.transfers: dict[int, int] = {}
        # Announced while being received. The daemon announces them again once recorded,
        # which changes nothing for a child's planner: the simulation skips that.
        self.announced: set[int] = set()

    def begin(self, number: int, transfer: int) -> bool:
        """A transfer of ``number`` started; True when children may read it now."""
        if not self.enabled or transfer < 0 or number in self.transfers:
            return False
        self.transfers[number] = transfer
        self.announced.add(number)
        return True

    def end(self, number: int, transfer: int) -> None:
        """A transfer ended (well or not): children no longer read the piece through it."""
        if self.transfers.get(number) == transfer:
            del self.transfers[number]

    def feeder(self, number: int) -> int:
        """The transfer a child's read of ``number`` follows (-1: none)."""
        return self.transfers.get(number, -1)

    def clear(self) -> None:
        self.transfers.clear()


class Reports:
    """Finished pieces, sent in batches of BATCH_PIECES or after BATCH_DELAY_S."""

    def __init__(self, engine: Engine, send: Callable[[list[PieceInfo]], None]) -> None:
        self.engine = engine
        self.send = send
        self.pending: list[PieceInfo] = []
        self.timer: Event | None = None

    def add(self, piece: PieceInfo) -> None:
        self.pending.append(piece)
        if len(self.pending) >= BATCH_PIECES:
            self.flush()
        elif self.timer is None:
            self.timer = self.engine.after(BATCH_DELAY_S, self.flush)

    def flush(self) -> None:
        self.drop_timer()
        if self.pending:
            batch, self.pending = self.pending, []
            self.send(batch)

    def drop(self) -> None:
        """Forget what is pending (the host died)."""
        self.drop_timer()
        self.pending.clear()

    def drop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
