"""The peer-to-peer half of a simulated dfdaemon download: parents and pieces.

A ``PieceExchange`` follows each parent's piece announcements (SyncPieces), keeps
``concurrent_pieces`` fetches in flight with the daemon's own ``PiecePlanner``, serves its
own pieces to the children that follow it, reports finished and failed pieces, and asks for
a reschedule when the planner says the parents cannot finish. ``SimDaemon`` (daemon.py)
adds the rest: registering, the scheduler's answers, the origin and the end.

Cut-through, as the daemon does it (storage/inflight.py): a daemon announces a piece to
its children as soon as it starts receiving it from a parent (not from the origin), and a
child fetching such a piece gets its bytes no faster than they arrive; when the parent's
fetch fails, so does the child's. ``Scenario.cut_through`` turns it off.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from damselfly.core.models import HostInfo, PieceInfo, Traffic
from damselfly.daemon.download.planner import PiecePlanner
from tests.swarm.sim.books import Receiving, Reports
from tests.swarm.sim.network import SimHost

if TYPE_CHECKING:
    from tests.swarm.sim.cluster import Cluster


class PieceExchange(ABC):
    """A daemon's parents, children and pieces; ``SimDaemon`` is the one subclass."""

    def __init__(
        self, cluster: Cluster, *, net_host: SimHost, info: HostInfo, peer_id: str
    ) -> None:
        self.cluster = cluster
        self.net_host = net_host
        self.info = info
        self.peer_id = peer_id
        self.state = "idle"
        # Seeded per daemon: the planner breaks ties at random, and a run must repeat.
        self.planner = PiecePlanner(rng=random.Random(f"{cluster.scenario.rng_seed}:{peer_id}"))
        self.parents: dict[str, PieceExchange] = {}
        self.children: dict[PieceExchange, None] = {}  # ordered: runs repeat exactly
        self.arrival: list[int] = []
        self.have: set[int] = set()
        # (piece, parent) -> transfer handle (-1: requested); in the endgame one piece
        # may be in flight from two parents.
        self.inflight: dict[tuple[int, str], int] = {}
        self.receiving = Receiving(cluster.scenario.cut_through)
        self.scheduler_gone = False
        self.rescheduling = False
        self.reports = Reports(cluster.engine, self._report)

    @property
    def live(self) -> bool:
        return self.state in ("waiting", "p2p", "source")

    # What the rest of the daemon provides ----------------------------------------

    @abstractmethod
    def _to_scheduler(self, call: Callable[[], None]) -> None:
        """Send a message to the scheduler on this daemon's stream."""

    @abstractmethod
    def _go_to_source(self, reason: str) -> None:
        """Fetch the missing pieces from the origin."""

    @abstractmethod
    def _finish(self, *, from_source: bool) -> None:
        """Every piece is here."""

    # Parents ---------------------------------------------------------------------

    def _follow(self, parent_id: str) -> None:
        parent = self.cluster.daemons.get(parent_id)
        self.parents[parent_id] = parent if parent is not None else self
        engine, latency = self.cluster.engine, self.cluster.latency
        if parent is None or parent.state in ("dead", "failed"):
            engine.after(latency, lambda: self.parent_gone(parent_id))
            return
        engine.after(latency, lambda: parent.subscribe(self))

    def subscribe(self, child: PieceExchange) -> None:
        """A child's SyncPieces: every piece so far, then each new one, then the end."""
        if self.state in ("dead", "failed"):
            self.cluster.engine.after(self.cluster.latency, lambda: child.parent_gone(self.peer_id))
            return
        self.children[child] = None
        self._announce(child, [*self.arrival, *self.receiving.transfers])

    def _announce(self, child: PieceExchange, numbers: list[int]) -> None:
        done = self.state == "done"
        self.cluster.engine.after(
            self.cluster.latency, lambda: child.on_announce(self.peer_id, numbers, done)
        )

    def on_announce(self, parent_id: str, numbers: list[int], finished: bool) -> None:
        if not self.live or parent_id not in self.planner.parents:
            return
        if self.planner.total < 0:
            self.planner.total = self.cluster.piece_count
        fresh = [self.cluster.pieces[n] for n in numbers if n not in self.have]
        self.planner.announce(parent_id, fresh)
        if finished:
            self.planner.parent_finished(parent_id)
        self._fill()
        self._check_stall()

    def parent_gone(self, parent_id: str) -> None:
        """The parent's SyncPieces stream broke."""
        if not self.live:
            return
        self.planner.drop_parent(parent_id)
        self._fill()
        self._check_stall()

    # Pieces ----------------------------------------------------------------------

    def _fill(self) -> None:
        if self.state != "p2p":
            return
        while len(self.inflight) < self.cluster.scenario.concurrent_pieces:
            pick = self.planner.next()
            if pick is None:
                return
            piece, parent_id = pick
            self.planner.started(piece.number, parent_id)
            self.inflight[(piece.number, parent_id)] = -1
            number = piece.number
            self.cluster.engine.after(self.cluster.latency, partial(self._fetch, number, parent_id))

    def _fetch(self, number: int, parent_id: str) -> None:
        if self.state != "p2p" or (number, parent_id) not in self.inflight:
            return
        parent = self.parents[parent_id]
        began = self.cluster.engine.now
        feeder = -1
        if number not in parent.have:
            feeder = parent.receiving.feeder(number) if parent.state == "p2p" else -1
            if feeder < 0:
                # The parent's fetch of it failed: its piece server has nothing to send.
                self.cluster.engine.after(
                    self.cluster.latency, partial(self._fetch_failed, number, parent_id)
                )
                return
        slot = self.cluster.network.start(
            parent.net_host,
            self.net_host,
            self.cluster.pieces[number].length * self.cluster.jitter(),
            lambda: self._fetched(number, parent_id, began),
            lambda: self._fetch_failed(number, parent_id),
            feeder=feeder,
        )
        self.inflight[(number, parent_id)] = slot
        if number not in self.have and self.receiving.begin(number, slot):
            for child in list(self.children):
                self._announce(child, [number])

    def _fetched(self, number: int, parent_id: str, began: float) -> None:
        if self.state != "p2p":
            return
        self.receiving.end(number, self.inflight.pop((number, parent_id), -1))
        seconds = self.cluster.engine.now - began
        if self.planner.is_done(number):
            # An endgame duplicate that lost the race.
            self.planner.finished(number, parent_id, seconds)
            self._forget_piece(number, [])
            self._fill()
            self._check_stall()
            return
        fetching = list(self.planner.inflight.get(number, []))
        self.planner.finished(number, parent_id, seconds)
        self._forget_piece(number, [p for p in fetching if p != parent_id])
        parent = self.parents[parent_id]
        seed = parent.info.type.value == 1
        cost_ns = int(seconds * 1e9)
        self.cluster.served_piece(parent_id)
        self._got(number, Traffic.SEED_PEER if seed else Traffic.REMOTE_PEER, parent_id, cost_ns)
        if self.planner.complete():
            self._finish(from_source=False)
            return
        self._fill()
        self._check_stall()

    def _forget_piece(self, number: int, still_fetching: list[str]) -> None:
        """Drop a piece we have from the planner's view of each parent (but not from
        parents still fetching it: the planner reads its length when they finish).

        A piece we have is never chosen again, so this changes no decision; it keeps
        the planner's scan over each parent's pieces short, which the simulation of
        thousands of peers needs (the real daemon scans a few hundred pieces, once)."""
        for parent_id, parent in self.planner.parents.items():
            if parent_id not in still_fetching:
                parent.pieces.pop(number, None)

    def _fetch_failed(self, number: int, parent_id: str) -> None:
        if self.state != "p2p":
            return
        self.receiving.end(number, self.inflight.pop((number, parent_id), -1))
        self.planner.failed(number, parent_id)
        if self.planner.is_done(number):
            self._forget_piece(number, [])
        self._to_scheduler(lambda: self.cluster.service.piece_failed(self.peer_id, parent_id, True))
        self._fill()
        self._check_stall()

    def _got(self, number: int, traffic: Traffic, parent_id: str, cost_ns: int) -> None:
        self.have.add(number)
        self.arrival.append(number)
        length = self.cluster.pieces[number].length
        if number not in self.receiving.announced:
            for child in list(self.children):
                self._announce(child, [number])
        offset = self.cluster.pieces[number].offset
        self.reports.add(
            PieceInfo(
                number, offset, length, 0, parent_id=parent_id, traffic=traffic, cost_ns=cost_ns
            )
        )

    def _report(self, batch: list[PieceInfo]) -> None:
        self._to_scheduler(lambda: self.cluster.service.pieces_finished(self.peer_id, batch))

    def _check_stall(self) -> None:
        if self.state == "p2p" and self.scheduler_gone:
            if not self.parents or self.planner.stalled():
                self._go_to_source("the scheduler is gone and the parents cannot finish")
            return
        if (
            self.state == "p2p"
            and self.parents
            and not self.rescheduling
            and self.planner.stalled()
        ):
            self.rescheduling = True
            blocked = list(self.planner.dropped)
            self.cluster.reschedules += 1
            self._to_scheduler(lambda: self.cluster.service.reschedule(self.peer_id, blocked))
