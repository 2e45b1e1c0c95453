"""SchedulerService use cases: registration, priorities and the seed peer trigger."""

from __future__ import annotations

import pytest

from damselfly.core.errors import Code, NotFound, PermissionDenied
from damselfly.core.ids import task_id
from damselfly.core.models import HostInfo, HostType, ParentInfo, Priority
from damselfly.scheduler.resource.states import PeerState, TaskState
from damselfly.scheduler.responses import (
    BackToSourceResponse,
    FailedResponse,
    ParentsResponse,
)
from tests.unit.service_harness import (
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
