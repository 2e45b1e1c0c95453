"""Which running peers are offered more parents, and which parents (scheduling/push.py)."""

from __future__ import annotations

import random

import pytest

from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.bad_node import BadParentRule
from damselfly.scheduler.scheduling.decide import Context, Limits
from damselfly.scheduler.scheduling.evaluators import evaluator_for
from damselfly.scheduler.scheduling.push import PushPolicy, Want, extra_parents, wants
from tests.unit.scheduler_world import GBIT, World, make_host

POLICY = PushPolicy(candidate_parent_limit=4, filter_parent_limit=15, max_parents=8)


def ctx(algorithm: str = "default") -> Context:
    return Context(Limits(), evaluator_for(algorithm), BadParentRule(), random.Random(2))


def running_child() -> World:
    world = World(child_host=make_host("child", rx_bps=GBIT))
    world.child.state = PeerState.RUNNING
    return world


def fed(world: World, rate: float) -> None:
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=10 * GBIT)
    world.link(seed, world.child, rate)


@pytest.mark.parametrize(
    "state",
    [PeerState.PENDING, PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED, PeerState.FAILED],
)
def test_peers_not_downloading_from_parents_want_nothing(state: PeerState) -> None:
    world = running_child()
    world.child.state = state
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.NOTHING


def test_complete_peer_wants_nothing() -> None:
    world = running_child()
    for number in range(world.task.piece_count):
        world.child.finished.add(number)
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.NOTHING


def test_peer_told_to_use_the_origin_wants_nothing() -> None:
    world = running_child()
    world.child.need_back_to_source = True
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.NOTHING


def test_peer_at_max_parents_wants_nothing() -> None:
    world = running_child()
    for i in range(POLICY.max_parents):
        world.link(world.peer(f"p{i}", PeerState.SUCCEEDED), world.child)
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.NOTHING


def test_peer_without_live_parents_takes_any() -> None:
    world = running_child()
    gone = world.peer("gone", PeerState.SUCCEEDED)
    world.link(gone, world.child)
    gone.state = PeerState.LEAVE
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.ANY


def test_peer_promised_less_than_its_downlink_wants_more() -> None:
    world = running_child()
    fed(world, 0.5 * GBIT)
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.MORE


def test_peer_promised_its_downlink_wants_nothing() -> None:
    world = running_child()
    fed(world, GBIT)
    assert wants(world.child, POLICY, ctx(), 0.0) is Want.NOTHING


@pytest.mark.parametrize(
    ("bytes_per_s", "want"), [(0.4 * GBIT / 8, Want.ANY), (GBIT / 8, Want.NOTHING)]
)
def test_measured_starving_peer_takes_any(bytes_per_s: float, want: Want) -> None:
    world = running_child()
    fed(world, GBIT)
    for second in range(5):
        world.child.recent.add(bytes_per_s, float(second))
    assert wants(world.child, POLICY, ctx(), 4.0) is want


@pytest.mark.parametrize(("lead", "want"), [(20, Want.NOTHING), (0, Want.ANY)])
def test_without_reservations_a_peer_wants_a_parent_ahead(lead: int, want: Want) -> None:
    world = running_child()
    relay = world.relay("relay", finished=lead)
    world.link(relay, world.child)
    assert wants(world.child, POLICY, ctx("dragonfly-base"), 0.0) is want


def test_more_means_parents_with_rate_to_promise() -> None:
    world = running_child()
    fed(world, 0.5 * GBIT)
    spare = world.peer("spare", PeerState.SUCCEEDED, tx_bps=GBIT)
    full = world.peer("full", PeerState.SUCCEEDED, tx_bps=GBIT)
    world.link(full, world.peer("other"), GBIT)
    picked = extra_parents(world.child, Want.MORE, POLICY, ctx(), 0.0)
    assert [p.id for p, _ in picked] == [spare.id]
    assert picked[0][1] == pytest.approx(0.5 * GBIT)


def test_any_also_takes_a_full_parent_that_is_ahead() -> None:
    world = running_child()
    fed(world, GBIT)
    full = world.peer("full", PeerState.SUCCEEDED, tx_bps=GBIT)
    world.link(full, world.peer("other"), GBIT)
    picked = extra_parents(world.child, Want.ANY, POLICY, ctx(), 0.0)
    assert [p.id for p, _ in picked] == [full.id]


def test_extra_parents_stop_at_max_parents() -> None:
    world = running_child()
    for i in range(POLICY.max_parents - 1):
        world.link(world.peer(f"p{i}", PeerState.SUCCEEDED), world.child)
    for i in range(5):
        world.peer(f"spare{i}", PeerState.SUCCEEDED, tx_bps=GBIT)
    picked = extra_parents(world.child, Want.ANY, POLICY, ctx(), 0.0)
    assert len(picked) == 1
