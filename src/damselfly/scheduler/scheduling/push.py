"""Unasked-for parents for peers that are downloading (pure).

Dragonfly answers a peer only when it registers or reschedules, so a peer keeps the
parents it got first even when better ones appear a moment later: in a burst of
registrations, that is the seed alone for everybody. Here a running peer is offered
more parents when it has no parent with pieces it lacks, when the rates reserved for it
do not cover its downlink (evaluators that reserve), or when it has been downloading
slower than its downlink allows. New parents are picked by the same filters and
evaluator, only ones that can give it something, up to ``max_parents`` in all. The new
answer names only parents the peer does not have; the daemon adds them to the ones it
uses. The dispatcher rate-limits this per peer (``push_interval_s``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.bad_node import is_bad_parent
from damselfly.scheduler.scheduling.decide import Context, best_parents
from damselfly.scheduler.scheduling.evaluators.throughput import BEHIND_SLACK, first_need_bps
from damselfly.scheduler.scheduling.filters import candidate_parents

PUSHABLE_STATES = frozenset(
    {
        PeerState.RECEIVED_TINY,
        PeerState.RECEIVED_SMALL,
        PeerState.RECEIVED_NORMAL,
        PeerState.RUNNING,
    }
)
# A peer promised less than this share of its downlink wants more parents; one measured
# at less than STARVING of what it was promised wants any parent that is ahead of it.
SHORT = 0.8
STARVING = 0.5
# Parents given at once to a starving peer (they are shared, not promised).
STARVING_PUSH = 2


class Want(Enum):
    NOTHING = "nothing"
    MORE = "more"  # parents with rate to promise
    ANY = "any"  # any parent ahead, promised or not: the peer is starving


@dataclass(frozen=True)
class PushPolicy:
    candidate_parent_limit: int = 4
    filter_parent_limit: int = 15
    max_parents: int = 8


def is_ahead(parent: Peer, child: Peer) -> bool:
    """The parent has, or is about to have, pieces the child lacks."""
    if parent.has_content_source():
        return True
    return len(parent.finished) > len(child.finished) + BEHIND_SLACK


def wants(peer: Peer, policy: PushPolicy, ctx: Context, now: float) -> Want:
    if peer.state not in PUSHABLE_STATES or peer.need_back_to_source:
        return Want.NOTHING
    task = peer.task
    if task.piece_count > 0 and len(peer.finished) >= task.piece_count:
        return Want.NOTHING
    graph = task.graph
    if graph.in_degree(peer.id) >= policy.max_parents:
        return Want.NOTHING
    parents = [task.peers.get(pid) for pid in graph.parents(peer.id)]
    live = [p for p in parents if p is not None and not is_bad_parent(p, ctx.rule)]
    if not live:
        return Want.ANY
    promised = first_need_bps(peer) if ctx.evaluator.reserves else peer.download_capacity_bps()
    recent = peer.recent.rate(now)
    if recent is not None and recent * 8 < STARVING * promised:
        return Want.ANY
    if ctx.evaluator.reserves:
        short = peer.expected_bps < SHORT * peer.download_capacity_bps()
        return Want.MORE if short else Want.NOTHING
    return Want.NOTHING if any(is_ahead(p, peer) for p in live) else Want.ANY


def extra_parents(
    peer: Peer, want: Want, policy: PushPolicy, ctx: Context, now: float
) -> list[tuple[Peer, float]]:
    """Parents to add, with their reserved rates; only ones that can give something."""
    room = policy.max_parents - peer.task.graph.in_degree(peer.id)
    if room <= 0 or want is Want.NOTHING:
        return []
    if want is Want.MORE:
        picked = best_parents(peer, min(room, policy.candidate_parent_limit), ctx, now)
        return [(p, rate) for p, rate in picked if rate > 0]
    # Starving: whatever its promises say, it needs parents that have what it lacks.
    found = candidate_parents(peer, ctx.limits.filter_parent_limit, ctx.rng, ctx.rule)
    ahead = [p for p in ctx.evaluator.rank(found, peer, now) if is_ahead(p, peer)]
    return [(p, 0.0) for p in ahead[: min(room, STARVING_PUSH)]]
