"""Pure scheduling, the decision: back to source, parents, wait or fail, by attempt and limits.

The parent filters and the bad-parent rules are in test_scheduling.py.
"""

from __future__ import annotations

import random

import pytest

from damselfly.core.models import DownloadRequest, Priority
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.scheduling.bad_node import BadParentRule
from damselfly.scheduler.scheduling.decide import (
    BackToSource,
    Context,
    Decision,
    Fail,
    Limits,
    Parents,
    Wait,
    decide,
)
from damselfly.scheduler.scheduling.evaluators import BaseEvaluator, evaluator_for
from tests.unit.scheduler_world import World, make_host

RULE = BadParentRule()

RNG_SEED = 3


def decide_for(world: World, attempt: int = 0, limits: Limits | None = None) -> Decision:
    ctx = Context(limits or Limits(), BaseEvaluator(), RULE, random.Random(RNG_SEED))
    return decide(world.child, attempt, ctx, 0.0)


def test_need_back_to_source_goes_to_source_even_with_parents() -> None:
    world = World()
    world.peer("seed", seed=True)
    world.child.need_back_to_source = True
    assert isinstance(decide_for(world), BackToSource)


NO_SOURCE = [
    DownloadRequest("https://e.com/f", disable_back_to_source=True),
    DownloadRequest("https://e.com/f", priority=Priority.LEVEL2),
]


@pytest.mark.parametrize("download", NO_SOURCE)
def test_need_back_to_source_ignored_when_source_not_allowed(download: DownloadRequest) -> None:
    world = World(download=download)
    seed = world.peer("seed", seed=True)
    world.child.need_back_to_source = True
    decision = decide_for(world)
    assert isinstance(decision, Parents)
    assert decision.peers == [seed]


def test_need_back_to_source_ignored_when_budget_spent() -> None:
    world = World(back_to_source_limit=1)
    world.task.back_to_source_peers.add("someone-else")
    world.child.need_back_to_source = True
    assert decide_for(world) == Wait()


@pytest.mark.parametrize(("count", "limit"), [(6, 4), (3, 4), (5, 1), (20, 20)])
def test_parents_limited_to_best_candidates(count: int, limit: int) -> None:
    world = World()
    # Distinct finished counts give a strict order: more pieces first.
    peers = [world.peer(f"p{i}", PeerState.BACK_TO_SOURCE, finished=i) for i in range(count)]
    decision = decide_for(
        world, limits=Limits(candidate_parent_limit=limit, filter_parent_limit=50)
    )
    assert isinstance(decision, Parents)
    expected = sorted(peers, key=lambda p: len(p.finished), reverse=True)[:limit]
    assert decision.peers == expected


def test_wait_while_attempts_remain() -> None:
    world = World()
    world.peer("orphan", PeerState.RUNNING)
    assert decide_for(world, attempt=3) == Wait()


@pytest.mark.parametrize("download", NO_SOURCE)
@pytest.mark.parametrize("retry_limit", [0, 2, 5])
def test_fail_after_retry_limit_when_source_not_allowed(
    download: DownloadRequest, retry_limit: int
) -> None:
    world = World(download=download)
    limits = Limits(retry_limit=retry_limit)
    for attempt in range(retry_limit):
        assert decide_for(world, attempt, limits) == Wait()
    decision = decide_for(world, retry_limit, limits)
    assert isinstance(decision, Fail)
    assert "disabled" in decision.reason


@pytest.mark.parametrize("priority", [p for p in Priority if p is not Priority.LEVEL2])
def test_back_to_source_after_back_to_source_retry_limit(priority: Priority) -> None:
    world = World(download=DownloadRequest("https://e.com/f", priority=priority))
    limits = Limits(retry_back_to_source_limit=2)
    assert decide_for(world, 1, limits) == Wait()
    assert isinstance(decide_for(world, 2, limits), BackToSource)


def test_back_to_source_limit_checked_before_retry_limit() -> None:
    """Dragonfly's defaults (4 < 5): a peer that may use the origin never fails."""
    world = World()
    assert isinstance(decide_for(world, 4, Limits()), BackToSource)


@pytest.mark.parametrize(("limit", "used"), [(0, 0), (1, 1), (2, 2)])
def test_fail_when_back_to_source_budget_spent(limit: int, used: int) -> None:
    world = World(back_to_source_limit=limit)
    world.task.back_to_source_peers.update(f"other-{i}" for i in range(used))
    assert decide_for(world, 4) == Wait()  # the budget may free up: keep trying
    decision = decide_for(world, 5)
    assert isinstance(decision, Fail)
    assert "budget" in decision.reason


def test_back_to_source_while_budget_remains() -> None:
    world = World(back_to_source_limit=2)
    world.task.back_to_source_peers.add("other")
    assert isinstance(decide_for(world, 4), BackToSource)


def test_parents_carry_the_evaluators_rates() -> None:
    child_host = make_host("child", rx_bps=1e9)
    world = World(child_host=child_host)
    world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=10e9)
    ctx = Context(Limits(), evaluator_for("default"), RULE, random.Random(1))
    decision = decide(world.child, 0, ctx, 0.0)
    assert isinstance(decision, Parents)
    assert decision.rates == [1e9]
