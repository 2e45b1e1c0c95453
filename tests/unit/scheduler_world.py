"""Factories for the scheduler's pure tests: hosts, a task, peers in given states."""

from __future__ import annotations

from typing import Any

from damselfly.core.models import DownloadRequest, HostInfo, HostType
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.resource.store import Resources

GBIT = 1e9


def host_info(name: str, *, seed: bool = False, host_id: str = "", **fields: Any) -> HostInfo:
    """A host at 10.0.0.1 with the default ports; ``fields`` sets any other HostInfo field."""
    return HostInfo(
        id=host_id or f"host-{name}",
        type=HostType.SEED if seed else HostType.NORMAL,
        hostname=name,
        ip="10.0.0.1",
        port=4000,
        download_port=4005,
        **fields,
    )


def make_host(
    name: str,
    *,
    seed: bool = False,
    upload_limit: int = 200,
    idc: str = "",
    location: str = "",
    tx_bps: float = 0.0,
    rx_bps: float = 0.0,
) -> Host:
    info = host_info(name, seed=seed, idc=idc, location=location, upload_limit=upload_limit)
    return Host(
        info, announce_interval_s=30.0, updated_at=0.0, max_tx_bps=tx_bps, max_rx_bps=rx_bps
    )


def make_task(*, piece_count: int = 10, back_to_source_limit: int = 200) -> Task:
    task = Task("t" * 64, DownloadRequest("https://e.com/f"), 0.0, back_to_source_limit)
    task.piece_count = piece_count
    task.content_length = piece_count * 4 << 20
    task.piece_length = 4 << 20
    return task


class World:
    """A task with a child peer asking for parents, on its own host."""

    def __init__(
        self,
        *,
        back_to_source_limit: int = 200,
        download: DownloadRequest | None = None,
        child_host: Host | None = None,
    ) -> None:
        self.resources = Resources()
        self.task = make_task(back_to_source_limit=back_to_source_limit)
        self.child_host = child_host or make_host("child")
        self.child = self.peer(
            "child", PeerState.RECEIVED_NORMAL, host=self.child_host, download=download
        )
        self.child.block_parents.add(self.child.id)

    def peer(
        self,
        name: str,
        state: PeerState = PeerState.RUNNING,
        *,
        seed: bool = False,
        finished: int = 0,
        upload_limit: int = 200,
        in_graph: bool = True,
        host: Host | None = None,
        download: DownloadRequest | None = None,
        tx_bps: float = 0.0,
    ) -> Peer:
        host = host or make_host(name, seed=seed, upload_limit=upload_limit, tx_bps=tx_bps)
        self.resources.hosts[host.id] = host
        peer = Peer(name, self.task, host, download or DownloadRequest("https://e.com/f"), 0.0)
        peer.state = state
        for number in range(finished):
            peer.finished.add(number)
        if in_graph:
            self.resources.add_peer(peer)
        else:
            self.task.add_peer(peer)
        return peer

    def link(self, parent: Peer, child: Peer, rate_bps: float = 0.0) -> None:
        self.task.add_edge(parent, child, rate_bps)

    def relay(self, name: str, **kwargs: object) -> Peer:
        """A running normal peer that has a parent (a seed), so it may serve."""
        source = self.peer(f"{name}-source", PeerState.BACK_TO_SOURCE, seed=True)
        relay = self.peer(name, PeerState.RUNNING, **kwargs)  # type: ignore[arg-type]
        self.link(source, relay)
        return relay
