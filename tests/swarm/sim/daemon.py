"""A simulated dfdaemon download: what conductor.py does, on the simulated network.

The piece choice is the daemon's own ``PiecePlanner``. The rest follows the conductor:
register, add every parent a ``normal_task`` names (later ones too), follow each parent's
piece announcements (SyncPieces), keep ``concurrent_pieces`` fetches in flight, report
finished pieces in batches (16 pieces or 0.2 s), report failed pieces, reschedule when
the planner says the parents cannot finish, and go back to source when told to. The part
between the daemon and its parents and children (with cut-through) is ``PieceExchange``
in piece_exchange.py; this module is the daemon's side of the scheduler, the origin and
the end of a download.

One behaviour is the one requested of the daemon, not today's: when the scheduler
restarts, a running download re-registers (with the pieces it has) instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from damselfly.core.models import DownloadRequest, HostInfo, Traffic
from damselfly.scheduler.responses import (
    BackToSourceResponse,
    EmptyTaskResponse,
    FailedResponse,
    ParentsResponse,
    Response,
)
from tests.swarm.sim.engine import Event
from tests.swarm.sim.network import SimHost
from tests.swarm.sim.piece_exchange import PieceExchange

if TYPE_CHECKING:
    from tests.swarm.sim.cluster import Cluster

SCHEDULE_TIMEOUT_S = 30.0


class SimDaemon(PieceExchange):
    def __init__(
        self,
        cluster: Cluster,
        *,
        index: int,
        net_host: SimHost,
        info: HostInfo,
        peer_id: str,
        request: DownloadRequest,
    ) -> None:
        super().__init__(cluster, net_host=net_host, info=info, peer_id=peer_id)
        self.index = index
        self.request = request
        self.answered = False
        self.started_at = 0.0
        self.finished_at: float | None = None
        self._timeout: Event | None = None
        self.failure = ""

    # Scheduler side --------------------------------------------------------------

    def start(self) -> None:
        self.started_at = self.cluster.engine.now
        self.state = "waiting"
        self._register()
        self._timeout = self.cluster.engine.after(SCHEDULE_TIMEOUT_S, self._schedule_timeout)

    def _register(self, finished: list[int] | None = None) -> None:
        def call() -> None:
            self.cluster.service.register_peer(
                self.info.id,
                self.cluster.task_id,
                self.peer_id,
                self.request,
                self._respond,
                finished=finished or (),
                host_info=self.info,
            )

        self.cluster.to_scheduler(self, call)

    def _respond(self, response: Response) -> None:
        """The scheduler decided (called inside its method); the answer travels."""
        self.cluster.messages_out += 1
        if isinstance(response, ParentsResponse):
            self.cluster.handed_out([p.peer_id for p in response.parents])
        self.cluster.engine.after(self.cluster.latency, lambda: self.on_response(response))

    def _schedule_timeout(self) -> None:
        if not self.answered and self.state == "waiting":
            self._go_to_source("the scheduler did not answer in time")

    def on_response(self, response: Response) -> None:
        if not self.live:
            return
        first = not self.answered
        self.answered = True
        if isinstance(response, ParentsResponse):
            self.rescheduling = False
            if self.state == "waiting":
                self.state = "p2p"
            for parent in response.parents:
                if self.planner.add_parent(parent.peer_id):
                    self._follow(parent.peer_id)
            if first:
                self.cluster.to_scheduler(
                    self, lambda: self.cluster.service.download_started(self.peer_id)
                )
            self._fill()
            self._check_stall()
        elif isinstance(response, BackToSourceResponse):
            if self.state != "source":
                self._go_to_source(response.description)
        elif isinstance(response, EmptyTaskResponse):
            self._finish(from_source=False)
        elif isinstance(response, FailedResponse):
            self._fail(f"{response.code.value}: {response.description}")

    def scheduler_restarted(self) -> None:
        """The scheduler stream broke (conductor.py): keep the parents we have; when they
        cannot finish, fetch the rest from the origin, as does one still waiting for its
        first answer. Nothing more is sent on the broken stream."""
        if not self.live:
            return
        self.scheduler_gone = True
        if self.state == "waiting":
            self._go_to_source("the scheduler did not answer")
            return
        self._check_stall()

    def _to_scheduler(self, call: Callable[[], None]) -> None:
        self.cluster.to_scheduler(self, call)

    # Origin ----------------------------------------------------------------------

    def _go_to_source(self, reason: str) -> None:
        if self.request.disable_back_to_source:
            self._fail(f"back-to-source disabled: {reason}")
            return
        for transfer in self.inflight.values():
            self.cluster.network.cancel(transfer)
        self.inflight.clear()
        self.receiving.clear()
        self.state = "source"
        self.cluster.to_scheduler(
            self, lambda: self.cluster.service.back_to_source_started(self.peer_id)
        )
        self._next_from_source()

    def _next_from_source(self) -> None:
        if self.state != "source":
            return
        missing = next((n for n in range(self.cluster.piece_count) if n not in self.have), None)
        if missing is None:
            self._finish(from_source=True)
            return
        self.cluster.network.start(
            self.cluster.origin,
            self.net_host,
            self.cluster.pieces[missing].length,
            lambda: self._from_source(missing),
            lambda: self._fail("origin transfer failed"),
        )

    def _from_source(self, number: int) -> None:
        if self.state != "source":
            return
        self._got(number, Traffic.BACK_TO_SOURCE, "", 0)
        self._next_from_source()

    # End -------------------------------------------------------------------------

    def _finish(self, *, from_source: bool) -> None:
        self.reports.flush()
        self.state = "done"
        self.finished_at = self.cluster.engine.now
        if self._timeout is not None:
            self._timeout.cancel()
        length, count = self.cluster.scenario.file_size, self.cluster.piece_count
        service = self.cluster.service

        def report() -> None:
            service.peer_finished(self.peer_id, length, count, from_source=from_source)
            service.stream_closed(self.peer_id)

        self.cluster.to_scheduler(self, report)
        for child in list(self.children):
            self._announce(child, [])
        self.cluster.on_done(self)

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self.state = "failed"
        for transfer in self.inflight.values():
            self.cluster.network.cancel(transfer)
        self.inflight.clear()
        self.receiving.clear()
        self.cluster.to_scheduler(self, lambda: self.cluster.service.stream_closed(self.peer_id))
        for child in list(self.children):
            self.cluster.engine.after(
                self.cluster.latency, partial(child.parent_gone, self.peer_id)
            )
        self.cluster.on_done(self)

    def kill(self) -> None:
        """The host dies: its streams break and its transfers fail."""
        was_live = self.live
        self.state = "dead"
        self.reports.drop()
        if self._timeout is not None:
            self._timeout.cancel()
        self.cluster.network.kill(self.net_host)
        for child in list(self.children):
            self.cluster.engine.after(
                self.cluster.latency, partial(child.parent_gone, self.peer_id)
            )
        self.cluster.to_scheduler(self, lambda: self.cluster.service.stream_closed(self.peer_id))
        if was_live:
            self.cluster.on_done(self)
