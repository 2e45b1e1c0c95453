"""Parents the service gives without being asked: a burst, pushes, bad parents."""

from __future__ import annotations

from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.responses import ParentsResponse, Response
from tests.unit.service_harness import GBIT, Harness, parents_of, scheduling


def test_burst_fills_the_seed_uplink_and_no_more() -> None:
    """Ten peers register before the seed starts; a 3 Gbit/s seed feeds three of them
    fully, the others hang below those instead of all sharing the seed."""
    h = Harness()
    seed_host = h.host("s", seed=True, tx_bps=3 * GBIT)
    got = {f"p{i}": h.register(h.host(f"h{i}"), f"p{i}") for i in range(10)}
    h.register(seed_host, "seed-1", need_back_to_source=True)
    h.service.back_to_source_started("seed-1")

    assert all(len(responses) == 1 for responses in got.values())
    assert len(h.task.graph.children("seed-1")) == 3
    for host in h.hosts().values():
        assert host.reserved_bps <= host.upload_capacity_bps() + 1e-6
    for name in got:
        assert h.service.resources.peers[name].expected_bps == GBIT
    h.check_invariants()


def short_peer(h: Harness) -> list[ParentsResponse]:
    """A peer promised half its downlink: the seed has 0.5 Gbit/s."""
    h.started_seed(tx_bps=0.5 * GBIT)
    got = h.running("b")
    assert h.service.resources.peers["b"].expected_bps == 0.5 * GBIT
    return got  # type: ignore[return-value]


def new_parent(h: Harness) -> None:
    """A peer on another host finishes: a parent with a whole 1 Gbit/s uplink to give."""
    h.register(h.host("c"), "c")
    h.service.peer_finished("c", 400, 100, from_source=False)


def test_rebalance_pushes_parents_that_can_promise_more() -> None:
    h = Harness()
    got = short_peer(h)
    new_parent(h)
    h.clock.advance(2)
    assert h.service.rebalance() == 1
    assert len(got) == 2
    assert parents_of(got[-1]) == ["c"]  # only parents it does not have
    assert h.service.resources.peers["b"].expected_bps == GBIT
    h.check_invariants()


def test_satisfied_peers_get_nothing() -> None:
    h = Harness()
    h.started_seed()
    got = h.running("b")
    new_parent(h)
    h.clock.advance(2)
    assert h.service.rebalance() == 0
    assert len(got) == 1


def test_pushes_are_rate_limited_per_peer() -> None:
    h = Harness(config=scheduling(push_interval_s=5))
    got = short_peer(h)
    small = h.host("small", tx_bps=0.2 * GBIT)
    h.register(small, "small")
    h.service.peer_finished("small", 400, 100, from_source=False)
    h.clock.advance(5)
    assert h.service.rebalance() == 1  # b gets "small", and is still short
    assert h.service.resources.peers["b"].expected_bps == 0.7 * GBIT
    new_parent(h)
    h.clock.advance(1)
    assert h.service.rebalance() == 0  # pushed to a second ago
    h.clock.advance(4)
    assert h.service.rebalance() == 1
    assert len(got) == 3


def test_a_peer_nobody_can_help_is_asked_again_later() -> None:
    h = Harness(config=scheduling(push_interval_s=5))
    got = short_peer(h)
    h.clock.advance(5)
    assert h.service.rebalance() == 0  # nobody can give more: looked at, nothing sent
    new_parent(h)
    h.clock.advance(5)
    assert h.service.rebalance() == 0  # backing off
    h.clock.advance(15)
    assert h.service.rebalance() == 1
    assert len(got) == 2


def test_zero_push_interval_disables_pushes() -> None:
    h = Harness(config=scheduling(push_interval_s=0))
    got = short_peer(h)
    new_parent(h)
    h.clock.advance(2)
    assert h.service.rebalance() == 0
    assert len(got) == 1


def test_pushes_stop_at_max_parents() -> None:
    h = Harness(config=scheduling(max_parents=1))
    got = short_peer(h)
    new_parent(h)
    h.clock.advance(2)
    assert h.service.rebalance() == 0
    assert len(got) == 1


def test_lost_parent_is_replaced_without_waiting_for_the_interval() -> None:
    h = Harness(config=scheduling(push_interval_s=60))
    h.started_seed(tx_bps=GBIT)
    a = h.running("a")
    assert parents_of(a[-1]) == ["seed-1"]
    b = h.running("b")
    assert parents_of(b[-1]) == ["a"]
    h.service.stream_closed("a")  # a's daemon went away mid-download
    assert parents_of(b[-1]) == ["seed-1"]
    h.check_invariants()


def _slowed_parent() -> tuple[Harness, Response, list[Response]]:
    """Parent "a" serves "child" at a steady cost, then one piece 10x slower; a finished
    peer "done" is there to take over. Returns the harness, the child's first answer
    and all its answers."""
    h = Harness()
    h.started_seed(tx_bps=GBIT)
    h.running("a")
    h.pieces("a", range(0, 40), parent="seed-1", cost_ns=1000)
    child = h.running("child")
    first = child[-1]
    h.register(h.host("done"), "done")
    h.service.peer_finished("done", 400, 100, from_source=False)
    h.pieces("child", range(0, 60), parent="a", cost_ns=1000)
    h.pieces("child", range(60, 61), parent="a", cost_ns=10_000)
    return h, first, child


def test_parent_judged_bad_releases_its_promises_and_its_children_get_others() -> None:
    h, first, child = _slowed_parent()
    assert parents_of(first) == ["a"]
    a = h.service.resources.peers["a"]
    assert a.bad_since is not None
    assert h.metrics_value("damselfly_scheduler_bad_parent_total") == 1
    assert a.host.reserved_bps == 0
    pushed = parents_of(child[-1])
    assert "done" in pushed
    assert "a" not in pushed
    assert h.service.resources.peers["child"].state is PeerState.RUNNING
    h.check_invariants()


def test_parent_judged_bad_stays_out_until_its_costs_are_back() -> None:
    """After a slowdown the slow costs widen the spread, so the next slow ones are no
    outliers any more: the flag holds until a cost is back near the usual one."""
    h, _, _ = _slowed_parent()
    a = h.service.resources.peers["a"]
    assert a.bad_since is not None

    h.pieces("child", range(61, 66), parent="a", cost_ns=6000)
    assert a.bad_since is not None
    late = h.running("late")
    assert "a" not in parents_of(late[-1])

    h.pieces("child", range(66, 67), parent="a", cost_ns=1000)
    assert a.bad_since is None
    assert h.metrics_value("damselfly_scheduler_bad_parent_total") == 1
    h.check_invariants()


def test_a_downloading_parent_promises_half_when_another_can_give_the_rest() -> None:
    h = Harness()
    h.started_seed(tx_bps=GBIT)
    a = h.running("a", tx_bps=2 * GBIT)
    assert parents_of(a[-1]) == ["seed-1"]  # a content source gives all it can
    b = h.running("b", tx_bps=2 * GBIT)
    assert parents_of(b[-1]) == ["a"]  # the only one with rate left: all from it
    c = h.running("c", tx_bps=2 * GBIT)
    assert sorted(parents_of(c[-1])) == ["a", "b"]
    rates = h.task.edge_rates
    assert rates[("a", "c")] == rates[("b", "c")] == 0.5 * GBIT
    h.check_invariants()
