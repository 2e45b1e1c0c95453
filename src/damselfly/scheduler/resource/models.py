"""Hosts, tasks and peers as the scheduler keeps them (reference/dragonfly.md §4.1).

Edges of a task's peer graph are added and removed only through ``Task.add_edge`` and
``Task.delete_in_edges``/``delete_out_edges``, which keep each parent host's upload
accounting (slots, and the load terms Dragonfly's evaluator reads) in step.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from enum import Enum

from damselfly.core.bitmap import Bitmap
from damselfly.core.models import DownloadRequest, HostInfo, HostType, Priority
from damselfly.scheduler.resource.graph import PeerGraph
from damselfly.scheduler.resource.states import (
    PeerEvent,
    PeerState,
    TaskEvent,
    TaskState,
    next_peer_state,
    next_task_state,
)
from damselfly.scheduler.resource.stats import CostWindow, DecayingRate, SamplePool, WindowRate

TINY_FILE_SIZE = 128
# Link capacity assumed for a host that announced none and was not measured yet.
PRIOR_CAPACITY_BPS = 1e9
# An unannounced link is taken to be this much faster than the most it was seen to
# carry, so a host that is not saturated is offered more children until it is.
PROBE_FACTOR = 1.25
DEFAULT_CONCURRENT_PIECES = 8
COST_WINDOW = 2000
RATE_TAU_S = 2.0
RECENT_WINDOW_S = 3.0


class SizeScope(Enum):
    UNKNOWN = "Unknown"
    EMPTY = "Empty"
    TINY = "Tiny"
    SMALL = "Small"
    NORMAL = "Normal"


@dataclass(eq=False, slots=True)
class Host:
    info: HostInfo
    announce_interval_s: float
    updated_at: float
    disable_shared: bool = False
    # Announced link capacity in bits per second; 0 when the host does not say.
    max_tx_bps: float = 0.0
    max_rx_bps: float = 0.0
    created_at: float = 0.0
    peers: dict[str, Peer] = field(default_factory=dict)
    # One slot per graph edge out of this host's peers (Dragonfly's accounting).
    concurrent_uploads: int = 0
    upload_count: int = 0
    upload_failed_count: int = 0
    # Dragonfly's scheduler-side load estimate (evaluator_default.go).
    tx_bandwidth_bps: float = 0.0
    concurrent_upload_pieces: int = 0
    upload_content_length: int = 0
    # Measured from the costs children report for pieces this host served.
    served: DecayingRate = field(default_factory=lambda: DecayingRate(RATE_TAU_S))
    peak_served_bps: float = 0.0
    # Upload rate promised to children by the throughput evaluator (bits per second).
    reserved_bps: float = 0.0

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def is_seed(self) -> bool:
        return self.info.type is HostType.SEED

    @property
    def upload_limit(self) -> int:
        return self.info.upload_limit

    @property
    def free_upload_slots(self) -> int:
        return self.info.upload_limit - self.concurrent_uploads

    def upload_capacity_bps(self) -> float:
        """Announced, else a little above the highest measured (never below the prior)."""
        if self.max_tx_bps > 0:
            return self.max_tx_bps
        return max(self.peak_served_bps * PROBE_FACTOR, PRIOR_CAPACITY_BPS)

    def has_free_upload(self) -> bool:
        return self.reserved_bps < self.upload_capacity_bps() * FREE_SHARE

    def reserve(self, delta_bps: float) -> None:
        """Change the reserved upload rate; peers' pool membership follows."""
        before = self.has_free_upload()
        self.reserved_bps = max(0.0, self.reserved_bps + delta_bps)
        if self.has_free_upload() != before:
            for peer in list(self.peers.values()):
                if peer.id in peer.task.parent_pool:
                    peer.task.refresh_pool(peer)


@dataclass(eq=False, slots=True)
class Task:
    id: str
    download: DownloadRequest
    created_at: float
    back_to_source_limit: int
    state: TaskState = TaskState.PENDING
    content_length: int = -1
    piece_count: int = -1
    piece_length: int = 0
    peers: dict[str, Peer] = field(default_factory=dict)
    graph: PeerGraph = field(default_factory=PeerGraph)
    back_to_source_peers: set[str] = field(default_factory=set)
    # Rate reserved on each edge (parent id, child id) by the evaluator, bits per second.
    edge_rates: dict[tuple[str, str], float] = field(default_factory=dict)
    peer_failed_count: int = 0
    seed_failed_at: float | None = None
    seed_triggered_at: float | None = None
    updated_at: float = 0.0
    # Peers that may serve as parents by their state and edges (a superset of those the
    # filters accept), so sampling candidates costs O(sample), not O(peers); and those
    # of them whose host has upload rate left to promise.
    parent_pool: SamplePool = field(default_factory=SamplePool)
    free_pool: SamplePool = field(default_factory=SamplePool)
    # Download capacities of the task's peers, sorted (for the typical one).
    downlinks: list[float] = field(default_factory=list)

    def fire(self, event: TaskEvent, now: float) -> None:
        self.state = next_task_state(self.state, event)
        self.updated_at = now

    def add_peer(self, peer: Peer) -> None:
        self.peers[peer.id] = peer
        if not peer.host.is_seed:
            peer.downlink_noted = peer.download_capacity_bps()
            bisect.insort(self.downlinks, peer.downlink_noted)
        self.refresh_pool(peer)

    def remove_peer(self, peer_id: str) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is not None and peer.downlink_noted > 0:
            index = bisect.bisect_left(self.downlinks, peer.downlink_noted)
            if index < len(self.downlinks) and self.downlinks[index] == peer.downlink_noted:
                self.downlinks.pop(index)
        self.parent_pool.discard(peer_id)
        self.free_pool.discard(peer_id)

    def typical_downlink_bps(self) -> float:
        """The median download capacity of the task's normal peers (0 when none)."""
        links = self.downlinks
        return links[(len(links) - 1) // 2] if links else 0.0

    def refresh_pool(self, peer: Peer) -> None:
        if peer.id in self.peers and peer.may_be_parent():
            self.parent_pool.add(peer.id)
            if peer.host.has_free_upload():
                self.free_pool.add(peer.id)
            else:
                self.free_pool.discard(peer.id)
        else:
            self.parent_pool.discard(peer.id)
            self.free_pool.discard(peer.id)

    def sample_peers(self, limit: int, rng: random.Random, exclude: Peer) -> list[Peer]:
        """Up to ``limit`` random peers other than ``exclude`` that may be parents.

        Dragonfly samples ``filter_parent_limit`` vertices of the task's graph and then
        filters them; in a large task most of a blind sample are peers that just
        registered and cannot serve yet. Sampling among the peers whose state and edges
        allow serving keeps the same bound on work and finds the parents that exist.
        Peers whose host has upload rate left come first."""
        ids = self.free_pool.sample(limit + 1, rng)
        if len(ids) < limit + 1:
            seen = set(ids)
            extra = self.parent_pool.sample(limit + 1, rng)
            ids += [i for i in extra if i not in seen][: limit + 1 - len(ids)]
        return [self.peers[i] for i in ids if i != exclude.id][:limit]

    def can_back_to_source(self) -> bool:
        """At most ``back_to_source_limit`` peers fetch from the origin at once.

        Dragonfly tests ``len <= limit`` (one more than the limit may go); we keep the
        limit as written: with a limit of 0 no peer of the task reaches the origin.
        """
        return len(self.back_to_source_peers) < self.back_to_source_limit

    def size_scope(self) -> SizeScope:
        if self.content_length < 0 or self.piece_count < 0:
            return SizeScope.UNKNOWN
        if self.content_length == 0:
            return SizeScope.EMPTY
        if self.content_length <= TINY_FILE_SIZE:
            return SizeScope.TINY
        if self.piece_count == 1:
            return SizeScope.SMALL
        return SizeScope.NORMAL

    def has_available_peer(self, child: Peer) -> bool:
        """Some other peer on another host has, or is fetching, the content.

        Such a peer is a content source, or running with parents: it is in the parent
        pool, which is much smaller than the task while a burst registers."""
        return any(
            p.state in CONTENT_STATES
            and p.id not in child.block_parents
            and p.host.id != child.host.id
            for p in (self.peers[i] for i in self.parent_pool)
        )

    def add_edge(self, parent: Peer, child: Peer, rate_bps: float = 0.0) -> None:
        """parent -> child, with the parent host's upload accounting."""
        self.graph.add_edge(parent.id, child.id)
        child.hops = min(child.hops, parent.distance() + 1)
        self.refresh_pool(child)
        if rate_bps > 0:
            self.edge_rates[(parent.id, child.id)] = rate_bps
            parent.host.reserve(rate_bps)
            child.expected_bps += rate_bps
        host = parent.host
        host.concurrent_uploads += 1
        host.upload_count += 1
        host.tx_bandwidth_bps += child.peak_bandwidth_bps()
        host.concurrent_upload_pieces += child.concurrent_piece_count
        host.upload_content_length += max(self.content_length, 0)

    def _release(self, parent_id: str, child: Peer) -> None:
        rate = self.edge_rates.pop((parent_id, child.id), 0.0)
        child.expected_bps = max(0.0, child.expected_bps - rate)
        parent = self.peers.get(parent_id)
        if parent is None:
            return
        host = parent.host
        if rate > 0:
            host.reserve(-rate)
        host.concurrent_uploads = max(0, host.concurrent_uploads - 1)
        host.tx_bandwidth_bps = max(0.0, host.tx_bandwidth_bps - child.peak_bandwidth_bps())
        host.concurrent_upload_pieces = max(
            0, host.concurrent_upload_pieces - child.concurrent_piece_count
        )
        host.upload_content_length = max(
            0, host.upload_content_length - max(self.content_length, 0)
        )

    def unreserve_out_edges(self, parent: Peer) -> None:
        """Keep the edges out of ``parent`` but promise nothing on them any more."""
        for child_id in self.graph.children(parent.id):
            rate = self.edge_rates.pop((parent.id, child_id), 0.0)
            child = self.peers.get(child_id)
            if rate > 0 and child is not None:
                child.expected_bps = max(0.0, child.expected_bps - rate)
                parent.host.reserve(-rate)

    def delete_in_edges(self, child: Peer) -> set[str]:
        """Drop the edges into ``child``; returns the former parents."""
        child.hops = NO_SOURCE
        if not self.graph.in_degree(child.id):
            return set()  # nothing changes, its pool membership neither
        parents = set(self.graph.parents(child.id))
        for parent_id in parents:
            self._release(parent_id, child)
        self.graph.delete_in_edges(child.id)
        self.refresh_pool(child)
        return parents

    def delete_out_edges(self, parent: Peer) -> set[str]:
        """Drop the edges out of ``parent``; returns the former children."""
        children = set(self.graph.children(parent.id))
        for child_id in children:
            child = self.peers.get(child_id)
            if child is not None:
                self._release(parent.id, child)
        self.graph.delete_out_edges(parent.id)
        return children


@dataclass(eq=False, slots=True)
class Peer:
    id: str
    task: Task
    host: Host
    download: DownloadRequest
    created_at: float
    state: PeerState = PeerState.PENDING
    finished: Bitmap = field(default_factory=Bitmap)
    # Costs (ns, scaled to a whole piece) of the pieces children fetched from this peer.
    served_costs_ns: CostWindow = field(default_factory=lambda: CostWindow(COST_WINDOW))
    received: DecayingRate = field(default_factory=lambda: DecayingRate(RATE_TAU_S))
    # Bytes per second reported over the last few seconds, to tell a starving peer.
    recent: WindowRate = field(default_factory=lambda: WindowRate(RECENT_WINDOW_S))
    peak_received_bps: float = 0.0
    # Sum of the rates reserved on the edges into this peer (bits per second).
    expected_bps: float = 0.0
    # Edges between this peer and a content source, as of when it got its parents.
    hops: int = 1 << 20
    downlink_noted: float = 0.0
    block_parents: set[str] = field(default_factory=set)
    need_back_to_source: bool = False
    concurrent_piece_count: int = DEFAULT_CONCURRENT_PIECES
    updated_at: float = 0.0
    piece_updated_at: float = 0.0
    pushed_at: float = -1e18
    # When the piece costs children reported last made this peer a bad parent.
    bad_since: float | None = None
    # Its mean served cost (ns) before the piece that got it flagged.
    usual_cost_ns: float = 0.0
    cost_s: float = 0.0

    @property
    def priority(self) -> Priority:
        return self.download.priority

    def peak_bandwidth_bps(self) -> float:
        """Dragonfly's estimate of what this peer may pull from one parent."""
        return float(max(self.task.piece_length, 0) * self.concurrent_piece_count * 8)

    def fire(self, event: PeerEvent, now: float) -> None:
        """Apply ``event``, keeping the task's graph, counters and sets in step."""
        before = self.state
        self.state = next_peer_state(before, event)
        self.updated_at = now
        task = self.task
        if before is PeerState.BACK_TO_SOURCE:
            task.back_to_source_peers.discard(self.id)
            if event is PeerEvent.DOWNLOAD_FAILED:
                task.peer_failed_count += 1
        if self.state is PeerState.BACK_TO_SOURCE:
            task.back_to_source_peers.add(self.id)
        if event is PeerEvent.DOWNLOAD_SUCCEEDED:
            task.peer_failed_count = 0
        if event in (
            PeerEvent.DOWNLOAD_BACK_TO_SOURCE,
            PeerEvent.DOWNLOAD_SUCCEEDED,
            PeerEvent.DOWNLOAD_FAILED,
            PeerEvent.LEAVE,
        ):
            task.delete_in_edges(self)
        task.refresh_pool(self)

    def may_be_parent(self) -> bool:
        """State and edges allow serving (filters 4-6 of Dragonfly, without costs)."""
        if self.state in POOL_STATES:
            return True
        if self.state in (PeerState.RUNNING, PeerState.RECEIVED_NORMAL):
            return self.task.graph.in_degree(self.id) > 0 or (
                self.host.is_seed and self.state is PeerState.RUNNING
            )
        return False

    def release_parents(self) -> set[str]:
        return self.task.delete_in_edges(self)

    def download_capacity_bps(self) -> float:
        """Announced, else a little above the highest measured (never below the prior)."""
        if self.host.max_rx_bps > 0:
            return self.host.max_rx_bps
        return max(self.peak_received_bps * PROBE_FACTOR, PRIOR_CAPACITY_BPS)

    def distance(self) -> int:
        """0 for a peer that has or fetches the content itself, else ``hops``."""
        return 0 if self.has_content_source() else self.hops

    def has_content_source(self) -> bool:
        """The peer has, or is fetching, content on its own (seed, origin, done)."""
        return self.state in (PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED)


NO_SOURCE = 1 << 20
# A host whose reservations stay below this share of its uplink takes more children.
FREE_SHARE = 0.95
CONTENT_STATES = (PeerState.RUNNING, PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED)
POOL_STATES = (PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED)
