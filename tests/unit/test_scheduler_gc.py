"""Garbage collection of peers, tasks and hosts (reference §4.11), under a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from damselfly.scheduler.config import GCConfig
from damselfly.scheduler.gc import PeerVerdict, host_is_garbage, peer_verdict, task_is_garbage
from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.resource.states import PeerState
from tests.unit.scheduler_world import World, make_task
from tests.unit.service_harness import TASK, Harness, parents_of

CONFIG = GCConfig(
    peer_ttl_s=100,
    piece_download_timeout_s=50,
    host_ttl_s=200,
    peer_count_limit_for_task=3,
)
NOW = 1000.0


def fresh(state: PeerState = PeerState.RUNNING) -> tuple[World, Peer]:
    world = World()
    peer = world.peer("p", state)
    peer.updated_at = peer.piece_updated_at = NOW
    peer.host.updated_at = NOW
    return world, peer


Setup = Callable[[World, Peer], None]


def _disable_shared(world: World, peer: Peer) -> None:
    peer.host.disable_shared = True


def _no_piece_for_long(world: World, peer: Peer) -> None:
    peer.piece_updated_at = NOW - 51


def _idle(world: World, peer: Peer) -> None:
    peer.updated_at = peer.piece_updated_at = NOW - 101


def _silent_host(world: World, peer: Peer) -> None:
    peer.host.updated_at = NOW - 201


def _out_of_graph(world: World, peer: Peer) -> None:
    world.task.graph.delete_vertex(peer.id)


def _crowded(world: World, peer: Peer) -> None:
    for i in range(3):
        world.peer(f"other{i}", PeerState.SUCCEEDED)


def _nothing(world: World, peer: Peer) -> None:
    pass


@pytest.mark.parametrize(
    ("state", "setup", "verdict"),
    [
        (PeerState.LEAVE, _nothing, PeerVerdict.DELETE),
        (PeerState.SUCCEEDED, _disable_shared, PeerVerdict.LEAVE),
        (PeerState.RUNNING, _no_piece_for_long, PeerVerdict.LEAVE),
        (PeerState.BACK_TO_SOURCE, _no_piece_for_long, PeerVerdict.LEAVE),
        (PeerState.SUCCEEDED, _no_piece_for_long, PeerVerdict.KEEP),  # done: no pieces due
        (PeerState.SUCCEEDED, _idle, PeerVerdict.LEAVE),
        (PeerState.RUNNING, _silent_host, PeerVerdict.LEAVE),
        (PeerState.FAILED, _nothing, PeerVerdict.LEAVE),
        (PeerState.SUCCEEDED, _out_of_graph, PeerVerdict.DELETE),
        (PeerState.SUCCEEDED, _crowded, PeerVerdict.DELETE),
        (PeerState.RUNNING, _crowded, PeerVerdict.KEEP),  # only finished peers go
        (PeerState.RUNNING, _nothing, PeerVerdict.KEEP),
        (PeerState.SUCCEEDED, _nothing, PeerVerdict.KEEP),
    ],
)
def test_peer_rules(state: PeerState, setup: Setup, verdict: PeerVerdict) -> None:
    world, peer = fresh(state)
    setup(world, peer)
    assert peer_verdict(peer, NOW, CONFIG)[0] is verdict


def test_crowded_task_keeps_finished_peers_that_serve() -> None:
    world, peer = fresh(PeerState.SUCCEEDED)
    _crowded(world, peer)
    world.link(peer, world.child)
    assert peer_verdict(peer, NOW, CONFIG)[0] is PeerVerdict.KEEP


def test_task_rule() -> None:
    task = make_task()
    assert task_is_garbage(task)
    world, _ = fresh()
    assert not task_is_garbage(world.task)


@pytest.mark.parametrize(
    ("interval", "silent", "garbage"),
    [(30.0, 60.0, False), (30.0, 61.0, True), (0.0, 199.0, False), (0.0, 201.0, True)],
)
def test_host_rule(interval: float, silent: float, garbage: bool) -> None:
    _, peer = fresh()
    host = peer.host
    host.announce_interval_s = interval
    host.updated_at = NOW - silent
    assert host_is_garbage(host, NOW, CONFIG) is garbage


# Applied by the service ---------------------------------------------------------------


def test_failed_peer_leaves_then_goes_and_its_children_get_others() -> None:
    h = Harness(gc=CONFIG)
    h.started_seed(tx_bps=1e9)
    h.running("a")
    child = h.running("child")
    assert parents_of(child[-1]) == ["a"]
    h.service.resources.peers["a"].state = PeerState.FAILED
    assert h.service.gc_peers() == 0  # first round: Leave
    assert h.service.resources.peers["a"].state is PeerState.LEAVE
    assert parents_of(child[-1]) == ["seed-1"]
    assert h.service.gc_peers() == 1  # next round: gone
    assert "a" not in h.service.resources.peers
    h.check_invariants()


def test_idle_peers_expire_with_the_clock() -> None:
    h = Harness(gc=CONFIG)
    a = h.host("a", interval_s=1000)
    h.register(a, "p1")
    h.service.back_to_source_started("p1")
    h.service.peer_finished("p1", 40, 10, from_source=True)
    h.clock.advance(99)
    h.service.announce_host(h.hosts()[a.id].info, 1000)
    h.service.gc_peers()
    assert h.service.resources.peers["p1"].state is PeerState.SUCCEEDED
    h.clock.advance(2)
    h.service.gc_peers()
    h.service.gc_peers()
    assert "p1" not in h.service.resources.peers
    assert TASK not in h.service.resources.tasks


def test_task_without_peers_is_collected() -> None:
    h = Harness(gc=CONFIG)
    task = make_task()
    h.service.resources.tasks[task.id] = task
    assert h.service.gc_tasks() == 1
    assert task.id not in h.service.resources.tasks


def test_silent_host_leaves_with_its_peers() -> None:
    h = Harness(gc=CONFIG)
    h.started_seed()
    quiet = h.host("quiet", interval_s=10)
    h.register(quiet, "p1")
    h.clock.advance(15)
    h.service.announce_host(h.hosts()[h.service.resources.peers["seed-1"].host.id].info, 10)
    assert h.service.gc_hosts() == 0
    h.clock.advance(6)
    assert h.service.gc_hosts() == 1
    assert quiet.id not in h.hosts()
    assert "p1" not in h.service.resources.peers
    h.check_invariants()
