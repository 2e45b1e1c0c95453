"""Hosts, tasks and peers as the scheduler keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(eq=False)
class Host:
    info: HostInfo
    announce_interval_s: float
    updated_at: float
    peers: dict[str, Peer] = field(default_factory=dict)
    concurrent_uploads: int = 0
    upload_count: int = 0
    upload_failed_count: int = 0

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def is_seed(self) -> bool:
        return self.info.type is HostType.SEED

    @property
    def free_upload_slots(self) -> int:
        return self.info.upload_limit - self.concurrent_uploads


@dataclass(eq=False)
class Task:
    id: str
    download: DownloadRequest
    created_at: float
    back_to_source_limit: int
    state: TaskState = TaskState.PENDING
    content_length: int = -1
    piece_count: int = -1
    peers: dict[str, Peer] = field(default_factory=dict)
    graph: PeerGraph = field(default_factory=PeerGraph)
    back_to_source_peers: set[str] = field(default_factory=set)
    seed_failed_at: float | None = None
    seed_triggered_at: float | None = None
    updated_at: float = 0.0

    def fire(self, event: TaskEvent, now: float) -> None:
        self.state = next_task_state(self.state, event)
        self.updated_at = now

    def can_back_to_source(self) -> bool:
        return len(self.back_to_source_peers) < self.back_to_source_limit


@dataclass(eq=False)
class Peer:
    id: str
    task: Task
    host: Host
    download: DownloadRequest
    created_at: float
    state: PeerState = PeerState.PENDING
    finished: Bitmap = field(default_factory=Bitmap)
    piece_costs_ns: list[int] = field(default_factory=list)
    block_parents: set[str] = field(default_factory=set)
    need_back_to_source: bool = False
    updated_at: float = 0.0
    piece_updated_at: float = 0.0

    @property
    def priority(self) -> Priority:
        return self.download.priority

    def fire(self, event: PeerEvent, now: float) -> None:
        """Apply ``event``, keeping the task's graph and counters in step."""
        before = self.state
        self.state = next_peer_state(before, event)
        self.updated_at = now
        if before is PeerState.BACK_TO_SOURCE:
            self.task.back_to_source_peers.discard(self.id)
        if self.state is PeerState.BACK_TO_SOURCE:
            self.task.back_to_source_peers.add(self.id)
        if event in (
            PeerEvent.DOWNLOAD_BACK_TO_SOURCE,
            PeerEvent.DOWNLOAD_SUCCEEDED,
            PeerEvent.DOWNLOAD_FAILED,
            PeerEvent.LEAVE,
        ):
            self.release_parents()

    def release_parents(self) -> None:
        """Drop the edges into this peer and give the parents' upload slots back."""
        for parent_id in self.task.graph.delete_in_edges(self.id):
            parent = self.task.peers.get(parent_id)
            if parent is not None:
                parent.host.concurrent_uploads = max(0, parent.host.concurrent_uploads - 1)
