"""SchedulerService use cases: registration, priorities, seeds, reports, hosts and tasks."""

from __future__ import annotations

import random

import pytest

from damselfly.core.errors import Code, FailedPrecondition, NotFound, PermissionDenied
from damselfly.core.ids import task_id
from damselfly.core.models import HostInfo, HostType, ParentInfo, Priority
from damselfly.scheduler.resource.states import PeerState, TaskState
from damselfly.scheduler.responses import (
    BackToSourceResponse,
    EmptyTaskResponse,
    FailedResponse,
    ParentsResponse,
)
from tests.unit.service_harness import (
    GBIT,
    TASK,
    URL,
    Harness,
    parents_of,
    scheduling,
)

# Registration -------------------------------------------------------------------------


def test_no_seed_host_means_back_to_source() -> None:
    h = Harness()
    got = h.register(h.host("a"), "p1")
    assert len(got) == 1 and isinstance(got[0], BackToSourceResponse)
    assert h.triggers == []
    assert h.timers.pending() == []


def test_unknown_host_is_not_found() -> None:
    h = Harness()
    ghost = HostInfo("ghost", HostType.NORMAL, "ghost", "10.0.0.9", 1, 2)
    with pytest.raises(NotFound, match="announce the host first"):
        h.register(ghost, "p1")


def test_unknown_host_registers_when_the_peer_brings_it() -> None:
    """After a scheduler restart a daemon need not wait for its next host announce."""
    h = Harness()
    ghost = HostInfo("ghost", HostType.NORMAL, "ghost", "10.0.0.9", 1, 2)
    got = h.register(ghost, "p1", host_info=ghost)
    assert isinstance(got[-1], BackToSourceResponse)
    assert h.hosts()["ghost"].info == ghost


def test_registration_records_the_pieces_a_peer_has() -> None:
    h = Harness()
    h.register(h.host("a"), "p1", finished=(0, 1, 5))
    assert set(h.service.resources.peers["p1"].finished) == {0, 1, 5}


def test_priority_one_is_forbidden() -> None:
    h = Harness()
    with pytest.raises(PermissionDenied):
        h.register(h.host("a"), "p1", priority=Priority.LEVEL1)


def test_priority_two_without_any_peer_is_not_found() -> None:
    h = Harness()
    h.host("s", seed=True)
    with pytest.raises(NotFound, match="priority 2"):
        h.register(h.host("a"), "p1", priority=Priority.LEVEL2)
    assert h.triggers == []


def test_priority_two_waits_for_a_seed_already_asked() -> None:
    h = Harness()
    h.host("s", seed=True)
    h.register(h.host("a"), "p1")
    assert h.register(h.host("b"), "p2", priority=Priority.LEVEL2) == []
    assert len(h.triggers) == 1


def test_priority_three_goes_to_source_without_seed() -> None:
    h = Harness()
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1", priority=Priority.LEVEL3)
    assert isinstance(got[-1], BackToSourceResponse)
    assert h.triggers == []


@pytest.mark.parametrize(
    "priority", [Priority.LEVEL0, Priority.LEVEL4, Priority.LEVEL5, Priority.LEVEL6]
)
def test_seed_is_triggered_and_peer_waits(priority: Priority) -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    got = h.register(h.host("a"), "p1", priority=priority)
    assert got == []
    assert [(t.seed, t.task_id, t.download.url) for t in h.triggers] == [(seed_host, TASK, URL)]
    assert len(h.timers.pending()) == 1
    interval = h.config.retry_interval_s
    assert 0.75 * interval <= h.timers.pending()[0].delay <= 1.25 * interval


def test_retry_delays_are_jittered() -> None:
    h = Harness()
    h.host("s", seed=True)
    for name in "abcdef":
        h.register(h.host(name), f"p-{name}")
    delays = {round(handle.delay, 6) for handle in h.timers.pending()}
    assert len(delays) > 1


def test_seed_is_chosen_by_consistent_hashing() -> None:
    h = Harness()
    seeds = [h.host(f"s{i}", seed=True) for i in range(4)]
    chosen = set()
    for i in range(40):
        tid = task_id(f"{URL}?n={i}", filtered_query_params=[])
        h.register(h.host(f"a{i}"), f"p{i}", task=tid)
        chosen.add(h.triggers[-1].seed.id)
        again = h.service.seeding.seed_for(tid)
        assert again is not None and again.id == h.triggers[-1].seed.id
    assert len(chosen) > 1
    assert chosen <= {s.id for s in seeds}


def test_second_peer_does_not_retrigger_a_working_seed() -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    h.register(h.host("a"), "p1")
    seed_got = h.register(seed_host, "seed-1", need_back_to_source=True)
    assert len(seed_got) == 1 and isinstance(seed_got[0], BackToSourceResponse)
    assert h.register(h.host("b"), "p2") == []
    assert len(h.triggers) == 1


def test_seed_that_never_registers_is_asked_again() -> None:
    h = Harness(config=scheduling(seed_peer_register_timeout_s=30))
    h.host("s", seed=True)
    h.register(h.host("a"), "p1")
    h.clock.advance(31)
    h.register(h.host("b"), "p2")
    assert len(h.triggers) == 2


def test_seed_start_hands_the_seed_to_waiting_peers() -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    p1 = h.register(h.host("a"), "p1")
    h.register(seed_host, "seed-1", need_back_to_source=True)
    p2 = h.register(h.host("b"), "p2")
    assert p1 == [] and p2 == []

    h.service.back_to_source_started("seed-1")

    for got in (p1, p2):
        assert got == [ParentsResponse([ParentInfo("seed-1", seed_host)])]
    assert h.task.graph.children("seed-1") == {"p1", "p2"}
    assert h.hosts()[seed_host.id].concurrent_uploads == 2
    assert h.timers.pending() == []
    h.check_invariants()


def test_peer_registering_after_seed_started_gets_seed_at_once() -> None:
    h = Harness()
    h.started_seed()
    got = h.register(h.host("a"), "p1")
    assert [parents_of(r) for r in got] == [["seed-1"]]
    assert h.triggers == []


@pytest.mark.parametrize("limit", [0, 1, 2, 4])
def test_waiting_past_retry_limit_goes_back_to_source(limit: int) -> None:
    h = Harness(config=scheduling(retry_back_to_source_limit=limit))
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1")
    # Attempt 0 happens at registration; attempt n after the n-th timer.
    for _ in range(limit):
        assert got == []
        assert h.timers.fire_pending() == 1
    assert len(got) == 1 and isinstance(got[0], BackToSourceResponse)
    assert h.timers.pending() == []


@pytest.mark.parametrize("retry_limit", [1, 3])
def test_waiting_with_back_to_source_disabled_fails_after_retry_limit(retry_limit: int) -> None:
    h = Harness(config=scheduling(retry_limit=retry_limit))
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1", disable_back_to_source=True)
    for _ in range(retry_limit):
        assert got == []
        h.timers.fire_pending()
    assert len(got) == 1 and isinstance(got[0], FailedResponse)
    assert got[0].code is Code.FAILED_PRECONDITION
    assert h.service.resources.peers["p1"].state is PeerState.FAILED


def test_seed_origin_error_fails_waiting_peers_with_its_reason() -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    p1 = h.register(h.host("a"), "p1")
    p2 = h.register(h.host("b"), "p2")
    seed_got = h.register(seed_host, "seed-1", need_back_to_source=True)
    reason = f"origin answered 404 Not Found for {URL}; check the URL"

    h.service.peer_failed("seed-1", reason, Code.ORIGIN_ERROR, from_source=True)

    for got in (p1, p2):
        assert got == [FailedResponse(Code.ORIGIN_ERROR, reason)]
    assert len(seed_got) == 1
    assert h.timers.pending() == []
    assert h.task.state is TaskState.FAILED


def test_after_seed_failure_peers_go_to_source_until_the_timeout() -> None:
    h = Harness(config=scheduling(seed_peer_failed_timeout_s=600))
    seed_host = h.host("s", seed=True)
    h.register(h.host("a"), "p1")
    h.register(seed_host, "seed-1", need_back_to_source=True)
    h.service.peer_failed("seed-1", "origin 500", Code.ORIGIN_ERROR, from_source=True)
    assert len(h.triggers) == 1

    h.clock.advance(599)
    got = h.register(h.host("b"), "p2")
    assert len(got) == 1 and isinstance(got[0], BackToSourceResponse)
    assert len(h.triggers) == 1

    h.clock.advance(2)
    assert h.register(h.host("c"), "p3") == []
    assert len(h.triggers) == 2


def test_seed_trigger_failure_sends_waiting_peers_to_source() -> None:
    h = Harness()
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1")
    h.service.seed_trigger_failed(TASK, "seed peer 10.0.0.1:4000 is unreachable")
    assert len(got) == 1 and isinstance(got[0], BackToSourceResponse)
    assert h.timers.pending() == []


def test_seed_with_the_task_stored_becomes_a_parent() -> None:
    """A triggered seed that answers from storage registers no peer of its own."""
    h = Harness()
    seed_host = h.host("s", seed=True)
    waiting = h.register(h.host("a"), "p1")
    h.service.seed_has_task(seed_host.id, TASK, 10 << 20, 4 << 20, 3)
    assert len(waiting) == 1
    (parent,) = parents_of(waiting[0])
    stored = h.service.resources.peers[parent]
    assert stored.host.id == seed_host.id
    assert stored.state is PeerState.SUCCEEDED
    assert (h.task.content_length, h.task.piece_count) == (10 << 20, 3)
    h.service.seed_has_task(seed_host.id, TASK, 10 << 20, 4 << 20, 3)  # once only
    assert sum(p.host.id == seed_host.id for p in h.task.peers.values()) == 1


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
