"""Which peers of a task may serve as parents of a given child (reference §4.5).

Each rule is Dragonfly's, in Dragonfly's order; ``rejection`` names the first that fails.
One deliberate difference (see ``bad_node.bad_state``): a peer that registered and was
given a parent is usable before it reports started.
"""

from __future__ import annotations

import random
from enum import Enum

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.bad_node import BadParentRule, bad_state, judged_slow

_SOURCES = frozenset({PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED})


class Rejection(Enum):
    BLOCKED = "blocked"
    SHARING_DISABLED = "sharing disabled"
    SAME_HOST = "same host"
    NOT_IN_GRAPH = "not in graph"
    NO_CONTENT_SOURCE = "no parent and no content source"
    BAD_STATE = "bad state"
    SLOW = "bad by piece costs"
    NO_UPLOAD_SLOT = "no free upload slot"
    CYCLE = "would form a cycle"


def rejection(child: Peer, candidate: Peer, rule: BadParentRule) -> Rejection | None:
    """Why ``candidate`` cannot be a parent of ``child``, or None when it can."""
    graph = child.task.graph
    cid, host, state = candidate.id, candidate.host, candidate.state
    if cid == child.id or cid in child.block_parents:
        return Rejection.BLOCKED
    if host.disable_shared:
        return Rejection.SHARING_DISABLED
    if host.id == child.host.id:
        return Rejection.SAME_HOST
    if cid not in graph:
        return Rejection.NOT_IN_GRAPH
    if state not in _SOURCES and not host.is_seed and graph.in_degree(cid) == 0:
        return Rejection.NO_CONTENT_SOURCE
    if bad_state(candidate):
        return Rejection.BAD_STATE
    if judged_slow(candidate, rule):
        return Rejection.SLOW
    if host.free_upload_slots <= 0:
        return Rejection.NO_UPLOAD_SLOT
    if not graph.can_add_edge(cid, child.id):
        return Rejection.CYCLE
    return None


def candidate_parents(
    child: Peer, sample_limit: int, rng: random.Random, rule: BadParentRule
) -> list[Peer]:
    """Up to ``sample_limit`` randomly sampled peers of the task that pass every filter."""
    return [
        p
        for p in child.task.sample_peers(sample_limit, rng, child)
        if rejection(child, p, rule) is None
    ]
