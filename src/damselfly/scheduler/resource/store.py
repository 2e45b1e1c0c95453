"""The scheduler's stores: every host, task and peer, owned by one writer."""

from __future__ import annotations

from dataclasses import dataclass, field

from damselfly.scheduler.resource.models import Host, Peer, Task


@dataclass
class Resources:
    hosts: dict[str, Host] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)

    def add_peer(self, peer: Peer) -> None:
        self.peers[peer.id] = peer
        peer.task.peers[peer.id] = peer
        peer.task.graph.add_vertex(peer.id)
        peer.host.peers[peer.id] = peer

    def remove_peer(self, peer: Peer) -> None:
        """Forget a peer entirely; its children lose it as a parent."""
        peer.release_parents()
        children = len(peer.task.graph.children(peer.id))
        peer.host.concurrent_uploads = max(0, peer.host.concurrent_uploads - children)
        peer.task.graph.delete_vertex(peer.id)
        peer.task.peers.pop(peer.id, None)
        peer.task.back_to_source_peers.discard(peer.id)
        peer.host.peers.pop(peer.id, None)
        self.peers.pop(peer.id, None)
