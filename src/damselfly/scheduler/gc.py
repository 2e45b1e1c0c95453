"""Garbage collection of peers, tasks and hosts (reference §4.11).

The rules are pure: each looks at the resources and the time it is given and says what
to remove, so they are tested under a fake clock without timers. The ``collect_*``
functions apply them to a service (its one writer, between two awaits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from damselfly.scheduler.config import GCConfig
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerEvent, PeerState

if TYPE_CHECKING:
    from damselfly.scheduler.service import SchedulerService

log = logging.getLogger(__name__)


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


def collect_peers(service: SchedulerService, peer_ids: Iterable[str] | None = None) -> int:
    """Leave marks a peer (its children are offered others); delete comes a round later."""
    now, removed = service.clock.now(), 0
    orphans: set[str] = set()
    peers = service.resources.peers
    ids = list(peers) if peer_ids is None else peer_ids
    for peer in [peers[i] for i in ids if i in peers]:
        verdict, reason = peer_verdict(peer, now, service.gc_config)
        if verdict is PeerVerdict.LEAVE:
            log.info("gc: peer %s leaves (%s)", peer.id, reason)
            service.dispatch.detach(peer.id)
            peer.fire(PeerEvent.LEAVE, now)
            orphans |= peer.task.delete_out_edges(peer)
        elif verdict is PeerVerdict.DELETE:
            orphans |= service.forget(peer)
            removed += 1
    service.metrics.gc_peers.inc(removed)
    service.dispatch.replace_parent_of(orphans)
    return removed


def collect_tasks(service: SchedulerService) -> int:
    tasks = service.resources.tasks
    doomed = [t for t in tasks.values() if task_is_garbage(t)]
    for task in doomed:
        tasks.pop(task.id, None)
    return len(doomed)


def collect_hosts(service: SchedulerService) -> int:
    now, config = service.clock.now(), service.gc_config
    doomed = [h for h in service.resources.hosts.values() if host_is_garbage(h, now, config)]
    for host in doomed:
        log.info("gc: host %s is silent, it leaves", host.id)
        service.leave_host(host.id)
    return len(doomed)
