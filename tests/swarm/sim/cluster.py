"""The simulated cluster: the real SchedulerService, an origin, a seed and N daemons."""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from damselfly.core.errors import DamselflyError
from damselfly.core.ids import task_id
from damselfly.core.models import DownloadRequest, HostInfo, PieceInfo
from damselfly.scheduler.config import SchedulingConfig
from damselfly.scheduler.service import SchedulerService
from tests.swarm.sim.daemon import SimDaemon
from tests.swarm.sim.engine import Engine, SimClock, SimTimers
from tests.swarm.sim.network import Network, SimHost
from tests.swarm.sim.scenario import Fault, Scenario, fluid_bound
from tests.unit.scheduler_world import host_info

URL = "https://origin.example.com/layer.tar"


@dataclass
class Result:
    scenario: Scenario
    completion_s: float
    bound_s: float
    finished: int
    failed: int
    origin_bytes: float
    times: dict[int, float] = field(default_factory=dict)
    pushes: int = 0
    messages_in: int = 0
    messages_out: int = 0
    reschedules: int = 0
    scheduler_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cycle_seen: bool = False
    # For each slowed peer: pieces it served after slowing down until the scheduler
    # judged it bad (None: never judged bad), and new children it got after that.
    slow_pieces_until_bad: dict[int, int | None] = field(default_factory=dict)
    handed_out_after_bad: dict[int, int] = field(default_factory=dict)
    # Times any parent was judged bad by its piece costs.
    bad_flags: int = 0
    events: int = 0
    wall_s: float = 0.0

    @property
    def time_over_bound(self) -> float:
        return self.completion_s / self.bound_s

    @property
    def origin_copies(self) -> float:
        return self.origin_bytes / self.scenario.file_size

    def summary(self) -> dict[str, float | int]:
        return {
            "peers": self.scenario.peers,
            "completion_s": round(self.completion_s, 2),
            "bound_s": round(self.bound_s, 2),
            "time_over_bound": round(self.time_over_bound, 3),
            "origin_copies": round(self.origin_copies, 3),
            "finished": self.finished,
            "failed": self.failed,
            "pushes": self.pushes,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "reschedules": self.reschedules,
            "bad_flags": self.bad_flags,
            "events": self.events,
            "wall_s": round(self.wall_s, 2),
        }


class Cluster:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.engine = Engine()
        self.network = Network(self.engine, scenario.step())
        self.latency = scenario.latency_s
        self.rng = random.Random(scenario.rng_seed)
        self.task_id = task_id(URL)
        self.piece_count = scenario.piece_count
        length = scenario.piece_length
        self.pieces = [
            PieceInfo(n, n * length, min(length, scenario.file_size - n * length), 0)
            for n in range(self.piece_count)
        ]
        add = self.network.add_host
        self.origin = add(SimHost("origin", scenario.origin_up, 0.0))
        self.seed_host = add(SimHost("seed", scenario.seed_up, scenario.seed_down))
        self.seed_info = self._info("seed", seed=True)
        self.peer_hosts = [
            add(SimHost(f"peer{i}", scenario.up_of(i), scenario.down_of(i)))
            for i in range(scenario.peers)
        ]
        self.peer_infos = [self._info(f"peer{i}") for i in range(scenario.peers)]
        self.daemons: dict[str, SimDaemon] = {}
        self.peers: list[SimDaemon] = []
        self.seed: SimDaemon | None = None
        self.messages_in = self.messages_out = self.reschedules = 0
        self.scheduler_errors: list[str] = []
        self.cycle_seen = False
        self._open = scenario.peers
        self._restarts = 0
        self._bad_flags_before_restart = 0
        # peer index -> [pieces served since slowed, pieces served when judged bad]
        self._slowed: dict[int, list[int | None]] = {}
        self._handed_after_bad: dict[int, int] = {}
        self.service = self._new_service()
        self.bound = fluid_bound(scenario)

    # Set-up ----------------------------------------------------------------------

    def _info(self, name: str, *, seed: bool = False) -> HostInfo:
        limit = self.scenario.seed_upload_limit if seed else self.scenario.upload_limit
        return host_info(name, seed=seed, upload_limit=limit)

    def _new_service(self) -> SchedulerService:
        config = SchedulingConfig.model_validate(self.scenario.scheduling)
        service = SchedulerService(
            config,
            SimClock(self.engine),
            SimTimers(self.engine),
            self._trigger_seed,
            rng=random.Random(self.scenario.rng_seed + 7919 * self._restarts),
        )
        self.push_interval = config.push_interval_s
        self._announce(service, self.seed_host, self.seed_info)
        for host, info in zip(self.peer_hosts, self.peer_infos, strict=True):
            if host.alive:
                self._announce(service, host, info)
        return service

    def _announce(self, service: SchedulerService, host: SimHost, info: HostInfo) -> None:
        bits = self.scenario.announce_bandwidth
        service.announce_host(
            info,
            30.0,
            max_tx_bps=host.up * 8 if bits else 0.0,
            max_rx_bps=host.down * 8 if bits else 0.0,
        )

    # Wiring ----------------------------------------------------------------------

    def jitter(self) -> float:
        """How many times its fair time the next piece transfer takes."""
        sigma = self.scenario.jitter
        return math.exp(self.rng.gauss(0.0, sigma)) if sigma > 0 else 1.0

    def to_scheduler(self, daemon: SimDaemon, call: Callable[[], None]) -> None:
        """A message from a daemon reaches the scheduler after the link latency."""
        if daemon.scheduler_gone:
            return  # its stream broke; the daemon does not open another
        self.messages_in += 1

        def deliver() -> None:
            try:
                call()
            except DamselflyError as exc:
                self.scheduler_errors.append(f"{daemon.peer_id}: {exc}")
            if self.scenario.check_graph:
                self._check_graph()
            if self._slowed:
                self._watch_slowed()

        self.engine.after(self.latency, deliver)

    def served_piece(self, parent_id: str) -> None:
        """A daemon finished a piece from ``parent_id`` (to count a slowed parent's)."""
        parent = self.daemons.get(parent_id)
        if parent is not None and parent.index in self._slowed:
            entry = self._slowed[parent.index]
            entry[0] = (entry[0] or 0) + 1

    def _watch_slowed(self) -> None:
        for index, entry in self._slowed.items():
            peer = self.service.resources.peers.get(f"peer-{index}")
            if peer is None:
                continue
            if entry[1] is None and peer.bad_since is not None:
                entry[1] = entry[0]
                self._handed_after_bad[index] = 0

    def handed_out(self, parent_ids: list[str]) -> None:
        """A daemon was given these parents (to count slowed ones given after judged bad)."""
        for parent_id in parent_ids:
            parent = self.daemons.get(parent_id)
            if parent is not None and parent.index in self._handed_after_bad:
                self._handed_after_bad[parent.index] += 1

    def _check_graph(self) -> None:
        for task in self.service.resources.tasks.values():
            if task.graph.has_cycle():
                self.cycle_seen = True

    def _trigger_seed(self, seed: HostInfo, tid: str, download: DownloadRequest) -> None:
        def start() -> None:
            if self.seed is not None and self.seed.live:
                return
            if self.seed is not None and self.seed.state == "done":
                # The seed has it stored: DownloadTask answers from storage at once.
                size, count = self.scenario.file_size, self.piece_count
                length = self.scenario.piece_length
                self.engine.after(
                    self.latency,
                    lambda: self.service.seed_has_task(seed.id, tid, size, length, count),
                )
                return
            request = DownloadRequest(download.url, need_back_to_source=True)
            count = sum(1 for d in self.daemons.values() if d.net_host is self.seed_host)
            daemon = SimDaemon(
                self,
                index=-1,
                net_host=self.seed_host,
                info=self.seed_info,
                peer_id=f"seed-{count}",
                request=request,
            )
            self.seed = daemon
            self.daemons[daemon.peer_id] = daemon
            daemon.start()

        self.engine.after(self.latency, start)

    def on_done(self, daemon: SimDaemon) -> None:
        if daemon.index >= 0:
            self._open -= 1

    # Running ---------------------------------------------------------------------

    def _arrive(self, index: int) -> None:
        request = DownloadRequest(URL)
        daemon = SimDaemon(
            self,
            index=index,
            net_host=self.peer_hosts[index],
            info=self.peer_infos[index],
            peer_id=f"peer-{index}",
            request=request,
        )
        self.daemons[daemon.peer_id] = daemon
        self.peers.append(daemon)
        daemon.start()

    def _tick(self) -> None:
        if self._open > 0:
            self.service.rebalance()
            self.engine.after(self.push_interval, self._tick)

    def _fault(self, fault: Fault) -> None:
        if fault.kind == "restart_scheduler":
            self._restarts += 1
            self._bad_flags_before_restart = self._bad_flags()
            self.service = self._new_service()
            for daemon in list(self.daemons.values()):
                daemon.scheduler_restarted()
            return
        host = self.peer_hosts[fault.peer]
        if fault.kind == "slow":
            self.network.set_upload(host, host.up / fault.factor)
            self._slowed[fault.peer] = [0, None]
        elif fault.kind == "kill":
            victim = self.daemons.get(f"peer-{fault.peer}")
            if victim is not None:
                victim.kill()
            else:
                host.alive = False

    def run(self) -> Result:
        began = time.perf_counter()
        scenario = self.scenario
        for index in range(scenario.peers):
            self.engine.at(scenario.arrival_of(index), partial(self._arrive, index))
        for fault in scenario.faults:
            self.engine.at(fault.at_s, partial(self._fault, fault))
        if self.push_interval > 0:
            self.engine.after(self.push_interval, self._tick)
        # A run allocates millions of short-lived objects next to millions of live ones
        # (daemons, planners, pieces): in a 10,000-peer run, py-spy found well over a
        # third of the time at allocations, in the cycle collector's passes over the live
        # ones. The run's garbage is freed by reference counting (peak memory is the
        # same without the collector), so it stays off while the run goes.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self.engine.run(scenario.time_limit_s, lambda: self._open <= 0)
        finally:
            if collecting:
                gc.enable()
        return self._result(time.perf_counter() - began)

    def _bad_flags(self) -> int:
        value = self.service.metrics.registry.get_sample_value(
            "damselfly_scheduler_bad_parent_total"
        )
        return int(value or 0) + self._bad_flags_before_restart

    def _result(self, wall_s: float) -> Result:
        killed = {f.peer for f in self.scenario.faults if f.kind == "kill"}
        times = {
            d.index: d.finished_at - d.started_at
            for d in self.peers
            if d.finished_at is not None and d.index not in killed
        }
        ends = [d.finished_at for d in self.peers if d.finished_at is not None]
        failed = [d for d in self.peers if d.index not in killed and d.finished_at is None]
        return Result(
            scenario=self.scenario,
            completion_s=max(ends) if ends else float("inf"),
            bound_s=self.bound,
            finished=len(times),
            failed=len(failed),
            origin_bytes=self.network.bytes_sent(self.origin),
            times=times,
            pushes=self.service.dispatch.pushes,
            messages_in=self.messages_in,
            messages_out=self.messages_out,
            reschedules=self.reschedules,
            scheduler_errors=self.scheduler_errors,
            failures=[f"{d.peer_id}: {d.failure or d.state}" for d in failed],
            cycle_seen=self.cycle_seen,
            slow_pieces_until_bad={i: e[1] for i, e in self._slowed.items()},
            handed_out_after_bad=self._handed_after_bad,
            bad_flags=self._bad_flags(),
            events=self.engine.events,
            wall_s=wall_s,
        )
