"""The scheduler's resource model: statistics, size scopes, edges and their accounting."""

from __future__ import annotations

import random
import statistics

import pytest

from damselfly.scheduler.resource.models import SizeScope
from damselfly.scheduler.resource.states import PeerEvent, PeerState
from damselfly.scheduler.resource.stats import CostWindow, DecayingRate, SamplePool, WindowRate
from tests.unit.scheduler_world import GBIT, World, make_host, make_task

# Statistics ---------------------------------------------------------------------------


def test_cost_window_excludes_the_newest_sample() -> None:
    window = CostWindow(10)
    values = [3.0, 5.0, 7.0, 11.0, 100.0]
    for value in values:
        window.add(value)
    assert window.last == 100.0
    assert window.mean_before_last() == pytest.approx(statistics.mean(values[:-1]))
    assert window.std_before_last() == pytest.approx(statistics.pstdev(values[:-1]))
    assert window.mean() == pytest.approx(statistics.mean(values))


def test_cost_window_keeps_only_the_last_samples() -> None:
    window = CostWindow(3)
    for value in [1000.0, 1.0, 2.0, 3.0]:
        window.add(value)
    assert len(window) == 3
    assert window.mean() == pytest.approx(2.0)


def test_cost_window_with_one_sample() -> None:
    window = CostWindow(5)
    window.add(4.0)
    assert window.mean_before_last() == 0.0
    assert window.std_before_last() == 0.0


def test_decaying_rate_converges_and_decays() -> None:
    rate = DecayingRate(2.0)
    for tick in range(200):
        rate.add(10.0, tick * 0.1)  # 100 per second
    assert rate.rate(19.9) == pytest.approx(100.0, rel=0.05)
    assert rate.rate(19.9 + 2.0) == pytest.approx(100.0 / 2.718, rel=0.05)


def test_window_rate_needs_a_full_window() -> None:
    rate = WindowRate(3.0)
    rate.add(100.0, 10.0)
    assert rate.rate(12.0) is None
    rate.add(200.0, 12.5)
    assert rate.rate(12.9) is None
    assert rate.rate(13.0) == pytest.approx(200.0 / 3)  # (10, 13]: the first left
    assert rate.rate(15.5) == 0.0


def test_sample_pool() -> None:
    pool = SamplePool()
    for name in "abcdef":
        pool.add(name)
    pool.add("a")
    pool.discard("c")
    pool.discard("zz")
    assert len(pool) == 5
    assert "c" not in pool
    assert sorted(pool.sample(10, random.Random(1))) == list("abdef")
    picked = pool.sample(3, random.Random(2))
    assert len(set(picked)) == 3
    assert set(picked) <= set("abdef")


# Tasks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "count", "scope"),
    [
        (-1, -1, SizeScope.UNKNOWN),
        (10, -1, SizeScope.UNKNOWN),
        (0, 0, SizeScope.EMPTY),
        (1, 1, SizeScope.TINY),
        (128, 1, SizeScope.TINY),
        (129, 1, SizeScope.SMALL),
        (4 << 20, 1, SizeScope.SMALL),
        (8 << 20, 2, SizeScope.NORMAL),
    ],
)
def test_size_scope(length: int, count: int, scope: SizeScope) -> None:
    task = make_task()
    task.content_length, task.piece_count = length, count
    assert task.size_scope() is scope


@pytest.mark.parametrize(("limit", "used", "allowed"), [(0, 0, False), (2, 1, True), (2, 2, False)])
def test_back_to_source_budget(limit: int, used: int, allowed: bool) -> None:
    task = make_task(back_to_source_limit=limit)
    task.back_to_source_peers.update(f"p{i}" for i in range(used))
    assert task.can_back_to_source() is allowed


@pytest.mark.parametrize(
    ("state", "available"),
    [
        (PeerState.BACK_TO_SOURCE, True),
        (PeerState.SUCCEEDED, True),
        (PeerState.RECEIVED_NORMAL, False),
        (PeerState.FAILED, False),
    ],
)
def test_available_peer(state: PeerState, available: bool) -> None:
    world = World()
    world.peer("other", state)
    assert world.task.has_available_peer(world.child) is available


def test_running_peer_is_available_when_it_has_a_parent() -> None:
    world = World()
    relay = world.peer("relay", PeerState.RUNNING)
    assert not world.task.has_available_peer(world.child)
    world.link(world.peer("src", PeerState.SUCCEEDED, seed=True), relay)
    world.task.remove_peer("src")  # only the relay remains as a candidate
    assert world.task.has_available_peer(world.child)


def test_available_peer_ignores_blocked_and_same_host() -> None:
    world = World()
    blocked = world.peer("blocked", PeerState.SUCCEEDED)
    world.child.block_parents.add(blocked.id)
    world.peer("neighbour", PeerState.SUCCEEDED, host=world.child_host)
    assert not world.task.has_available_peer(world.child)


# Edges and accounting -----------------------------------------------------------------


def test_edge_accounting_follows_edges() -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=10 * GBIT)
    a, b = world.peer("a"), world.peer("b")
    world.link(seed, a, GBIT)
    world.link(seed, b, 2 * GBIT)
    host = seed.host
    assert (host.concurrent_uploads, host.upload_count, host.reserved_bps) == (2, 2, 3 * GBIT)
    assert host.concurrent_upload_pieces == a.concurrent_piece_count + b.concurrent_piece_count
    assert host.tx_bandwidth_bps == a.peak_bandwidth_bps() + b.peak_bandwidth_bps()
    assert host.upload_content_length == 2 * world.task.content_length
    world.task.delete_in_edges(a)
    assert (host.concurrent_uploads, host.upload_count, host.reserved_bps) == (1, 2, 2 * GBIT)
    assert a.expected_bps == 0
    world.task.delete_out_edges(seed)
    assert (host.concurrent_uploads, host.reserved_bps, host.tx_bandwidth_bps) == (0, 0, 0)
    assert host.concurrent_upload_pieces == 0
    assert host.upload_content_length == 0


def test_unreserve_keeps_edges() -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=10 * GBIT)
    world.link(seed, world.child, GBIT)
    world.task.unreserve_out_edges(seed)
    assert world.task.graph.parents(world.child.id) == {seed.id}
    assert seed.host.reserved_bps == 0
    assert world.child.expected_bps == 0


def test_hops_from_the_content_source() -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True)
    a, b = world.peer("a"), world.peer("b")
    world.link(seed, a)
    world.link(a, b)
    assert (seed.distance(), a.distance(), b.distance()) == (0, 1, 2)
    world.task.delete_in_edges(b)
    assert b.distance() > 1000


@pytest.mark.parametrize(
    ("event", "end", "in_set"),
    [
        (PeerEvent.DOWNLOAD_BACK_TO_SOURCE, PeerState.BACK_TO_SOURCE, True),
        (PeerEvent.DOWNLOAD_SUCCEEDED, PeerState.SUCCEEDED, False),
        (PeerEvent.DOWNLOAD_FAILED, PeerState.FAILED, False),
        (PeerEvent.LEAVE, PeerState.LEAVE, False),
    ],
)
def test_transitions_keep_back_to_source_set_and_drop_in_edges(
    event: PeerEvent, end: PeerState, in_set: bool
) -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True)
    peer = world.peer("p", PeerState.RUNNING)
    world.link(seed, peer)
    peer.fire(event, 2.0)
    assert peer.state is end
    assert (peer.id in world.task.back_to_source_peers) is in_set
    assert world.task.graph.parents(peer.id) == set()
    assert seed.host.concurrent_uploads == 0


def test_leaving_back_to_source_leaves_the_set() -> None:
    world = World()
    peer = world.peer("p", PeerState.RUNNING)
    peer.fire(PeerEvent.DOWNLOAD_BACK_TO_SOURCE, 1.0)
    assert peer.id in world.task.back_to_source_peers
    peer.fire(PeerEvent.DOWNLOAD_SUCCEEDED, 2.0)
    assert peer.id not in world.task.back_to_source_peers


def test_failed_back_to_source_counts_and_success_resets() -> None:
    world = World()
    peer = world.peer("p", PeerState.BACK_TO_SOURCE)
    world.task.back_to_source_peers.add(peer.id)
    peer.fire(PeerEvent.DOWNLOAD_FAILED, 1.0)
    assert world.task.peer_failed_count == 1
    other = world.peer("q", PeerState.RUNNING)
    other.fire(PeerEvent.DOWNLOAD_SUCCEEDED, 2.0)
    assert world.task.peer_failed_count == 0


def test_parent_pool_follows_state_and_edges() -> None:
    world = World()
    pool = world.task.parent_pool
    seed = world.peer("seed", PeerState.RECEIVED_NORMAL, seed=True)
    assert seed.id not in pool
    seed.fire(PeerEvent.DOWNLOAD_BACK_TO_SOURCE, 1.0)
    assert seed.id in pool
    fresh = world.peer("fresh", PeerState.RECEIVED_NORMAL)
    assert fresh.id not in pool
    world.link(seed, fresh)
    assert fresh.id in pool
    world.task.delete_in_edges(fresh)
    assert fresh.id not in pool
    fresh.fire(PeerEvent.LEAVE, 2.0)
    world.resources.remove_peer(fresh)
    assert fresh.id not in pool


def test_free_pool_follows_reservations() -> None:
    world = World()
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, tx_bps=GBIT)
    assert seed.id in world.task.free_pool
    world.link(seed, world.child, GBIT)
    assert seed.id not in world.task.free_pool
    world.task.delete_in_edges(world.child)
    assert seed.id in world.task.free_pool


def test_typical_downlink_is_the_median_of_normal_peers() -> None:
    world = World(child_host=make_host("child", rx_bps=GBIT))
    for i, rx in enumerate([2, 3, 10]):
        world.peer(f"p{i}", host=make_host(f"p{i}", rx_bps=rx * GBIT))
    world.peer("seed", seed=True).host.max_rx_bps = 100 * GBIT  # seeds do not count
    assert world.task.typical_downlink_bps() == 2 * GBIT
    world.task.remove_peer("p0")
    assert world.task.typical_downlink_bps() == 3 * GBIT
