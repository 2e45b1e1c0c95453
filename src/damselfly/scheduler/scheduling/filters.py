"""Which peers of a task may serve as parents of a given child."""

from __future__ import annotations

import random

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState

# States in which a peer is no use as a parent (Dragonfly's bad-node states).
_BAD_STATES = frozenset(
    {
        PeerState.PENDING,
        PeerState.RECEIVED_EMPTY,
        PeerState.RECEIVED_NORMAL,
        PeerState.FAILED,
        PeerState.LEAVE,
    }
)


def rejection(child: Peer, candidate: Peer) -> str | None:
    """Why ``candidate`` cannot be a parent of ``child``, or None when it can."""
    graph = child.task.graph
    if candidate.id == child.id or candidate.id in child.block_parents:
        return "blocked"
    if candidate.host.id == child.host.id:
        return "same host"
    if candidate.id not in graph:
        return "not in graph"
    if (
        not candidate.host.is_seed
        and graph.in_degree(candidate.id) == 0
        and candidate.state not in (PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED)
    ):
        return "no parent and no content source"
    if candidate.state in _BAD_STATES:
        return "bad state"
    if candidate.host.free_upload_slots <= 0:
        return "no free upload slot"
    if not graph.can_add_edge(candidate.id, child.id):
        return "would form a cycle"
    return None


def candidate_parents(child: Peer, sample_limit: int, rng: random.Random) -> list[Peer]:
    """Up to ``sample_limit`` randomly sampled peers of the task that pass every filter."""
    others = [p for p in child.task.peers.values() if p.id != child.id]
    if len(others) > sample_limit:
        others = rng.sample(others, sample_limit)
    return [p for p in others if rejection(child, p) is None]
