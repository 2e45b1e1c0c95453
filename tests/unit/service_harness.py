"""A SchedulerService under a fake clock, hand-fired timers and a recording seed trigger."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from damselfly.common.clock import FakeClock
from damselfly.core.ids import host_id, task_id
from damselfly.core.models import DownloadRequest, HostInfo, PieceInfo, Priority
from damselfly.scheduler.config import GCConfig, SchedulingConfig
from damselfly.scheduler.resource.models import Host, Task
from damselfly.scheduler.responses import ParentsResponse, Response
from damselfly.scheduler.service import SchedulerService
from tests.unit.scheduler_world import host_info

GBIT = 1e9
URL = "https://origin.example.com/big.iso"


def scheduling(**values: float | str) -> SchedulingConfig:
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
    gc: GCConfig = field(default_factory=GCConfig)
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
            gc=self.gc,
        )

    def host(
        self,
        name: str,
        *,
        seed: bool = False,
        upload_limit: int = 200,
        tx_bps: float | None = None,
        rx_bps: float = GBIT,
        interval_s: float = 30.0,
    ) -> HostInfo:
        """Announce a host; seeds have a 10 Gbit/s uplink and peers 1 Gbit/s unless told."""
        info = host_info(
            name,
            seed=seed,
            host_id=host_id("10.0.0.1", name, seed=seed),
            upload_limit=upload_limit,
        )
        tx = tx_bps if tx_bps is not None else (10 * GBIT if seed else GBIT)
        self.service.announce_host(info, interval_s, max_tx_bps=tx, max_rx_bps=rx_bps)
        return info

    def register(
        self,
        host: HostInfo,
        peer_id: str,
        *,
        need_back_to_source: bool = False,
        priority: Priority = Priority.LEVEL6,
        disable_back_to_source: bool = False,
        task: str = TASK,
        finished: tuple[int, ...] = (),
        host_info: HostInfo | None = None,
    ) -> list[Response]:
        download = DownloadRequest(
            URL,
            need_back_to_source=need_back_to_source,
            priority=priority,
            disable_back_to_source=disable_back_to_source,
        )
        got = self.responses.setdefault(peer_id, [])
        self.service.register_peer(
            host.id, task, peer_id, download, got.append, finished=finished, host_info=host_info
        )
        return got

    def started_seed(self, **kwargs: float) -> HostInfo:
        """A seed host whose seed peer is fetching the task from the origin."""
        seed_host = self.host("s", seed=True, **kwargs)  # type: ignore[arg-type]
        self.register(seed_host, "seed-1", need_back_to_source=True)
        self.service.back_to_source_started("seed-1")
        return seed_host

    def running(self, name: str, **kwargs: float) -> list[Response]:
        """A peer on its own host that registered and started."""
        got = self.register(self.host(name, **kwargs), name)  # type: ignore[arg-type]
        self.service.download_started(name)
        return got

    def pieces(self, peer_id: str, numbers: range, parent: str = "", cost_ns: int = 0) -> None:
        self.service.pieces_finished(
            peer_id,
            [PieceInfo(n, n * 4, 4, 0, parent_id=parent, cost_ns=cost_ns) for n in numbers],
        )

    @property
    def task(self) -> Task:
        return self.service.resources.tasks[TASK]

    def hosts(self) -> dict[str, Host]:
        return self.service.resources.hosts

    def metrics_value(self, name: str) -> float:
        return self.service.metrics.registry.get_sample_value(name) or 0.0

    def check_invariants(self) -> None:
        """The DAG is acyclic and upload counters equal the edges out of each host."""
        for task in self.service.resources.tasks.values():
            assert not task.graph.has_cycle()
        for host in self.hosts().values():
            edges = sum(len(p.task.graph.children(p.id)) for p in host.peers.values())
            assert host.concurrent_uploads == edges, host.id
            reserved = sum(
                p.task.edge_rates.get((p.id, c), 0.0)
                for p in host.peers.values()
                for c in p.task.graph.children(p.id)
            )
            assert host.reserved_bps == pytest.approx(reserved), host.id
        for peer in self.service.resources.peers.values():
            task = peer.task
            into = sum(task.edge_rates.get((q, peer.id), 0.0) for q in task.graph.parents(peer.id))
            assert peer.expected_bps == pytest.approx(into), peer.id
            assert (peer.id in task.parent_pool) == peer.may_be_parent(), peer.id
            for parent_id in task.graph.parents(peer.id):
                assert task.peers[parent_id].host.id != peer.host.id


def parents_of(response: Response) -> list[str]:
    assert isinstance(response, ParentsResponse), response
    return [p.peer_id for p in response.parents]
