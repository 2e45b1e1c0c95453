"""The scheduler's stores: every host, task and peer, owned by one writer."""

from __future__ import annotations

from dataclasses import dataclass, field

from damselfly.scheduler.resource.models import Host, Peer, Task


@dataclass
class Resources:
    hosts: dict[str, Host] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    # The seed hosts again, so choosing a seed does not scan every host.
    seeds: dict[str, Host] = field(default_factory=dict)

    def add_host(self, host: Host) -> None:
        self.hosts[host.id] = host
        if host.is_seed:
            self.seeds[host.id] = host
        else:
            self.seeds.pop(host.id, None)

    def remove_host(self, host_id: str) -> Host | None:
        self.seeds.pop(host_id, None)
        return self.hosts.pop(host_id, None)

    def add_peer(self, peer: Peer) -> None:
        self.peers[peer.id] = peer
        peer.task.graph.add_vertex(peer.id)
        peer.task.add_peer(peer)
        peer.host.peers[peer.id] = peer

    def remove_peer(self, peer: Peer) -> set[str]:
        """Forget a peer entirely; returns the children that lost it as a parent."""
        task = peer.task
        task.delete_in_edges(peer)
        children = task.delete_out_edges(peer)
        task.graph.delete_vertex(peer.id)
        task.remove_peer(peer.id)
        task.back_to_source_peers.discard(peer.id)
        peer.host.peers.pop(peer.id, None)
        self.peers.pop(peer.id, None)
        return children
