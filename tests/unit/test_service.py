"""SchedulerService use cases: size scopes, reports, hosts and tasks."""

from __future__ import annotations

import random

import pytest

from damselfly.core.errors import FailedPrecondition, NotFound
from damselfly.core.ids import task_id
from damselfly.core.models import HostType, Priority
from damselfly.scheduler.resource.states import PeerState, TaskState
from damselfly.scheduler.responses import (
    EmptyTaskResponse,
)
from tests.unit.service_harness import (
    GBIT,
    TASK,
    URL,
    Harness,
    parents_of,
    scheduling,
)

# Size scopes ------------------------------------------------------------------------------


def finished_task(h: Harness, length: int, count: int) -> None:
    h.register(h.host("first"), "first")  # no seed: back to source
    h.service.back_to_source_started("first")
    h.service.peer_finished("first", length, count, from_source=True)


def test_empty_task_answered_as_empty() -> None:
    h = Harness()
    finished_task(h, 0, 0)
    got = h.register(h.host("b"), "p2")
    assert got == [EmptyTaskResponse()]
    assert h.service.resources.peers["p2"].state is PeerState.RECEIVED_EMPTY


@pytest.mark.parametrize(
    ("length", "count", "state"),
    [
        (100, 1, PeerState.RECEIVED_TINY),
        (4 << 20, 1, PeerState.RECEIVED_SMALL),
        (40 << 20, 10, PeerState.RECEIVED_NORMAL),
    ],
)
def test_size_scope_sets_the_registered_state(length: int, count: int, state: PeerState) -> None:
    h = Harness()
    finished_task(h, length, count)
    got = h.register(h.host("b"), "p2")
    assert parents_of(got[-1]) == ["first"]
    assert h.service.resources.peers["p2"].state is state
    h.service.download_started("p2")
    assert h.service.resources.peers["p2"].state is PeerState.RUNNING


# Reports ------------------------------------------------------------------------------


def test_reports_from_an_unknown_peer_are_not_found() -> None:
    h = Harness()
    with pytest.raises(NotFound, match="register it first"):
        h.service.download_started("ghost")


def test_back_to_source_beyond_the_budget_is_refused() -> None:
    h = Harness(config=scheduling(back_to_source_count=1))
    h.register(h.host("a"), "p1")
    h.service.back_to_source_started("p1")
    h.register(h.host("b"), "p2", priority=Priority.LEVEL3)
    with pytest.raises(FailedPrecondition, match="budget"):
        h.service.back_to_source_started("p2")


def test_reschedule_blocks_the_named_parents() -> None:
    h = Harness()
    seed_host = h.started_seed()
    p1 = h.register(h.host("a"), "p1")
    assert parents_of(p1[-1]) == ["seed-1"]

    h.service.reschedule("p1", ["seed-1"])

    assert len(p1) == 1  # nobody else: the peer waits
    assert h.task.graph.parents("p1") == set()
    assert h.hosts()[seed_host.id].concurrent_uploads == 0
    h.check_invariants()

    q = h.register(h.host("c"), "q")
    assert parents_of(q[-1]) == ["seed-1"]
    h.service.peer_finished("q", 10, 1, from_source=False)
    assert parents_of(p1[-1]) == ["q"]
    h.check_invariants()


def test_first_finished_pieces_wake_waiting_peers() -> None:
    h = Harness()
    h.started_seed()
    relay = h.running("relay")
    assert parents_of(relay[-1]) == ["seed-1"]
    waiting = h.register(h.host("b"), "w")
    h.service.reschedule("w", ["seed-1", "relay"])
    assert len(waiting) == 1
    h.service.reschedule("w", [])
    # Blocked parents stay blocked; the relay was blocked too, so w waits.
    assert len(waiting) == 1
    other = h.running("other")
    assert parents_of(other[-1]) == ["seed-1"]
    h.pieces("other", range(4), parent="seed-1")
    assert parents_of(waiting[-1]) == ["other"]
    h.check_invariants()


def test_piece_reports_record_pieces_costs_and_served_bytes() -> None:
    h = Harness()
    seed_host = h.started_seed()
    h.running("a")
    h.pieces("a", range(20), parent="seed-1", cost_ns=1000)
    peer = h.service.resources.peers["a"]
    assert set(peer.finished) == set(range(20))
    assert peer.received.rate(h.clock.now()) > 0
    seed = h.service.resources.peers["seed-1"]
    # The first pieces of a child do not count towards the parent's cost statistics.
    assert 0 < len(seed.served_costs_ns) < 20
    assert h.hosts()[seed_host.id].peak_served_bps > 0


def test_failed_piece_blocks_the_parent_and_counts_against_its_host() -> None:
    h = Harness()
    seed_host = h.started_seed()
    h.running("a")
    h.service.piece_failed("a", "seed-1", temporary=True)
    assert "seed-1" in h.service.resources.peers["a"].block_parents
    assert h.hosts()[seed_host.id].upload_failed_count == 1
    h.service.piece_failed("a", "seed-1", temporary=False)
    assert h.hosts()[seed_host.id].upload_failed_count == 2


def test_finished_peer_keeps_serving_and_releases_its_parents() -> None:
    h = Harness()
    seed_host = h.started_seed()
    h.running("a")
    h.service.peer_finished("a", 40, 10, from_source=False)
    peer = h.service.resources.peers["a"]
    assert peer.state is PeerState.SUCCEEDED
    assert set(peer.finished) == set(range(10))
    assert h.task.state is TaskState.SUCCEEDED
    assert h.hosts()[seed_host.id].concurrent_uploads == 0
    assert peer.id in h.task.parent_pool
    h.check_invariants()


def test_stream_closed_keeps_succeeded_peer_as_parent() -> None:
    h = Harness()
    seed_host = h.started_seed()
    h.register(h.host("a"), "p1")
    h.service.peer_finished("p1", 10, 1, from_source=False)
    h.service.stream_closed("p1")
    assert h.service.resources.peers["p1"].state is PeerState.SUCCEEDED
    h.service.stream_closed("seed-1")  # did not finish: leaves
    assert "seed-1" not in h.service.resources.peers
    assert h.hosts()[seed_host.id].concurrent_uploads == 0
    h.check_invariants()


def test_registering_again_replaces_the_old_peer() -> None:
    h = Harness()
    h.started_seed()
    a = h.host("a")
    h.register(a, "p1")
    again = h.register(a, "p1", finished=(0, 1))
    assert parents_of(again[-1]) == ["seed-1"]
    assert len(h.task.graph.children("seed-1")) == 1
    h.check_invariants()


# Hosts and tasks ----------------------------------------------------------------------


def test_leave_host_removes_its_peers_and_feeds_their_children() -> None:
    h = Harness()
    seed_host = h.started_seed(tx_bps=GBIT)
    a = h.host("a")
    h.register(a, "p1")
    h.service.download_started("p1")
    # The seed is full: the next peer is fed by p1.
    child = h.running("child")
    assert parents_of(child[-1]) == ["p1"]
    h.pieces("p1", range(10), parent="seed-1")

    h.service.leave_host(a.id)

    assert a.id not in h.hosts()
    assert "p1" not in h.service.resources.peers
    assert "p1" not in h.task.peers
    assert "p1" not in h.task.graph
    # The child was given the seed at once, without asking.
    assert parents_of(child[-1]) == ["seed-1"]
    assert h.hosts()[seed_host.id].concurrent_uploads == 1
    h.check_invariants()


def test_delete_host_is_leave_host() -> None:
    h = Harness()
    a = h.host("a")
    h.register(a, "p1")
    h.service.delete_host(a.id)
    assert a.id not in h.hosts()


def test_leave_of_last_host_forgets_the_task() -> None:
    h = Harness()
    a = h.host("a")
    h.register(a, "p1")
    h.service.leave_host(a.id)
    assert TASK not in h.service.resources.tasks
    h.service.leave_host(a.id)  # twice is harmless


def test_list_hosts_by_type() -> None:
    h = Harness()
    seed = h.host("s", seed=True)
    normal = {h.host("a").id, h.host("b").id}
    assert {x.id for x in h.service.list_hosts()} == normal | {seed.id}
    assert {x.id for x in h.service.list_hosts(HostType.SEED)} == {seed.id}
    assert {x.id for x in h.service.list_hosts(HostType.NORMAL)} == normal


def test_stat_task_and_peer() -> None:
    h = Harness()
    h.started_seed()
    h.register(h.host("a"), "p1")
    assert h.service.stat_task(TASK).state is TaskState.RUNNING
    assert h.service.stat_peer("p1").state is PeerState.RECEIVED_NORMAL
    with pytest.raises(NotFound):
        h.service.stat_task("f" * 64)
    with pytest.raises(NotFound):
        h.service.stat_peer("ghost")


def test_delete_task_on_one_host() -> None:
    h = Harness()
    h.started_seed()
    a = h.host("a")
    h.register(a, "p1")
    h.register(h.host("b"), "p2")
    assert h.service.delete_task(TASK, a.id) == 1
    assert set(h.task.peers) == {"seed-1", "p2"}
    h.check_invariants()


def test_delete_task_everywhere() -> None:
    h = Harness()
    h.started_seed()
    h.register(h.host("a"), "p1")
    assert h.service.delete_task(TASK) == 2
    assert TASK not in h.service.resources.tasks
    with pytest.raises(NotFound):
        h.service.delete_task(TASK)


@pytest.mark.parametrize("rng_seed", range(8))
@pytest.mark.parametrize("algorithm", ["default", "dragonfly-base", "dragonfly-load"])
def test_graph_and_books_stay_consistent_under_churn(rng_seed: int, algorithm: str) -> None:
    rng = random.Random(rng_seed)
    h = Harness(
        config=scheduling(
            candidate_parent_limit=3, retry_back_to_source_limit=2, algorithm=algorithm
        )
    )
    h.started_seed()
    hosts = [h.host(f"h{i}", upload_limit=3) for i in range(6)]
    registered: list[str] = []
    for step in range(120):
        peers = h.service.resources.peers
        action = rng.randrange(8)
        if action == 0 or not registered:
            name = f"p{step}"
            h.register(rng.choice(hosts), name)
            registered.append(name)
        else:
            name = rng.choice(registered)
            peer = peers.get(name)
            if peer is None:
                continue
            downloading = peer.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING)
            if action == 1 and peer.state is PeerState.RECEIVED_NORMAL:
                h.service.download_started(name)
            elif action == 2 and downloading:
                number = rng.randrange(10)
                parent = next(iter(peer.task.graph.parents(name)), "")
                h.pieces(name, range(number, number + 1), parent=parent, cost_ns=1000)
            elif action == 3 and downloading:
                blocked = list(peer.task.graph.parents(name))[:1]
                h.service.reschedule(name, blocked)
            elif action == 4 and downloading:
                h.service.peer_finished(name, 40, 10, from_source=False)
            elif action == 5:
                h.service.stream_closed(name)
            elif action == 6:
                h.service.rebalance()
            elif action == 7:
                h.clock.advance(1.0)
        if step % 10 == 0:
            h.timers.fire_pending()
        h.check_invariants()


def test_schedulers_of_a_cluster_pick_the_same_seed_for_a_task() -> None:
    """Scale-out: every scheduler knows every host (daemons announce to all of them), so
    whichever scheduler a task hashes to, it asks the same seed peer."""
    first, second = Harness(), Harness()
    for h in (first, second):
        for i in range(5):
            h.host(f"seed{i}", seed=True)
    for i in range(50):
        tid = task_id(f"{URL}?layer={i}", filtered_query_params=[])
        a = first.service.seeding.seed_for(tid)
        b = second.service.seeding.seed_for(tid)
        assert a is not None and b is not None
        assert a.id == b.id


def test_registering_again_as_the_only_peer_keeps_the_task() -> None:
    h = Harness()
    a = h.host("a")
    h.register(a, "p1")
    h.register(a, "p1")
    assert h.service.resources.peers["p1"].task is h.service.resources.tasks[TASK]
    h.check_invariants()
