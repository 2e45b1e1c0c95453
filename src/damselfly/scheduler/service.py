"""Scheduler use cases: hosts, peers and their reports, tasks, garbage collection.

One writer: every method runs on the event loop and never awaits between reading and
changing state. Output goes through each peer's ``Respond`` callback (via the
Dispatcher); time comes from the Clock, delays from the Timers, so the whole service
runs under a fake clock in tests and in the swarm simulation.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from damselfly.common.clock import Clock
from damselfly.core.errors import Code, FailedPrecondition, NotFound, PermissionDenied
from damselfly.core.models import (
    DownloadRequest,
    HostInfo,
    HostType,
    PieceInfo,
    Priority,
    Traffic,
)
from damselfly.scheduler.config import GCConfig, SchedulingConfig
from damselfly.scheduler.dispatcher import Dispatcher
from damselfly.scheduler.gc import collect_hosts, collect_peers, collect_tasks
from damselfly.scheduler.metrics import SchedulerMetrics, task_size_level
from damselfly.scheduler.resource.models import Host, Peer, SizeScope, Task
from damselfly.scheduler.resource.states import (
    RECEIVED_STATES,
    PeerEvent,
    PeerState,
    TaskEvent,
    TaskState,
)
from damselfly.scheduler.resource.store import Resources
from damselfly.scheduler.responses import EmptyTaskResponse, Respond, SeedTrigger, Timers
from damselfly.scheduler.scheduling.bad_node import MIN_RATIO, recovered, slow_by_costs
from damselfly.scheduler.seeding import Seeding, learn_layout

log = logging.getLogger(__name__)

# A finished piece as the adapters hand it over: number, length, parent id, cost (ns),
# where its bytes came from.
PieceRow = tuple[int, int, str, int, Traffic]

# A child's first pieces cost less than its later ones (few fetches share its link while
# it starts), so they would make a parent look slow later: its costs count after these.
WARM_PIECES = 16

_REGISTER_EVENT = {
    SizeScope.TINY: PeerEvent.REGISTER_TINY,
    SizeScope.SMALL: PeerEvent.REGISTER_SMALL,
}


class SchedulerService:
    def __init__(
        self,
        config: SchedulingConfig,
        clock: Clock,
        timers: Timers,
        trigger_seed: SeedTrigger,
        rng: random.Random | None = None,
        *,
        gc: GCConfig | None = None,
        metrics: SchedulerMetrics | None = None,
    ) -> None:
        self.config = config
        self.gc_config = gc or GCConfig()
        self.clock = clock
        self.trigger_seed = trigger_seed
        self.rng = rng or random.Random()
        self.metrics = metrics or SchedulerMetrics()
        self.resources = Resources()
        self.dispatch = Dispatcher(
            config,
            resources=self.resources,
            clock=clock,
            timers=timers,
            rng=self.rng,
            metrics=self.metrics,
        )
        self.seeding = Seeding(config, self.resources, clock, trigger_seed, self.dispatch)
        self.metrics.watch_waiting(self.dispatch.waiting_count)

    # Hosts -------------------------------------------------------------------

    def announce_host(
        self,
        info: HostInfo,
        interval_s: float,
        *,
        disable_shared: bool = False,
        max_tx_bps: float = 0.0,
        max_rx_bps: float = 0.0,
    ) -> Host:
        now = self.clock.now()
        host = self.resources.hosts.get(info.id)
        if host is None:
            host = Host(info, interval_s, updated_at=now, created_at=now)
            log.info("host %s joined (%s:%d, seed=%s)", info.id, info.ip, info.port, info.type)
        host.info, host.announce_interval_s, host.updated_at = info, interval_s, now
        self.resources.add_host(host)
        changed = (host.max_tx_bps, host.disable_shared) != (max_tx_bps, disable_shared)
        host.disable_shared, host.max_rx_bps = disable_shared, max_rx_bps
        host.max_tx_bps = max_tx_bps
        if changed:  # what the host may serve changed: so may its peers' pool places
            for peer in list(host.peers.values()):
                peer.task.refresh_pool(peer)
        return host

    def leave_host(self, host_id: str) -> None:
        """The host's peers leave; their children are offered other parents."""
        host = self.resources.remove_host(host_id)
        if host is None:
            return
        orphans: set[str] = set()
        for peer in list(host.peers.values()):
            orphans |= self.forget(peer)
        self.dispatch.replace_parent_of(orphans)
        log.info("host %s left", host_id)

    delete_host = leave_host

    def list_hosts(self, host_type: HostType | None = None) -> list[Host]:
        hosts = self.resources.hosts.values()
        return [h for h in hosts if host_type is None or h.info.type is host_type]

    def seed_hosts(self) -> list[Host]:
        return self.seeding.seed_hosts()

    def seed_trigger_failed(self, task_id: str, description: str) -> None:
        self.seeding.trigger_failed(task_id, description)

    def seed_has_task(
        self, host_id: str, task_id: str, content_length: int, piece_length: int, count: int
    ) -> None:
        self.seeding.has_stored(host_id, task_id, content_length, piece_length, count)

    # Registration ------------------------------------------------------------

    def register_peer(
        self,
        host_id: str,
        task_id: str,
        peer_id: str,
        download: DownloadRequest,
        respond: Respond,
        *,
        finished: Iterable[int] = (),
        host_info: HostInfo | None = None,
    ) -> None:
        now = self.clock.now()
        host = self.resources.hosts.get(host_id)
        if host is None and host_info is not None and host_info.id == host_id:
            host = self.announce_host(host_info, 0.0)
        if host is None:
            raise NotFound(f"host {host_id} is not announced; announce the host first")
        if download.priority is Priority.LEVEL1:
            raise PermissionDenied("downloads with priority 1 are forbidden")
        old = self.resources.peers.get(peer_id)
        if old is not None:  # registering again (a new stream): the old peer goes first
            self.dispatch.replace_parent_of(self.forget(old))
        task = self.resources.tasks.get(task_id)
        if task is None:
            task = Task(task_id, download, now, self.config.back_to_source_count)
            task.piece_length = download.piece_length or 0
            self.resources.tasks[task_id] = task
        peer = Peer(
            peer_id, task, host, download, created_at=now, updated_at=now, piece_updated_at=now
        )
        for number in finished:
            peer.finished.add(number)
        self.resources.add_peer(peer)
        self.dispatch.attach(peer_id, respond)
        peer.block_parents.add(peer_id)
        if download.need_back_to_source:
            peer.need_back_to_source = True
        elif not task.has_available_peer(peer):
            self.seeding.arrange_first_download(peer)
        scope = task.size_scope()
        if scope is SizeScope.EMPTY:
            peer.fire(PeerEvent.REGISTER_EMPTY, now)
            respond(EmptyTaskResponse())
            return
        if task.state in (TaskState.PENDING, TaskState.FAILED, TaskState.LEAVE) or (
            task.state is TaskState.SUCCEEDED and not task.has_available_peer(peer)
        ):
            task.fire(TaskEvent.DOWNLOAD, now)
        peer.fire(_REGISTER_EVENT.get(scope, PeerEvent.REGISTER_NORMAL), now)
        self.dispatch.schedule(peer, attempt=0)

    # Reports -------------------------------------------------------------------

    def _peer(self, peer_id: str) -> Peer:
        peer = self.resources.peers.get(peer_id)
        if peer is None:
            raise NotFound(f"peer {peer_id} is not registered; register it first")
        return peer

    def download_started(self, peer_id: str) -> None:
        peer = self._peer(peer_id)
        if peer.state in RECEIVED_STATES:
            peer.fire(PeerEvent.DOWNLOAD, self.clock.now())

    def back_to_source_started(self, peer_id: str) -> None:
        peer = self._peer(peer_id)
        if peer.state is not PeerState.BACK_TO_SOURCE:
            if not peer.task.can_back_to_source():
                raise FailedPrecondition("the task's back-to-source budget is spent")
            peer.fire(PeerEvent.DOWNLOAD_BACK_TO_SOURCE, self.clock.now())
        self.dispatch.wake_waiters(peer.task)

    def reschedule(self, peer_id: str, blocked: Iterable[str]) -> None:
        peer = self._peer(peer_id)
        peer.block_parents.update(blocked)
        self.dispatch.schedule(peer, attempt=0)

    def pieces_finished(self, peer_id: str, pieces: Iterable[PieceInfo]) -> None:
        """A batch of finished pieces: progress, rates, and the parents' served costs."""
        self.report_pieces(
            peer_id, ((p.number, p.length, p.parent_id, p.cost_ns, p.traffic) for p in pieces)
        )

    def report_pieces(self, peer_id: str, rows: Iterable[PieceRow]) -> None:
        """``pieces_finished`` on plain rows ``(number, length, parent_id, cost_ns,
        traffic)``: the most frequent report, so the adapter skips building PieceInfo
        objects and the loop keeps to local names and plain arithmetic."""
        peer = self._peer(peer_id)
        now = self.clock.now()
        task = peer.task
        add = peer.finished.add
        count = before = len(peer.finished)
        received = 0
        piece_length = task.piece_length
        lookup = self.resources.peers.get
        served: dict[str, tuple[Peer, int]] = {}
        slow: set[str] = set()
        rule = self.dispatch.rule
        traffic: dict[Traffic, int] = {}
        for number, length, parent_id, cost_ns, kind in rows:
            if not add(number):
                continue
            count += 1
            received += length
            if length > piece_length:
                piece_length = task.piece_length = length
            traffic[kind] = traffic.get(kind, 0) + length
            if not parent_id:
                continue
            entry = served.get(parent_id)
            parent = entry[0] if entry else lookup(parent_id)
            if parent is None or parent.task is not task:
                continue
            served[parent_id] = (parent, (entry[1] if entry else 0) + length)
            if count > WARM_PIECES and cost_ns > 0 and length > 0:
                costs = parent.served_costs_ns
                cost = cost_ns * piece_length / length
                costs.add(cost)
                # Each cost is judged as the newest: later ones of the same batch must not
                # hide a jump by raising the mean and sigma first. (Below MIN_RATIO times
                # the mean no rule can call it slow: skip the sums.)
                if cost > MIN_RATIO * costs.mean_before_last() and slow_by_costs(parent, rule):
                    slow.add(parent_id)
        host_type = _host_type(peer)
        for kind, length in traffic.items():
            self.metrics.traffic_of(kind.name, host_type).inc(length)
        peer.received.add(received, now)
        peer.recent.add(received, now)
        peer.updated_at = peer.piece_updated_at = now
        peer.peak_received_bps = max(peer.peak_received_bps, peer.received.rate(now) * 8)
        for parent, length in served.values():
            parent.updated_at = now
            host = parent.host
            host.served.add(length, now)
            host.peak_served_bps = max(host.peak_served_bps, host.served.rate(now) * 8)
            self._judge(parent, now, slow=parent.id in slow)
        if before == 0 and count:
            self.dispatch.wake_waiters(task)
        self.dispatch.push(peer)

    def _judge(self, parent: Peer, now: float, *, slow: bool) -> None:
        """Flag a parent a piece of which cost too much; its children get others. The
        flag goes when a whole batch passes and the newest cost is back near the usual."""
        if slow and parent.bad_since is None:
            parent.bad_since = now
            parent.usual_cost_ns = parent.served_costs_ns.mean_before_last()
            self.metrics.bad_parents.inc()
            log.info("peer %s is a bad parent by its piece costs", parent.id)
            parent.task.unreserve_out_edges(parent)
            self.dispatch.replace_parent_of(parent.task.graph.children(parent.id))
        elif not slow and parent.bad_since is not None and recovered(parent):
            parent.bad_since = None

    def piece_failed(self, peer_id: str, parent_id: str, temporary: bool) -> None:
        peer = self._peer(peer_id)
        peer.updated_at = self.clock.now()
        parent = self.resources.peers.get(parent_id)
        if parent is not None:
            parent.host.upload_failed_count += 1
        if temporary and parent_id:
            peer.block_parents.add(parent_id)

    def peer_finished(
        self, peer_id: str, content_length: int, piece_count: int, *, from_source: bool
    ) -> None:
        peer = self._peer(peer_id)
        now = self.clock.now()
        if peer.state is not PeerState.SUCCEEDED:
            peer.fire(PeerEvent.DOWNLOAD_SUCCEEDED, now)
        peer.cost_s = now - peer.created_at
        task = peer.task
        learn_layout(task, content_length, task.piece_length, piece_count, force=from_source)
        if len(peer.finished) < piece_count:
            for number in range(piece_count):
                peer.finished.add(number)
        if task.state is not TaskState.SUCCEEDED:
            task.fire(TaskEvent.DOWNLOAD_SUCCEEDED, now)
        self.metrics.download_peer_duration.labels(task_size_level(content_length)).observe(
            peer.cost_s * 1000
        )
        self.dispatch.detach(peer_id)
        self.dispatch.wake_waiters(task)

    def peer_failed(self, peer_id: str, description: str, code: Code, *, from_source: bool) -> None:
        peer = self._peer(peer_id)
        now = self.clock.now()
        if peer.state not in (PeerState.FAILED, PeerState.LEAVE):
            peer.fire(PeerEvent.DOWNLOAD_FAILED, now)
        self.dispatch.detach(peer_id)
        task = peer.task
        self.dispatch.replace_parent_of(task.delete_out_edges(peer))
        if from_source and peer.host.is_seed:
            task.seed_failed_at = now
            if task.state is TaskState.RUNNING:
                task.fire(TaskEvent.DOWNLOAD_FAILED, now)
            # The origin refused the seed: tell every waiting peer once, with the reason.
            for waiting in self.dispatch.waiting_peers(task):
                self.dispatch.fail(waiting.id, code, description)

    def stream_closed(self, peer_id: str) -> None:
        """The peer's stream ended; a peer that did not finish leaves."""
        self.dispatch.detach(peer_id)
        peer = self.resources.peers.get(peer_id)
        if peer is not None and peer.state is not PeerState.SUCCEEDED:
            self.dispatch.replace_parent_of(self.forget(peer))

    def forget(self, peer: Peer) -> set[str]:
        """Remove a peer; returns the children that lost it."""
        self.dispatch.detach(peer.id)
        if peer.state is not PeerState.LEAVE:
            peer.fire(PeerEvent.LEAVE, self.clock.now())
        children = self.resources.remove_peer(peer)
        task = peer.task
        if not task.peers:
            self.resources.tasks.pop(task.id, None)
        return children

    # Tasks and peers -------------------------------------------------------------

    def stat_task(self, task_id: str) -> Task:
        task = self.resources.tasks.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} is not known to this scheduler")
        return task

    def stat_peer(self, peer_id: str) -> Peer:
        return self._peer(peer_id)

    def delete_task(self, task_id: str, host_id: str = "") -> int:
        """Forget the task's peers on ``host_id`` (every peer when empty); returns how many."""
        task = self.stat_task(task_id)
        doomed = [p for p in task.peers.values() if not host_id or p.host.id == host_id]
        orphans: set[str] = set()
        for peer in doomed:
            orphans |= self.forget(peer)
        self.dispatch.replace_parent_of(orphans - {p.id for p in doomed})
        return len(doomed)

    def rebalance(self, peer_ids: Iterable[str] | None = None) -> int:
        """Offer more parents to running peers (all, or these) that want them."""
        return self.dispatch.rebalance(peer_ids)

    # Garbage collection ----------------------------------------------------------

    def gc_peers(self, peer_ids: Iterable[str] | None = None) -> int:
        """Collect peers (all, or these); returns how many were deleted."""
        return collect_peers(self, peer_ids)

    def gc_tasks(self) -> int:
        return collect_tasks(self)

    def gc_hosts(self) -> int:
        return collect_hosts(self)


def _host_type(peer: Peer) -> str:
    return "super" if peer.host.is_seed else "normal"
