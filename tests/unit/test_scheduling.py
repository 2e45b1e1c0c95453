"""Pure scheduling: parent filters, the evaluator and the decision for one peer."""

from __future__ import annotations

import random

import pytest

from damselfly.core.models import DownloadRequest, HostInfo, HostType, Priority
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerState
from damselfly.scheduler.resource.store import Resources
from damselfly.scheduler.scheduling.decide import (
    BackToSource,
    Fail,
    Limits,
    Parents,
    Wait,
    decide,
)
from damselfly.scheduler.scheduling.evaluator import rank
from damselfly.scheduler.scheduling.filters import candidate_parents, rejection

# Factories ----------------------------------------------------------------------------


def make_host(name: str, *, seed: bool = False, upload_limit: int = 200) -> Host:
    info = HostInfo(
        id=f"host-{name}",
        type=HostType.SEED if seed else HostType.NORMAL,
        hostname=name,
        ip="10.0.0.1",
        port=4000,
        download_port=4005,
        upload_limit=upload_limit,
    )
    return Host(info, announce_interval_s=30.0, updated_at=0.0)


def make_task(*, piece_count: int = 10, back_to_source_limit: int = 200) -> Task:
    task = Task("t" * 64, DownloadRequest("https://e.com/f"), 0.0, back_to_source_limit)
    task.piece_count = piece_count
    return task


def make_peer(
    resources: Resources,
    task: Task,
    name: str,
    host: Host,
    state: PeerState = PeerState.RUNNING,
    *,
    finished: int = 0,
    in_graph: bool = True,
    download: DownloadRequest | None = None,
) -> Peer:
    peer = Peer(name, task, host, download or DownloadRequest("https://e.com/f"), 0.0)
    peer.state = state
    for number in range(finished):
        peer.finished.add(number)
    if in_graph:
        resources.add_peer(peer)
    else:
        task.peers[name] = peer
    return peer


class World:
    """A task with a child peer asking for parents, on its own host."""

    def __init__(
        self, *, back_to_source_limit: int = 200, download: DownloadRequest | None = None
    ) -> None:
        self.resources = Resources()
        self.task = make_task(back_to_source_limit=back_to_source_limit)
        self.child_host = make_host("child")
        self.child = make_peer(
            self.resources,
            self.task,
            "child",
            self.child_host,
            PeerState.RECEIVED_NORMAL,
            download=download,
        )
        self.child.block_parents.add(self.child.id)

    def peer(
        self,
        name: str,
        state: PeerState = PeerState.RUNNING,
        *,
        seed: bool = False,
        finished: int = 0,
        upload_limit: int = 200,
        in_graph: bool = True,
        host: Host | None = None,
    ) -> Peer:
        host = host or make_host(name, seed=seed, upload_limit=upload_limit)
        return make_peer(
            self.resources, self.task, name, host, state, finished=finished, in_graph=in_graph
        )

    def link(self, parent: Peer, child: Peer) -> None:
        self.task.graph.add_edge(parent.id, child.id)


# Filters ------------------------------------------------------------------------------


def test_child_itself_is_blocked() -> None:
    world = World()
    assert rejection(world.child, world.child) == "blocked"


def test_blocked_parent() -> None:
    world = World()
    seed = world.peer("seed", seed=True)
    world.child.block_parents.add(seed.id)
    assert rejection(world.child, seed) == "blocked"


def test_same_host() -> None:
    world = World()
    neighbour = world.peer("n", PeerState.SUCCEEDED, host=world.child_host)
    assert rejection(world.child, neighbour) == "same host"


def test_not_in_graph() -> None:
    world = World()
    stray = world.peer("stray", PeerState.SUCCEEDED, in_graph=False)
    assert rejection(world.child, stray) == "not in graph"


@pytest.mark.parametrize("state", [PeerState.RUNNING, PeerState.RECEIVED_NORMAL, PeerState.PENDING])
def test_normal_peer_without_parent_or_source(state: PeerState) -> None:
    world = World()
    orphan = world.peer("orphan", state)
    assert rejection(world.child, orphan) == "no parent and no content source"


BAD_STATES = [
    PeerState.PENDING,
    PeerState.RECEIVED_EMPTY,
    PeerState.RECEIVED_NORMAL,
    PeerState.FAILED,
    PeerState.LEAVE,
]
GOOD_STATES = [PeerState.RUNNING, PeerState.BACK_TO_SOURCE, PeerState.SUCCEEDED]


@pytest.mark.parametrize("state", BAD_STATES)
def test_bad_state_seed(state: PeerState) -> None:
    world = World()
    seed = world.peer("seed", state, seed=True)
    assert rejection(world.child, seed) == "bad state"


@pytest.mark.parametrize("state", BAD_STATES)
def test_bad_state_normal_peer_with_a_parent(state: PeerState) -> None:
    world = World()
    grandparent = world.peer("gp", PeerState.SUCCEEDED)
    parent = world.peer("p", state)
    world.link(grandparent, parent)
    assert rejection(world.child, parent) == "bad state"


@pytest.mark.parametrize("used", [1, 2])
def test_no_free_upload_slot(used: int) -> None:
    world = World()
    seed = world.peer("seed", seed=True, upload_limit=1)
    seed.host.concurrent_uploads = used
    assert rejection(world.child, seed) == "no free upload slot"


def test_zero_upload_limit_means_no_slot() -> None:
    world = World()
    seed = world.peer("seed", seed=True, upload_limit=0)
    assert rejection(world.child, seed) == "no free upload slot"


def test_would_form_a_cycle() -> None:
    world = World()
    world.child.state = PeerState.RUNNING
    grandchild = world.peer("gc", PeerState.RUNNING)
    world.link(world.child, grandchild)
    # gc has a parent (the child) so it passes the content-source rule, but it is below.
    assert rejection(world.child, grandchild) == "would form a cycle"


def test_long_chain_cycle() -> None:
    world = World()
    previous = world.child
    for i in range(50):
        nxt = world.peer(f"d{i}", PeerState.RUNNING)
        world.link(previous, nxt)
        previous = nxt
    assert rejection(world.child, previous) == "would form a cycle"


def test_existing_parent_is_not_added_twice() -> None:
    world = World()
    seed = world.peer("seed", seed=True)
    world.link(seed, world.child)
    assert rejection(world.child, seed) == "would form a cycle"


@pytest.mark.parametrize("state", GOOD_STATES)
def test_seed_without_parent_accepted(state: PeerState) -> None:
    world = World()
    assert rejection(world.child, world.peer("seed", state, seed=True)) is None


@pytest.mark.parametrize("state", [PeerState.SUCCEEDED, PeerState.BACK_TO_SOURCE])
def test_normal_peer_with_content_source_accepted(state: PeerState) -> None:
    world = World()
    assert rejection(world.child, world.peer("p", state)) is None


def test_normal_running_peer_with_a_parent_accepted() -> None:
    world = World()
    seed = world.peer("seed", seed=True)
    relay = world.peer("relay", PeerState.RUNNING)
    world.link(seed, relay)
    assert rejection(world.child, relay) is None


def test_candidate_parents_keeps_only_accepted() -> None:
    world = World()
    good = {world.peer("seed", seed=True).id, world.peer("done", PeerState.SUCCEEDED).id}
    world.peer("orphan", PeerState.RUNNING)
    world.peer("failed", PeerState.FAILED, seed=True)
    world.peer("full", seed=True, upload_limit=0)
    found = candidate_parents(world.child, 15, random.Random(1))
    assert {p.id for p in found} == good


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_candidate_parents_samples_at_most_the_limit(limit: int) -> None:
    world = World()
    names = {world.peer(f"s{i}", seed=True).id for i in range(8)}
    found = candidate_parents(world.child, limit, random.Random(7))
    assert len(found) == limit
    assert {p.id for p in found} <= names


# Evaluator ----------------------------------------------------------------------------


def test_rank_prefers_more_finished_pieces() -> None:
    world = World()
    few = world.peer("few", PeerState.BACK_TO_SOURCE, finished=2)
    most = world.peer("most", PeerState.BACK_TO_SOURCE, finished=9)
    some = world.peer("some", PeerState.BACK_TO_SOURCE, finished=5)
    assert rank([few, most, some], world.child) == [most, some, few]


def test_rank_prefers_succeeded_parent() -> None:
    world = World()
    almost = world.peer("almost", PeerState.BACK_TO_SOURCE, finished=world.task.piece_count - 1)
    done = world.peer("done", PeerState.SUCCEEDED)
    assert rank([almost, done], world.child) == [done, almost]


def test_rank_prefers_seed_on_equal_pieces() -> None:
    world = World()
    normal = world.peer("normal", PeerState.BACK_TO_SOURCE, finished=3)
    seed = world.peer("seed", PeerState.BACK_TO_SOURCE, seed=True, finished=3)
    assert rank([normal, seed], world.child) == [seed, normal]


def test_rank_prefers_free_upload_slots_on_equal_pieces() -> None:
    world = World()
    busy = world.peer("busy", PeerState.BACK_TO_SOURCE, finished=3, upload_limit=10)
    busy.host.concurrent_uploads = 9
    idle = world.peer("idle", PeerState.BACK_TO_SOURCE, finished=3, upload_limit=10)
    assert rank([busy, idle], world.child) == [idle, busy]


def test_rank_with_unknown_piece_count_still_prefers_more_pieces() -> None:
    world = World()
    world.task.piece_count = -1
    few = world.peer("few", PeerState.BACK_TO_SOURCE, finished=1)
    many = world.peer("many", PeerState.BACK_TO_SOURCE, finished=40)
    assert rank([few, many], world.child) == [many, few]


# Decide -------------------------------------------------------------------------------

RNG_SEED = 3


def decide_for(world: World, *, waited_out: bool, limits: Limits | None = None) -> object:
    return decide(world.child, limits or Limits(), random.Random(RNG_SEED), waited_out=waited_out)


def test_need_back_to_source_goes_to_source_even_with_parents() -> None:
    world = World()
    world.peer("seed", seed=True)
    world.child.need_back_to_source = True
    assert isinstance(decide_for(world, waited_out=False), BackToSource)


@pytest.mark.parametrize(
    "download",
    [
        DownloadRequest("https://e.com/f", disable_back_to_source=True),
        DownloadRequest("https://e.com/f", priority=Priority.LEVEL2),
    ],
)
def test_need_back_to_source_ignored_when_source_not_allowed(download: DownloadRequest) -> None:
    world = World(download=download)
    seed = world.peer("seed", seed=True)
    world.child.need_back_to_source = True
    assert decide_for(world, waited_out=False) == Parents([seed])


def test_need_back_to_source_ignored_when_budget_spent() -> None:
    world = World(back_to_source_limit=1)
    world.task.back_to_source_peers.add("someone-else")
    world.child.need_back_to_source = True
    assert decide_for(world, waited_out=False) == Wait()


@pytest.mark.parametrize(("count", "limit"), [(6, 4), (3, 4), (5, 1), (20, 20)])
def test_parents_limited_to_best_candidates(count: int, limit: int) -> None:
    world = World()
    # Distinct finished counts give a strict order: more pieces first.
    peers = [world.peer(f"p{i}", PeerState.BACK_TO_SOURCE, finished=i) for i in range(count)]
    decision = decide_for(
        world, waited_out=False, limits=Limits(candidate_parent_limit=limit, filter_parent_limit=50)
    )
    assert isinstance(decision, Parents)
    expected = sorted(peers, key=lambda p: len(p.finished), reverse=True)[:limit]
    assert decision.peers == expected


def test_wait_before_waited_out() -> None:
    world = World()
    world.peer("orphan", PeerState.RUNNING)
    assert decide_for(world, waited_out=False) == Wait()


@pytest.mark.parametrize(
    "download",
    [
        DownloadRequest("https://e.com/f", disable_back_to_source=True),
        DownloadRequest("https://e.com/f", priority=Priority.LEVEL2),
    ],
)
def test_fail_after_waiting_when_source_not_allowed(download: DownloadRequest) -> None:
    world = World(download=download)
    decision = decide_for(world, waited_out=True)
    assert isinstance(decision, Fail)
    assert "disabled" in decision.reason


@pytest.mark.parametrize("priority", [p for p in Priority if p is not Priority.LEVEL2])
def test_back_to_source_after_waiting_out(priority: Priority) -> None:
    world = World(download=DownloadRequest("https://e.com/f", priority=priority))
    assert isinstance(decide_for(world, waited_out=True), BackToSource)


@pytest.mark.parametrize(("limit", "used"), [(0, 0), (1, 1), (2, 2)])
def test_fail_when_back_to_source_budget_spent(limit: int, used: int) -> None:
    world = World(back_to_source_limit=limit)
    world.task.back_to_source_peers.update(f"other-{i}" for i in range(used))
    decision = decide_for(world, waited_out=True)
    assert isinstance(decision, Fail)
    assert "budget" in decision.reason


def test_back_to_source_while_budget_remains() -> None:
    world = World(back_to_source_limit=2)
    world.task.back_to_source_peers.add("other")
    assert isinstance(decide_for(world, waited_out=True), BackToSource)
