"""Each term of the three evaluators, and how they pick parents."""

from __future__ import annotations

import pytest

from damselfly.scheduler.resource.models import PRIOR_CAPACITY_BPS, Peer
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.evaluators import (
    BaseEvaluator,
    LoadEvaluator,
    ThroughputEvaluator,
    base,
    evaluator_for,
    load,
    throughput,
)
from damselfly.scheduler.scheduling.evaluators.common import (
    host_type_score,
    idc_affinity,
    location_affinity,
)
from tests.unit.scheduler_world import GBIT, World, make_host

# Shared terms -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [("dc1", "DC1", 1.0), ("dc1", "dc2", 0.0), ("", "", 0.0), ("dc1", "", 0.0)],
)
def test_idc_affinity(parent: str, child: str, expected: float) -> None:
    world = World(child_host=make_host("child", idc=child))
    other = world.peer("p", host=make_host("p", idc=parent))
    assert idc_affinity(other, world.child) == expected


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        ("cn|sh|a", "cn|sh|a", 1.0),
        ("CN|SH", "cn|sh", 1.0),
        ("cn|sh|a", "cn|sh|b", 0.4),
        ("cn|sh", "us|sh", 0.0),
        ("a|b|c|d|e|f|g", "a|b|c|d|e|f|h", 1.0),  # at most five elements count
        ("a|b|c|d|e|f", "a|b|c|d|x|f", 0.8),
        ("cn", "", 0.0),
    ],
)
def test_location_affinity(parent: str, child: str, expected: float) -> None:
    world = World(child_host=make_host("child", location=child))
    other = world.peer("p", host=make_host("p", location=parent))
    assert location_affinity(other, world.child) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seed", "state", "expected"),
    [
        (True, PeerState.RUNNING, 1.0),
        (True, PeerState.RECEIVED_NORMAL, 1.0),
        (True, PeerState.BACK_TO_SOURCE, 0.0),
        (True, PeerState.SUCCEEDED, 0.0),
        (False, PeerState.RUNNING, 0.5),
        (False, PeerState.SUCCEEDED, 0.5),
    ],
)
def test_host_type(seed: bool, state: PeerState, expected: float) -> None:
    assert host_type_score(World().peer("p", state, seed=seed)) == expected


# Dragonfly v2.2 (evaluator_base.go) -------------------------------------------------


@pytest.mark.parametrize(
    ("total", "parent", "child", "expected"),
    [(10, 4, 0, 0.4), (10, 10, 3, 1.0), (-1, 40, 15, 25.0), (-1, 2, 5, -3.0)],
)
def test_finished_pieces(total: int, parent: int, child: int, expected: float) -> None:
    world = World()
    world.task.piece_count = total
    for number in range(child):
        world.child.finished.add(number)
    other = world.peer("p", finished=parent)
    assert base.finished_pieces_score(other, world.child) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("uploads", "failed", "expected"), [(0, 0, 1.0), (3, 5, 0.0), (10, 2, 0.8), (4, 4, 0.0)]
)
def test_upload_success(uploads: int, failed: int, expected: float) -> None:
    other = World().peer("p")
    other.host.upload_count, other.host.upload_failed_count = uploads, failed
    assert base.upload_success_score(other) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("limit", "used", "expected"), [(10, 0, 1.0), (10, 4, 0.6), (10, 10, 0.0), (0, 0, 0.0)]
)
def test_free_upload(limit: int, used: int, expected: float) -> None:
    other = World().peer("p", upload_limit=limit)
    other.host.concurrent_uploads = used
    assert base.free_upload_score(other) == pytest.approx(expected)


def test_base_score_is_the_weighted_sum() -> None:
    world = World(child_host=make_host("child", idc="dc", location="a|b"))
    other = world.peer("p", finished=5, host=make_host("p", idc="dc", location="a|c"))
    other.host.upload_count, other.host.upload_failed_count = 4, 1
    other.host.concurrent_uploads = 50
    expected = 0.2 * 0.5 + 0.2 * 0.75 + 0.15 * 0.75 + 0.15 * 0.5 + 0.15 * 1.0 + 0.15 * 0.2
    assert BaseEvaluator().score(other, world.child, 0.0) == pytest.approx(expected)


# Dragonfly's current evaluator (evaluator_default.go) --------------------------------


def loaded(*, max_tx: float, tx: float = 0.0, content: int = 0, pieces: int = 0) -> Peer:
    other = World().peer("p", tx_bps=max_tx)
    other.host.tx_bandwidth_bps = tx
    other.host.upload_content_length = content
    other.host.concurrent_upload_pieces = pieces
    return other


@pytest.mark.parametrize(
    ("max_tx", "tx", "expected"), [(0, 0, 0.0), (100, 100, 0.0), (100, 150, 0.0), (100, 25, 0.75)]
)
def test_peak_bandwidth_usage(max_tx: float, tx: float, expected: float) -> None:
    assert load.peak_bandwidth_usage_score(loaded(max_tx=max_tx, tx=tx)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("max_tx", "content", "expected"),
    [(0, 10, 0.0), (8e9, 0, 1.0), (8e9, 15 * 10**9, 0.75), (8e9, 60 * 10**9, 0.0)],
)
def test_bandwidth_duration(max_tx: float, content: int, expected: float) -> None:
    assert load.bandwidth_duration_score(loaded(max_tx=max_tx, content=content)) == (
        pytest.approx(expected)
    )


PIECE_BITS = 16 * (1 << 20) * 8


@pytest.mark.parametrize(
    ("max_tx", "pieces", "expected"),
    [
        (0, 0, 0.0),
        (PIECE_BITS, 0, 0.0),  # needs at most one piece in flight: no score
        (10 * PIECE_BITS, 0, 1.0),
        (10 * PIECE_BITS, 5, 1.0),
        (10 * PIECE_BITS, 20, 0.5),
    ],
)
def test_concurrency(max_tx: float, pieces: int, expected: float) -> None:
    assert load.concurrency_score(loaded(max_tx=max_tx, pieces=pieces)) == pytest.approx(expected)


def test_load_quality_and_score_are_weighted_sums() -> None:
    other = loaded(max_tx=10 * PIECE_BITS, tx=5 * PIECE_BITS, content=0, pieces=20)
    quality = 0.5 * 0.5 + 0.3 * 1.0 + 0.2 * 0.5
    assert load.load_quality_score(other) == pytest.approx(quality)
    world = World()
    expected = 0.6 * quality + 0.1 * 0.5  # no IDC, no location, a normal host
    assert LoadEvaluator().score(other, world.child, 0.0) == pytest.approx(expected)


# Ours: throughput --------------------------------------------------------------------


def test_free_upload_is_capacity_minus_reservations() -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=10 * GBIT)
    assert throughput.free_upload_bps(seed) == 10 * GBIT
    child = world.peer("c")
    world.link(seed, child, 3 * GBIT)
    assert throughput.free_upload_bps(seed) == 7 * GBIT
    assert child.expected_bps == 3 * GBIT
    world.task.delete_in_edges(child)
    assert throughput.free_upload_bps(seed) == 10 * GBIT
    assert child.expected_bps == 0


def test_unannounced_capacity_uses_measurements_above_the_prior() -> None:
    host = World().peer("p").host
    assert host.upload_capacity_bps() == PRIOR_CAPACITY_BPS
    host.peak_served_bps = 4 * GBIT
    assert host.upload_capacity_bps() > 4 * GBIT  # probes above the most seen


@pytest.mark.parametrize(("usual", "last", "expected"), [(100.0, 100.0, 1.0), (100.0, 400.0, 0.25)])
def test_health_follows_the_last_served_cost(usual: float, last: float, expected: float) -> None:
    other = World().peer("p")
    for _ in range(20):
        other.served_costs_ns.add(usual)
    other.served_costs_ns.add(last)
    assert throughput.health(other) == pytest.approx(expected, rel=0.05)


def test_supply_of_a_content_source_is_unbounded() -> None:
    world = World()
    assert throughput.supply_bps(world.peer("s", PeerState.SUCCEEDED), 0.0) == float("inf")


def test_supply_of_a_downloading_parent_is_what_it_was_promised() -> None:
    world = World()
    relay = world.relay("relay", host=make_host("relay", rx_bps=GBIT))
    relay.expected_bps = 0.6 * GBIT
    assert throughput.supply_bps(relay, 0.0) == pytest.approx(0.6 * GBIT)
    relay.expected_bps = 5 * GBIT  # never above its own downlink
    assert throughput.supply_bps(relay, 0.0) == pytest.approx(GBIT)


@pytest.mark.parametrize(
    ("parent", "child", "useful"), [(0, 0, True), (10, 18, True), (10, 19, False)]
)
def test_a_parent_behind_the_child_offers_nothing(parent: int, child: int, useful: bool) -> None:
    world = World()
    for number in range(child):
        world.child.finished.add(number)
    relay = world.relay("relay", finished=parent, tx_bps=GBIT)
    relay.expected_bps = GBIT
    assert throughput.useful(relay, world.child) is useful
    assert (throughput.offer_bps(relay, world.child, 0.0) > 0) is useful


def test_first_need_is_capped_by_the_typical_downlink() -> None:
    world = World(child_host=make_host("child", rx_bps=10 * GBIT))
    for i in range(3):
        world.peer(f"n{i}", host=make_host(f"n{i}", rx_bps=GBIT))
    assert throughput.first_need_bps(world.child) == GBIT


def seeded(child_rx: float, seed_tx: float) -> tuple[World, Peer]:
    world = World(child_host=make_host("child", rx_bps=child_rx))
    return world, world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=seed_tx)


def test_select_takes_one_parent_that_covers_the_child() -> None:
    world, seed = seeded(GBIT, 10 * GBIT)
    other = world.peer("done", PeerState.SUCCEEDED, tx_bps=0.5 * GBIT)
    picked = ThroughputEvaluator().select([other, seed], world.child, 4, 0.0)
    assert picked == [(seed, GBIT)]


def test_select_adds_parents_until_the_child_is_covered() -> None:
    world, seed = seeded(GBIT, 0.5 * GBIT)
    others = [world.peer(f"d{i}", PeerState.SUCCEEDED, tx_bps=0.3 * GBIT) for i in range(3)]
    picked = ThroughputEvaluator().select([seed, *others], world.child, 4, 0.0)
    assert picked[0][0] is seed
    assert len(picked) == 3
    assert sum(rate for _, rate in picked) == pytest.approx(GBIT)


def test_select_respects_the_limit() -> None:
    world, _ = seeded(GBIT, 0.0)
    others = [world.peer(f"d{i}", PeerState.SUCCEEDED, tx_bps=0.1 * GBIT) for i in range(6)]
    assert len(ThroughputEvaluator().select(others, world.child, 4, 0.0)) == 4


def test_select_gives_a_full_parent_only_when_nothing_else_exists() -> None:
    world, seed = seeded(GBIT, GBIT)
    busy = world.peer("c")
    world.link(seed, busy, GBIT)
    assert ThroughputEvaluator().select([seed], world.child, 4, 0.0) == [(seed, 0.0)]


def test_equal_offers_prefer_the_parent_nearer_the_source() -> None:
    world = World(child_host=make_host("child", rx_bps=GBIT))
    near = world.relay("near", tx_bps=GBIT)
    far = world.peer("far", tx_bps=GBIT)
    world.link(near, far)
    near.expected_bps = far.expected_bps = GBIT
    assert ThroughputEvaluator().rank([far, near], world.child, 0.0) == [near, far]


def test_evaluator_names() -> None:
    assert isinstance(evaluator_for("default"), ThroughputEvaluator)
    assert isinstance(evaluator_for("dragonfly-base"), BaseEvaluator)
    assert isinstance(evaluator_for("dragonfly-load"), LoadEvaluator)
    with pytest.raises(ValueError, match="unknown"):
        evaluator_for("ml")
