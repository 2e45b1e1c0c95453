"""Scores candidate parents; higher is better.

The foundation evaluator prefers parents with more finished pieces, then seeds, then
hosts with free upload slots. The full set of evaluators is a separate issue.
"""

from __future__ import annotations

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState


def score(parent: Peer, child: Peer) -> float:
    total = parent.task.piece_count
    if parent.state is PeerState.SUCCEEDED:
        pieces = 1.0
    elif total > 0:
        pieces = len(parent.finished) / total
    else:
        pieces = min(1.0, len(parent.finished) / 1000)
    seed = 1.0 if parent.host.is_seed else 0.0
    limit = parent.host.info.upload_limit
    free = parent.host.free_upload_slots / limit if limit > 0 else 0.0
    return 0.6 * pieces + 0.2 * seed + 0.2 * free


def rank(parents: list[Peer], child: Peer) -> list[Peer]:
    return sorted(parents, key=lambda p: score(p, child), reverse=True)
