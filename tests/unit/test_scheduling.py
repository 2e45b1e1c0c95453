"""Pure scheduling: each parent filter and both bad-parent regimes.

The decision built on them is in test_scheduling_decide.py.
"""

from __future__ import annotations

import random

import pytest

from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.bad_node import (
    BAD_STATES,
    BadParentRule,
    is_bad_parent,
    judged_slow,
    recovered,
    slow_by_costs,
)
from damselfly.scheduler.scheduling.filters import Rejection, candidate_parents, rejection
from tests.unit.scheduler_world import World

RULE = BadParentRule()

# Filters -------------------------------------------------------------------------------


def test_child_itself_is_blocked() -> None:
    world = World()
    assert rejection(world.child, world.child, RULE) is Rejection.BLOCKED


def test_blocked_parent() -> None:
    world = World()
    seed = world.peer("seed", seed=True)
    world.child.block_parents.add(seed.id)
    assert rejection(world.child, seed, RULE) is Rejection.BLOCKED


def test_sharing_disabled() -> None:
    world = World()
    seed = world.peer("seed", PeerState.SUCCEEDED, seed=True)
    seed.host.disable_shared = True
    assert rejection(world.child, seed, RULE) is Rejection.SHARING_DISABLED


def test_same_host() -> None:
    world = World()
    neighbour = world.peer("n", PeerState.SUCCEEDED, host=world.child_host)
    assert rejection(world.child, neighbour, RULE) is Rejection.SAME_HOST


def test_not_in_graph() -> None:
    world = World()
    stray = world.peer("stray", PeerState.SUCCEEDED, in_graph=False)
    assert rejection(world.child, stray, RULE) is Rejection.NOT_IN_GRAPH


@pytest.mark.parametrize("state", [PeerState.RUNNING, PeerState.RECEIVED_NORMAL, PeerState.PENDING])
def test_normal_peer_without_parent_or_source(state: PeerState) -> None:
    world = World()
    orphan = world.peer("orphan", state)
    assert rejection(world.child, orphan, RULE) is Rejection.NO_CONTENT_SOURCE


@pytest.mark.parametrize("state", [s for s in PeerState if s in BAD_STATES])
def test_bad_state_seed(state: PeerState) -> None:
    world = World()
    seed = world.peer("seed", state, seed=True)
    assert rejection(world.child, seed, RULE) is Rejection.BAD_STATE


def test_seed_that_registered_but_did_not_start_is_bad() -> None:
    world = World()
    seed = world.peer("seed", PeerState.RECEIVED_NORMAL, seed=True)
    assert rejection(world.child, seed, RULE) is Rejection.BAD_STATE


@pytest.mark.parametrize("state", [s for s in PeerState if s in BAD_STATES])
def test_bad_state_normal_peer_with_a_parent(state: PeerState) -> None:
    world = World()
    grandparent = world.peer("gp", PeerState.SUCCEEDED)
    parent = world.peer("p", state)
    world.link(grandparent, parent)
    assert rejection(world.child, parent, RULE) is Rejection.BAD_STATE


def test_registered_peer_with_a_parent_serves_before_it_starts() -> None:
    """Our one deviation from Dragonfly: in-degree > 0 is enough in ReceivedNormal."""
    world = World()
    source = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True)
    fresh = world.peer("fresh", PeerState.RECEIVED_NORMAL)
    world.link(source, fresh)
    assert rejection(world.child, fresh, RULE) is None


def test_parent_slow_by_its_piece_costs() -> None:
    world = World()
    parent = world.peer("p", PeerState.SUCCEEDED)
    for _ in range(RULE.samples):
        parent.served_costs_ns.add(100.0)
    parent.served_costs_ns.add(2000.0)
    assert rejection(world.child, parent, RULE) is Rejection.SLOW


@pytest.mark.parametrize("used", [1, 2])
def test_no_free_upload_slot(used: int) -> None:
    world = World()
    seed = world.peer("seed", seed=True, upload_limit=1)
    seed.host.concurrent_uploads = used
    assert rejection(world.child, seed, RULE) is Rejection.NO_UPLOAD_SLOT


def test_zero_upload_limit_means_no_slot() -> None:
    world = World()
    seed = world.peer("seed", seed=True, upload_limit=0)
    assert rejection(world.child, seed, RULE) is Rejection.NO_UPLOAD_SLOT


def test_would_form_a_cycle() -> None:
    world = World()
    world.child.state = PeerState.RUNNING
    grandchild = world.peer("gc", PeerState.RUNNING)
    world.link(world.child, grandchild)
    # gc has a parent (the child) so it passes the content-source rule, but it is below.
    assert rejection(world.child, grandchild, RULE) is Rejection.CYCLE


def test_long_chain_cycle() -> None:
    world = World()
    previous = world.child
    for i in range(50):
        nxt = world.peer(f"d{i}", PeerState.RUNNING)
        world.link(previous, nxt)
        previous = nxt
    assert rejection(world.child, previous, RULE) is Rejection.CYCLE


def test_existing_parent_is_not_added_twice() -> None:
    world = World()
    seed = world.peer("seed", seed=True)
    world.link(seed, world.child)
    assert rejection(world.child, seed, RULE) is Rejection.CYCLE


@pytest.mark.parametrize(
    "state", [PeerState.RUNNING, PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED]
)
def test_seed_without_parent_accepted(state: PeerState) -> None:
    world = World()
    assert rejection(world.child, world.peer("seed", state, seed=True), RULE) is None


@pytest.mark.parametrize("state", [PeerState.SUCCEEDED, PeerState.BACK_TO_SOURCE])
def test_normal_peer_with_content_source_accepted(state: PeerState) -> None:
    world = World()
    assert rejection(world.child, world.peer("p", state), RULE) is None


def test_normal_running_peer_with_a_parent_accepted() -> None:
    world = World()
    assert rejection(world.child, world.relay("relay"), RULE) is None


def test_candidate_parents_keeps_only_accepted() -> None:
    world = World()
    good = {world.peer("seed", seed=True).id, world.peer("done", PeerState.SUCCEEDED).id}
    world.peer("orphan", PeerState.RUNNING)
    world.peer("failed", PeerState.FAILED, seed=True)
    world.peer("full", seed=True, upload_limit=0)
    found = candidate_parents(world.child, 15, random.Random(1), RULE)
    assert {p.id for p in found} == good


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_candidate_parents_samples_at_most_the_limit(limit: int) -> None:
    world = World()
    names = {world.peer(f"s{i}", seed=True).id for i in range(8)}
    found = candidate_parents(world.child, limit, random.Random(7), RULE)
    assert len(found) == limit
    assert {p.id for p in found} <= names


def test_sample_finds_the_few_usable_parents_among_many_newcomers() -> None:
    """Most peers of a burst cannot serve yet; sampling must not miss the ones that can."""
    world = World()
    for i in range(500):
        world.peer(f"new{i}", PeerState.RECEIVED_NORMAL)
    usable = {world.peer(f"seed{i}", PeerState.BACK_TO_SOURCE, seed=True).id for i in range(3)}
    found = candidate_parents(world.child, 15, random.Random(3), RULE)
    assert {p.id for p in found} == usable


# Bad parents by piece costs ------------------------------------------------------------


def costs_of(values: list[float]) -> World:
    world = World()
    parent = world.peer("p", PeerState.SUCCEEDED)
    for value in values:
        parent.served_costs_ns.add(value)
    world.parent = parent  # type: ignore[attr-defined]
    return world


# Samples before the newest so that, with it, there are still fewer than ``samples``.
SMALL = RULE.samples - 2


@pytest.mark.parametrize(
    ("history", "last", "bad"),
    [
        ([], 1e9, False),  # one sample says nothing
        ([100.0], 2001.0, True),  # > 20 x mean
        ([100.0], 2000.0, False),  # = 20 x mean
        ([100.0] * SMALL, 1999.0, False),
        ([100.0] * SMALL, 2001.0, True),
        ([100.0] * SMALL, 1000.0, False),  # 10x passes while samples are few
    ],
)
def test_few_samples_regime(history: list[float], last: float, bad: bool) -> None:
    world = costs_of([*history, last])
    assert slow_by_costs(world.parent, RULE) is bad  # type: ignore[attr-defined]


def spread(count: int, mean: float, half_width: float) -> list[float]:
    """``count`` values alternating mean +/- half_width: population sigma = half_width."""
    return [mean + (half_width if i % 2 else -half_width) for i in range(count)]


@pytest.mark.parametrize(
    ("history", "last", "bad"),
    [
        (spread(RULE.samples, 100.0, 50.0), 100.0 + 6 * 50.0 + 1, True),  # > mean + 6 sigma
        (spread(RULE.samples, 100.0, 50.0), 100.0 + 6 * 50.0 - 1, False),
        (spread(RULE.samples, 100.0, 20.0), 299.0, False),  # > 6 sigma, < 3 x mean
        (spread(RULE.samples, 100.0, 20.0), 301.0, True),
        ([100.0] * RULE.samples, 299.0, False),  # sigma 0: also needs 3 x mean
        ([100.0] * RULE.samples, 301.0, True),
        ([100.0] * RULE.samples, 1000.0, True),  # a 10x slower piece
        (spread(RULE.samples, 100.0, 50.0), 1000.0, True),
    ],
)
def test_many_samples_regime(history: list[float], last: float, bad: bool) -> None:
    world = costs_of([*history, last])
    assert slow_by_costs(world.parent, RULE) is bad  # type: ignore[attr-defined]


@pytest.mark.parametrize(("sigma", "bad"), [(3.0, True), (6.0, False)])
def test_sigma_is_configurable(sigma: float, bad: bool) -> None:
    # Mean 100, sigma 60: 3 sigma puts the line at 280, 6 sigma at 460.
    world = costs_of([*spread(RULE.samples, 100.0, 60.0), 400.0])
    rule = BadParentRule(RULE.samples, sigma, RULE.mean_factor)
    assert slow_by_costs(world.parent, rule) is bad  # type: ignore[attr-defined]


@pytest.mark.parametrize(("samples", "bad"), [(5, True), (50, False)])
def test_sample_count_switches_regime(samples: int, bad: bool) -> None:
    # 10 samples then a 10x one: the sigma rule catches it, the 20 x mean rule does not.
    world = costs_of([*[100.0] * 10, 1000.0])
    rule = BadParentRule(samples, RULE.sigma, RULE.mean_factor)
    assert slow_by_costs(world.parent, rule) is bad  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("last", "back"),
    [
        (100.0, True),  # an ordinary cost: the flag may go
        (150.0, True),  # = RECOVERY_RATIO x the usual cost when flagged
        (151.0, False),  # still slow, though no outlier among its own slow costs
        (290.0, False),  # a slow parent serving fewer children than when it was caught
    ],
)
def test_a_flagged_parent_stays_slow_until_a_cost_is_back_near_its_usual(
    last: float, back: bool
) -> None:
    world = costs_of([*[1000.0] * RULE.samples, last])
    parent = world.parent  # type: ignore[attr-defined]
    assert not slow_by_costs(parent, RULE)
    parent.bad_since, parent.usual_cost_ns = 5.0, 100.0
    assert judged_slow(parent, RULE)
    assert is_bad_parent(parent, RULE)
    assert rejection(world.child, parent, RULE) is Rejection.SLOW
    assert recovered(parent) is back


def test_bad_parent_by_state_or_costs() -> None:
    world = World()
    assert is_bad_parent(world.peer("gone", PeerState.LEAVE, seed=True), RULE)
    assert not is_bad_parent(world.peer("fine", PeerState.SUCCEEDED), RULE)
