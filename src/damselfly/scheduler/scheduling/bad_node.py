"""Bad-parent detection (reference/dragonfly.md §4.6), by state and by piece costs.

The costs are those children report for pieces fetched *from* the candidate parent
(scaled to a whole piece), not the parent's own download costs as in Dragonfly: what a
child cares about is how fast the parent serves, and a parent whose uplink degrades shows
it only there. A child's first pieces are left out (service.WARM_PIECES): they cost less
while few fetches share its link, and would make every parent look slow afterwards. The
two regimes are Dragonfly's:

- fewer than ``samples`` costs: bad when the newest cost > ``mean_factor`` x the mean of
  the ones before it (a crude test while the spread is unknown);
- ``samples`` or more: bad when the newest cost > mean + ``sigma`` x sigma (population
  sigma of the costs before the newest), and at least MIN_RATIO x the mean.

Defaults ``samples=30``, ``sigma=6``, ``mean_factor=20``, chosen from tests/swarm runs
(60 peers, piece times spread log-normally with sigma 0.3; "healthy" runs have equal or
mixed links and no fault, "slowed" runs a parent whose uplink turns 10x slower at 3 s;
a flag is any parent judged bad, the slowed one included, counted again each time):

| samples, k | flags healthy | flags slowed | time / bound | slowed parent caught after |
|------------|--------------:|-------------:|-------------:|---------------------------:|
| 10, 3      | 5-16          | 34-37        | 1.27-1.40    | 1-3 pieces                 |
| 10, 6      | 0-1           | 3            | 1.25-1.57    | 1 piece                    |
| 30, 3      | 10-31         | 30-72        | 1.27-1.55    | 2 pieces                   |
| 30, 6      | 0-1           | 4            | 1.24-1.47    | 1 piece                    |
| 100, 6     | 0-1           | 0            | 1.25-1.34    | never (the 20x rule holds) |
| 2000, 3/6  | 0             | 0            | 1.25-1.36    | never                      |

With 3 sigma (Dragonfly's code), ordinary jitter crosses the line dozens of times a run,
and each false alarm moves children around; 6 sigma (the seed article) rarely does. Ten
samples did about as well as 30; with 100 or more, a 10x slowdown stays under the 20x
mean rule for the whole download (Dragonfly's current 2000 never catches it). So:
Dragonfly v2.2's 30 samples and the article's 6 sigma. Costs are judged one by one as
they come in, each as the newest (a batch of reports must not hide a jump by raising the
mean and sigma before the newest is looked at).
"""

from __future__ import annotations

from dataclasses import dataclass

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState

BAD_STATES: frozenset[PeerState] = frozenset(
    {
        PeerState.PENDING,
        PeerState.RECEIVED_EMPTY,
        PeerState.RECEIVED_TINY,
        PeerState.RECEIVED_SMALL,
        PeerState.FAILED,
        PeerState.LEAVE,
    }
)


@dataclass(frozen=True)
class BadParentRule:
    samples: int = 30
    sigma: float = 6.0
    mean_factor: float = 20.0


def bad_state(peer: Peer) -> bool:
    """Dragonfly's bad states, except that a peer that registered and already has a
    parent (in-degree > 0) is usable before it reports started: it is about to fetch,
    and handing it out at once keeps a burst of newcomers from all hanging on the seed."""
    if peer.state in BAD_STATES:
        return True
    if peer.state is PeerState.RECEIVED_NORMAL:
        return peer.task.graph.in_degree(peer.id) == 0
    return False


# In the sigma regime a piece must also cost this many times the mean: when costs barely
# vary (sigma near 0, as on an idle LAN) rounding would otherwise make a parent "bad".
MIN_RATIO = 3.0


def slow_by_costs(peer: Peer, rule: BadParentRule) -> bool:
    costs = peer.served_costs_ns
    if len(costs) < 2:
        return False
    last, mean = costs.last, costs.mean_before_last()
    if len(costs) < rule.samples:
        return last > rule.mean_factor * mean
    return last > max(mean + rule.sigma * costs.std_before_last(), MIN_RATIO * mean)


def judged_slow(peer: Peer, rule: BadParentRule) -> bool:
    """Slow by its newest cost, or judged so earlier and not yet recovered.

    The flag (``Peer.bad_since``, set by the service) outlives the outlier that raised
    it: after a slowdown its own slow costs widen the spread, so the next ones no longer
    stand out, yet the parent is as slow as when it was caught."""
    return peer.bad_since is not None or slow_by_costs(peer, rule)


# A flagged parent is back once a piece costs at most this many times its usual cost.
# Below MIN_RATIO on purpose: a parent that stays slow loses most of its children when
# flagged, and with the uplink no longer shared its pieces cost less than when it was
# caught (a 10x slower parent with one child left served at 2.9x its usual cost in
# tests/swarm and was handed out again). A false alarm still clears at the next ordinary
# piece.
RECOVERY_RATIO = 1.5


def recovered(peer: Peer) -> bool:
    """A flagged parent's newest cost is back within RECOVERY_RATIO of its usual cost
    when it was flagged."""
    costs = peer.served_costs_ns
    return len(costs) > 0 and costs.last <= RECOVERY_RATIO * peer.usual_cost_ns


def is_bad_parent(peer: Peer, rule: BadParentRule) -> bool:
    return bad_state(peer) or judged_slow(peer, rule)
