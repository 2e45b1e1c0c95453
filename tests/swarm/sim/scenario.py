"""What a simulated run looks like: hosts and their caps, the file, arrivals, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MIB = 1 << 20
GBIT = 1e9 / 8  # bytes per second
# The network's time step: at most this, and at most 1/STEPS_PER_PIECE of a piece's time
# at the fastest peer downlink. A transfer ends at the end of a step, and its share of
# the links stays unused for the rest of that step: with 5 ms steps and 8 ms pieces
# (512 MiB/s) that alone made a download 5 % slower.
MAX_STEP_S = 0.005
STEPS_PER_PIECE = 8


@dataclass(frozen=True)
class Fault:
    """At ``at_s``: a peer's uplink slows down ``factor`` times, or the host dies."""

    at_s: float
    kind: Literal["slow", "kill", "restart_scheduler"]
    peer: int = 0  # index into the peers (ignored for restart_scheduler)
    factor: float = 10.0


@dataclass(frozen=True)
class Scenario:
    peers: int = 60
    file_size: int = 1 << 30
    piece_length: int = 4 * MIB
    # Bytes per second. Per-peer caps repeat over the peers when shorter than ``peers``.
    seed_up: float = 10 * GBIT
    seed_down: float = 10 * GBIT
    peer_up: tuple[float, ...] = (GBIT,)
    peer_down: tuple[float, ...] = (GBIT,)
    origin_up: float = 10 * GBIT
    latency_s: float = 0.001
    # Peers arrive uniformly spread over this many seconds (0: all at once).
    arrival_spread_s: float = 0.0
    # Hosts tell the scheduler their link capacity (Host.max_tx_bandwidth).
    announce_bandwidth: bool = True
    upload_limit: int = 200
    seed_upload_limit: int = 2000
    concurrent_pieces: int = 8
    # Parents serve pieces they are still receiving (the daemon's cut-through).
    cut_through: bool = True
    # Piece transfers take exp(N(0, jitter)) times their fair time (a log-normal spread,
    # as retransmits and cross traffic give real links); 0 for a perfectly steady network.
    jitter: float = 0.2
    scheduling: dict[str, Any] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    rng_seed: int = 1
    time_limit_s: float = 3600.0
    check_graph: bool = False
    # The network's time step in seconds (0: from the piece time, see ``step``).
    step_s: float = 0.0

    @property
    def piece_count(self) -> int:
        return -(-self.file_size // self.piece_length)

    def up_of(self, index: int) -> float:
        return self.peer_up[index % len(self.peer_up)]

    def down_of(self, index: int) -> float:
        return self.peer_down[index % len(self.peer_down)]

    def step(self) -> float:
        if self.step_s > 0:
            return self.step_s
        return min(MAX_STEP_S, self.piece_length / max(self.peer_down) / STEPS_PER_PIECE)

    def arrival_of(self, index: int) -> float:
        if self.arrival_spread_s <= 0:
            return 0.0
        return self.arrival_spread_s * index / max(1, self.peers - 1)


def fluid_bound(scenario: Scenario) -> float:
    """``max(F/u_seed, F/d_min, N*F/(u_seed + sum u_i))``: no schedule finishes sooner.

    With arrivals spread out, no peer finishes before it arrives plus ``F/d_i`` either.
    """
    size, n = scenario.file_size, scenario.peers
    d_min = min(scenario.down_of(i) for i in range(n))
    total_up = scenario.seed_up + sum(scenario.up_of(i) for i in range(n))
    late = max(scenario.arrival_of(i) + size / scenario.down_of(i) for i in range(n))
    return max(size / scenario.seed_up, size / d_min, n * size / total_up, late)
