"""Terms shared by the evaluators (reference/dragonfly.md §4.7)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState

MAX_LOCATION_ELEMENTS = 5


class Evaluator(ABC):
    # True when ``select`` reserves rates on edges (then a peer's reserved total says
    # whether its parents can feed it).
    reserves = False

    @abstractmethod
    def score(self, parent: Peer, child: Peer, now: float) -> float:
        """How good ``parent`` is for ``child``; higher is better."""

    def rank(self, parents: list[Peer], child: Peer, now: float) -> list[Peer]:
        """Best first; ties keep the sampled order."""
        scored = [(self.score(p, child, now), i, p) for i, p in enumerate(parents)]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [p for _, _, p in scored]

    def select(
        self, candidates: list[Peer], child: Peer, limit: int, now: float
    ) -> list[tuple[Peer, float]]:
        """The parents to give, each with the rate (bits/s) it is expected to carry.

        Dragonfly's evaluators rank and keep the best ``limit``, reserving nothing."""
        return [(p, 0.0) for p in self.rank(candidates, child, now)[:limit]]


def idc_affinity(parent: Peer, child: Peer) -> float:
    a, b = parent.host.info.idc, child.host.info.idc
    return 1.0 if a and b and a.lower() == b.lower() else 0.0


def location_affinity(parent: Peer, child: Peer) -> float:
    """Equal locations score 1; otherwise the shared leading ``|`` elements over 5."""
    a, b = parent.host.info.location, child.host.info.location
    if not a or not b:
        return 0.0
    if a.lower() == b.lower():
        return 1.0
    left, right = a.lower().split("|"), b.lower().split("|")
    matches = 0
    for x, y in zip(left[:MAX_LOCATION_ELEMENTS], right[:MAX_LOCATION_ELEMENTS], strict=False):
        if x != y:
            break
        matches += 1
    return matches / MAX_LOCATION_ELEMENTS


def host_type_score(parent: Peer) -> float:
    """A seed counts fully only while it is about to fetch or fetching (Dragonfly's rule);
    a normal host counts half."""
    if parent.host.is_seed:
        return 1.0 if parent.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING) else 0.0
    return 0.5
