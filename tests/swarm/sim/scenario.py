"""What a simulated run looks like: hosts and their caps, the file, arrivals, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MIB = 1 << 20
GBIT = 1e9 / 8  # bytes per second


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
    # Piece transfers take exp(N(0, jitter)) times their fair time (a log-normal spread,
    # as retransmits and cross traffic give real links); 0 for a perfectly steady network.
    jitter: float = 0.2
    scheduling: dict[str, Any] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    rng_seed: int = 1
    time_limit_s: float = 3600.0
    check_graph: bool = False

    @property
    def piece_count(self) -> int:
        return -(-self.file_size // self.piece_length)

    def up_of(self, index: int) -> float:
        return self.peer_up[index % len(self.peer_up)]

    def down_of(self, index: int) -> float:
        return self.peer_down[index % len(self.peer_down)]

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
