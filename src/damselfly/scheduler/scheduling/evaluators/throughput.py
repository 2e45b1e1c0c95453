"""Our default evaluator: what rate a child can expect from a parent, and enough parents
to fill the child's downlink.

Dragonfly scores each parent on its own and hands out the best four. In a burst of
registrations that gives the seed (best by every term) to everybody: its uplink is split
forty ways, every child pulls the same first pieces from it, and the other peers, all at
the same point of the file, have nothing to give each other. Here the scheduler keeps
books on rates instead:

- a parent host's uplink capacity is what the host announced (``max_tx_bps``), else the
  highest upload rate measured from the piece costs its children reported (with a prior
  while nothing is measured); it is scaled down by ``health`` when the last pieces it
  served cost more than its usual;
- each edge reserves part of it (``Host.reserved_bps``); a parent offers what is left;
- a parent that is still downloading cannot serve faster than it receives: its offer is
  capped by its own supply (the rates reserved for it, or its measured download rate);
- a parent behind the child has nothing the child lacks (pieces come in order) and
  offers nothing.

``select`` takes parents by offer until the child's downlink (announced, measured, or the
prior) is covered, reserving on each edge what it takes, at most ``limit`` parents. A
parent that is itself still downloading promises at most half of it (``SPREAD``) when
another can give the rest. In a burst this gives the seed as many children as its uplink
can feed at full speed, and each newcomer after them two of the seed's children or their
children as parents: a mesh as wide as the bandwidth allows, instead of one seed for all.
Two parents, not one: a peer that has caught up with one parent (all of them about as
far along in a burst, at the same random pace) still has the other's pieces, so delays
do not add up from level to level. Where only one parent can give (uplinks no faster
than downlinks: 8 hosts at 100 Mbit/s), the child takes it alone; such a chain is as
fast as the links allow once parents serve pieces they are still receiving
(cut-through), and faster than a mesh of half-promised parents there (tests/swarm/sim:
1.26x against 1.88x the bound).
"""

from __future__ import annotations

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.scheduling.evaluators.common import (
    Evaluator,
    idc_affinity,
    location_affinity,
)

# A parent this many pieces behind the child still counts (reports come in batches).
BEHIND_SLACK = 8
AFFINITY_WEIGHT = 0.05
UNBOUNDED = float("inf")
# A parent still downloading promises at most 1/SPREAD of a child's need when SPREAD
# parents can give. Time over the fluid bound in tests/swarm/sim (60 peers at 1 Gbit/s;
# bench.simulate with 500 peers): 1 -> 1.14, 1.18; 2 -> 1.09, 1.13; 3 -> 1.40, 1.22
# (more parents, more of them behind the child).
SPREAD = 2


def health(parent: Peer) -> float:
    """1 while the last served piece cost no more than usual; less when it cost more."""
    costs = parent.served_costs_ns
    if len(costs) < 2 or costs.last <= 0:
        return 1.0
    return min(1.0, costs.mean_before_last() / costs.last)


def free_upload_bps(parent: Peer) -> float:
    host = parent.host
    return max(0.0, host.upload_capacity_bps() * health(parent) - host.reserved_bps)


def supply_bps(parent: Peer, now: float) -> float:
    """How fast the parent gets content: unbounded for one that has it or fetches it."""
    if parent.has_content_source():
        return UNBOUNDED
    measured = parent.received.rate(now) * 8
    return min(parent.download_capacity_bps(), max(parent.expected_bps, measured))


def useful(parent: Peer, child: Peer) -> bool:
    if parent.has_content_source():
        return True
    return len(parent.finished) + BEHIND_SLACK >= len(child.finished)


def offer_bps(parent: Peer, child: Peer, now: float) -> float:
    if not useful(parent, child):
        return 0.0
    return min(free_upload_bps(parent), supply_bps(parent, now))


def first_need_bps(child: Peer) -> float:
    """The rate to promise a child: its downlink, but no more than the task's typical
    downlink, so a few fast peers do not take the seed's whole uplink from the many.
    What is left later tops fast peers up (pushed parents)."""
    typical = child.task.typical_downlink_bps()
    capacity = child.download_capacity_bps()
    return min(capacity, typical) if typical > 0 else capacity


class ThroughputEvaluator(Evaluator):
    reserves = True

    def score(self, parent: Peer, child: Peer, now: float) -> float:
        return self._score(parent, child, offer_bps(parent, child, now))

    @staticmethod
    def _score(parent: Peer, child: Peer, offer: float) -> float:
        affinity = idc_affinity(parent, child) + location_affinity(parent, child)
        # Between parents that offer the same rate, the one fewer hops from a content
        # source: its pieces arrive earlier, and the tree stays shallow.
        near = 1.0 / (1.0 + min(parent.distance(), 1000))
        rate = min(offer, child.download_capacity_bps())
        return rate * (1.0 + AFFINITY_WEIGHT * affinity) + near

    def select(
        self, candidates: list[Peer], child: Peer, limit: int, now: float
    ) -> list[tuple[Peer, float]]:
        need = first_need_bps(child) - child.expected_bps
        offers = [(p, offer_bps(p, child, now)) for p in candidates]
        # Parents that offer nothing score below every one that offers something.
        ranked = [(p, o) for p, o in offers if o > 0] or offers
        scored = [(self._score(p, child, o), i, p, o) for i, (p, o) in enumerate(ranked)]
        scored.sort(key=lambda item: (-item[0], item[1]))
        giving = [(parent, offer) for _, _, parent, offer in scored[:limit] if offer > 0]
        if not giving or need <= 0:
            # Nothing to promise: the best candidate, to fetch what it can.
            return [(scored[0][2], 0.0)] if scored else []
        cap = need / SPREAD if len(giving) >= SPREAD else need
        takes: list[float] = []
        for parent, offer in giving:
            take = min(offer, need) if parent.has_content_source() else min(offer, need, cap)
            takes.append(take)
            need -= take
        if len(giving) > 1:
            # Still short: the chosen parents' leftover offers, best first.
            for i, (_, offer) in enumerate(giving):
                extra = max(0.0, min(offer - takes[i], need))
                takes[i] += extra
                need -= extra
        return [(parent, take) for (parent, _), take in zip(giving, takes, strict=True) if take > 0]
