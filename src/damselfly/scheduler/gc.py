"""Garbage collection rules for peers, tasks and hosts (reference §4.11), pure.

Each function looks at the resources and the time it is given and says what to remove;
the service applies it, so the rules are tested under a fake clock without timers.
"""

from __future__ import annotations

from enum import Enum

from damselfly.scheduler.config import GCConfig
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerState


class PeerVerdict(Enum):
    KEEP = "keep"
    LEAVE = "leave"  # mark Leave now, delete on the next round
    DELETE = "delete"


def peer_verdict(peer: Peer, now: float, config: GCConfig) -> tuple[PeerVerdict, str]:
    """Dragonfly's peer GC, first matching rule wins."""
    if peer.state is PeerState.LEAVE:
        return PeerVerdict.DELETE, "left"
    if peer.host.disable_shared:
        return PeerVerdict.LEAVE, "its host does not share"
    if (
        peer.state in (PeerState.RUNNING, PeerState.BACK_TO_SOURCE)
        and now - peer.piece_updated_at > config.piece_download_timeout_s
    ):
        return PeerVerdict.LEAVE, "no piece for too long"
    if now - peer.updated_at > config.peer_ttl_s:
        return PeerVerdict.LEAVE, "idle past its TTL"
    if now - peer.host.updated_at > config.host_ttl_s:
        return PeerVerdict.LEAVE, "its host is silent past the host TTL"
    if peer.state is PeerState.FAILED:
        return PeerVerdict.LEAVE, "failed"
    if peer.id not in peer.task.graph:
        return PeerVerdict.DELETE, "not in the graph"
    task = peer.task
    if (
        len(task.peers) > config.peer_count_limit_for_task
        and peer.state is PeerState.SUCCEEDED
        and task.graph.in_degree(peer.id) == 0
        and task.graph.out_degree(peer.id) == 0
    ):
        return PeerVerdict.DELETE, "the task has many peers and this one serves nobody"
    return PeerVerdict.KEEP, ""


def task_is_garbage(task: Task) -> bool:
    return not task.peers


def host_is_garbage(host: Host, now: float, config: GCConfig) -> bool:
    """Silent for two announce intervals (Dragonfly's rule), or for the host TTL when it
    announced no interval. (Dragonfly v2.2 also dropped idle normal hosts; that races a
    host that announced and is about to register, so it is left out.)"""
    silent = now - host.updated_at
    if host.announce_interval_s > 0:
        return silent > 2 * host.announce_interval_s
    return silent > config.host_ttl_s
