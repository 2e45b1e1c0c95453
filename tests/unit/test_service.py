"""SchedulerService use cases under a fake clock, hand-fired timers and a recording seed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from damselfly.common.clock import FakeClock
from damselfly.core.errors import Code, NotFound, PermissionDenied
from damselfly.core.ids import host_id, task_id
from damselfly.core.models import (
    DownloadRequest,
    HostInfo,
    HostType,
    ParentInfo,
    PieceInfo,
    Priority,
)
from damselfly.scheduler.config import SchedulingConfig
from damselfly.scheduler.resource.models import Host, Task
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.service import (
    BackToSourceResponse,
    EmptyTaskResponse,
    FailedResponse,
    ParentsResponse,
    Response,
    SchedulerService,
)

URL = "https://origin.example.com/big.iso"


def scheduling(**values: float) -> SchedulingConfig:
    """Scheduling config with defaults, validated like a loaded file."""
    return SchedulingConfig.model_validate(values)


TASK = task_id(URL)


@dataclass
class FakeHandle:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTimers:
    """Records ``call_later``; the test fires what is due by hand."""

    def __init__(self) -> None:
        self.handles: list[FakeHandle] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle(delay, callback)
        self.handles.append(handle)
        return handle

    def pending(self) -> list[FakeHandle]:
        return [h for h in self.handles if not h.cancelled and not h.fired]

    def fire_pending(self) -> int:
        """Fire every timer pending now (not the ones they schedule); returns how many."""
        due = self.pending()
        for handle in due:
            handle.fired = True
            handle.callback()
        return len(due)


@dataclass(frozen=True)
class Trigger:
    seed: HostInfo
    task_id: str
    download: DownloadRequest


@dataclass
class Harness:
    config: SchedulingConfig = field(default_factory=scheduling)
    clock: FakeClock = field(default_factory=FakeClock)
    timers: FakeTimers = field(default_factory=FakeTimers)
    triggers: list[Trigger] = field(default_factory=list)
    responses: dict[str, list[Response]] = field(default_factory=dict)
    service: SchedulerService = field(init=False)

    def __post_init__(self) -> None:
        self.service = SchedulerService(
            self.config,
            self.clock,
            self.timers,
            lambda seed, tid, download: self.triggers.append(Trigger(seed, tid, download)),
            rng=random.Random(5),
        )

    def host(self, name: str, *, seed: bool = False, upload_limit: int = 200) -> HostInfo:
        info = HostInfo(
            id=host_id("10.0.0.1", name, seed=seed),
            type=HostType.SEED if seed else HostType.NORMAL,
            hostname=name,
            ip="10.0.0.1",
            port=4000,
            download_port=4005,
            upload_limit=upload_limit,
        )
        self.service.announce_host(info, 30.0)
        return info

    def register(
        self,
        host: HostInfo,
        peer_id: str,
        *,
        need_back_to_source: bool = False,
        priority: Priority = Priority.LEVEL6,
        disable_back_to_source: bool = False,
    ) -> list[Response]:
        download = DownloadRequest(
            URL,
            need_back_to_source=need_back_to_source,
            priority=priority,
            disable_back_to_source=disable_back_to_source,
        )
        got = self.responses.setdefault(peer_id, [])
        self.service.register_peer(host.id, TASK, peer_id, download, got.append)
        return got

    @property
    def task(self) -> Task:
        return self.service.resources.tasks[TASK]

    def hosts(self) -> dict[str, Host]:
        return self.service.resources.hosts

    def check_invariants(self) -> None:
        """The DAG is acyclic and upload counters equal the edges out of each host."""
        for task in self.service.resources.tasks.values():
            assert not task.graph.has_cycle()
        for host in self.hosts().values():
            edges = sum(len(p.task.graph.children(p.id)) for p in host.peers.values())
            assert host.concurrent_uploads == edges, host.id


def parents_of(response: Response) -> list[str]:
    assert isinstance(response, ParentsResponse), response
    return [p.peer_id for p in response.parents]


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


def test_priority_one_is_forbidden() -> None:
    h = Harness()
    with pytest.raises(PermissionDenied):
        h.register(h.host("a"), "p1", priority=Priority.LEVEL1)


def test_priority_three_goes_to_source_without_seed() -> None:
    h = Harness()
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1", priority=Priority.LEVEL3)
    assert isinstance(got[-1], BackToSourceResponse)
    assert h.triggers == []


def test_seed_is_triggered_and_peer_waits() -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    got = h.register(h.host("a"), "p1")
    assert got == []
    assert [(t.seed, t.task_id, t.download.url) for t in h.triggers] == [(seed_host, TASK, URL)]
    assert len(h.timers.pending()) == 1
    interval = h.config.retry_interval_s
    assert 0.75 * interval <= h.timers.pending()[0].delay <= 1.25 * interval


def test_second_peer_does_not_retrigger_a_working_seed() -> None:
    h = Harness()
    seed_host = h.host("s", seed=True)
    h.register(h.host("a"), "p1")
    seed_got = h.register(seed_host, "seed-1", need_back_to_source=True)
    assert len(seed_got) == 1 and isinstance(seed_got[0], BackToSourceResponse)
    assert h.register(h.host("b"), "p2") == []
    assert len(h.triggers) == 1


def test_peers_registering_before_the_seed_arrives_trigger_it_once() -> None:
    h = Harness()
    h.host("s", seed=True)
    for name in ("a", "b", "c"):
        h.register(h.host(name), f"p-{name}")
    assert len(h.triggers) == 1


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
    seed_host = h.host("s", seed=True)
    h.register(seed_host, "seed-1", need_back_to_source=True)
    h.service.back_to_source_started("seed-1")
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


def test_waiting_with_back_to_source_disabled_fails() -> None:
    h = Harness(config=scheduling(retry_back_to_source_limit=1))
    h.host("s", seed=True)
    got = h.register(h.host("a"), "p1", disable_back_to_source=True)
    h.timers.fire_pending()
    assert len(got) == 1 and isinstance(got[0], FailedResponse)


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
    assert h.timers.fire_pending() == 0
    assert len(p1) == 1 and len(p2) == 1


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


# Reschedule, finish, leave ------------------------------------------------------------


def started_seed(h: Harness) -> HostInfo:
    seed_host = h.host("s", seed=True)
    h.register(seed_host, "seed-1", need_back_to_source=True)
    h.service.back_to_source_started("seed-1")
    return seed_host


def test_reschedule_blocks_the_named_parents() -> None:
    h = Harness()
    seed_host = started_seed(h)
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
    started_seed(h)
    relay = h.register(h.host("a"), "relay")
    assert parents_of(relay[-1]) == ["seed-1"]
    # The relay has not started yet, so it is no parent: the newcomer gets the seed only.
    waiting = h.register(h.host("b"), "w")
    assert parents_of(waiting[-1]) == ["seed-1"]
    h.service.reschedule("w", ["seed-1"])
    assert len(waiting) == 1
    h.service.download_started("relay")
    h.service.pieces_finished("relay", [PieceInfo(0, 0, 4, 123, parent_id="seed-1")])
    assert parents_of(waiting[-1]) == ["relay"]
    h.check_invariants()


def test_empty_task_answered_as_empty() -> None:
    h = Harness()
    h.register(h.host("a"), "p1")  # no seed: back to source
    h.service.back_to_source_started("p1")
    h.service.peer_finished("p1", 0, 0, from_source=True)
    got = h.register(h.host("b"), "p2")
    assert got == [EmptyTaskResponse()]


def test_leave_host_removes_its_peers() -> None:
    h = Harness()
    seed_host = started_seed(h)
    a = h.host("a")
    h.register(a, "p1")
    h.register(h.host("b"), "p2")
    assert h.hosts()[seed_host.id].concurrent_uploads == 2

    h.service.leave_host(a.id)

    assert a.id not in h.hosts()
    assert "p1" not in h.service.resources.peers
    assert "p1" not in h.task.peers
    assert "p1" not in h.task.graph
    assert h.task.graph.children("seed-1") == {"p2"}
    assert h.hosts()[seed_host.id].concurrent_uploads == 1
    h.check_invariants()


def test_leave_of_last_host_forgets_the_task() -> None:
    h = Harness()
    a = h.host("a")
    h.register(a, "p1")
    h.service.leave_host(a.id)
    assert TASK not in h.service.resources.tasks
    h.service.leave_host(a.id)  # twice is harmless


def test_stream_closed_keeps_succeeded_peer_as_parent() -> None:
    h = Harness()
    seed_host = started_seed(h)
    h.register(h.host("a"), "p1")
    h.service.peer_finished("p1", 10, 1, from_source=False)
    h.service.stream_closed("p1")
    assert h.service.resources.peers["p1"].state is PeerState.SUCCEEDED
    h.service.stream_closed("seed-1")  # did not finish: leaves
    assert "seed-1" not in h.service.resources.peers
    assert h.hosts()[seed_host.id].concurrent_uploads == 0
    h.check_invariants()


@pytest.mark.parametrize("rng_seed", range(8))
def test_graph_stays_acyclic_under_churn(rng_seed: int) -> None:
    rng = random.Random(rng_seed)
    h = Harness(config=scheduling(candidate_parent_limit=3, retry_back_to_source_limit=2))
    started_seed(h)
    hosts = [h.host(f"h{i}", upload_limit=3) for i in range(6)]
    registered: list[str] = []
    for step in range(120):
        peers = h.service.resources.peers
        action = rng.randrange(6)
        if action == 0 or not registered:
            name = f"p{step}"
            h.register(rng.choice(hosts), name)
            registered.append(name)
        else:
            name = rng.choice(registered)
            peer = peers.get(name)
            if peer is None:
                continue
            if action == 1 and peer.state is PeerState.RECEIVED_NORMAL:
                h.service.download_started(name)
            elif action == 2 and peer.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING):
                number = rng.randrange(10)
                parent = next(iter(peer.task.graph.parents(name)), "")
                h.service.pieces_finished(name, [PieceInfo(number, number * 4, 4, 0, parent)])
            elif action == 3 and peer.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING):
                blocked = list(peer.task.graph.parents(name))[:1]
                h.service.reschedule(name, blocked)
            elif action == 4 and peer.state in (PeerState.RECEIVED_NORMAL, PeerState.RUNNING):
                h.service.peer_finished(name, 40, 10, from_source=False)
            elif action == 5:
                h.service.stream_closed(name)
        if step % 10 == 0:
            h.timers.fire_pending()
        h.check_invariants()
        for peer in h.service.resources.peers.values():
            for parent_id in peer.task.graph.parents(peer.id):
                assert peers[parent_id].host.id != peer.host.id
