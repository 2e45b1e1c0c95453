"""Composition root of the scheduler: builds the service, its gRPC server, the periodic
jobs (pushed parents, garbage collection) and the metrics endpoint."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from damselfly.common.clock import SystemClock
from damselfly.common.grpclib_server import GrpclibServer
from damselfly.core.models import DownloadRequest, HostInfo
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.metrics import SchedulerMetrics
from damselfly.scheduler.responses import TimerHandle
from damselfly.scheduler.rpc import SchedulerRpc
from damselfly.scheduler.seed_peer import SeedPeerClient
from damselfly.scheduler.service import SchedulerService

log = logging.getLogger(__name__)

VERSION = "0.1.0"
HEAP_FREEZE_INTERVAL_S = 0.25
SLICE_PEERS = 64
SLICE_GAP_S = 0.002


class LoopTimers:
    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


class Periodic:
    """Runs ``job`` every ``interval_s`` on the loop (no overlap: jobs are synchronous)."""

    def __init__(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        self.name, self.interval_s, self.job = name, interval_s, job
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.interval_s, self._run)

    def _run(self) -> None:
        try:
            self.job()
        except Exception:
            log.exception("periodic job %s failed", self.name)
        self.start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def slice_gap_s(peer_count: int, within_s: float) -> float:
    """Time between two slices of a pass over ``peer_count`` peers: ``SLICE_GAP_S``, or
    less when the pass would not otherwise end within ``within_s``."""
    slices = -(-peer_count // SLICE_PEERS)
    return min(SLICE_GAP_S, within_s / max(1, slices))


class SlicedOverPeers:
    """Runs ``job(peer_ids)`` over every peer in slices of ``SLICE_PEERS``, one slice
    every ``SLICE_GAP_S``, so a pass over many thousands of peers never holds the loop
    for long and does not crowd out requests while it lasts: back to back, the slices of
    one pass over 15,000 peers took the loop's spare time for a tenth of a second and
    answers that came meanwhile waited 20-30 ms instead of 2 (bench.scheduler). With so
    many peers that the slices would not fit in ``within_s``, they come closer together:
    a pass ends before the next one is due."""

    def __init__(
        self, service: SchedulerService, job: Callable[[list[str]], object], within_s: float
    ) -> None:
        self.service, self.job, self.within_s = service, job, within_s
        self._pending: list[str] = []
        self._next = 0
        self._gap_s = SLICE_GAP_S

    def __call__(self) -> None:
        if self._next < len(self._pending):
            return  # the last pass is still going
        self._pending, self._next = list(self.service.resources.peers), 0
        self._gap_s = slice_gap_s(len(self._pending), self.within_s)
        self._step()

    def _step(self) -> None:
        start = self._next
        self._next = min(start + SLICE_PEERS, len(self._pending))
        try:
            self.job(self._pending[start : self._next])
        except Exception:
            log.exception("a pass over peers failed")
            self._next = len(self._pending)
        if self._next < len(self._pending):
            asyncio.get_running_loop().call_later(self._gap_s, self._step)
        else:
            self._pending, self._next = [], 0


class HeapFreezer:
    """Keeps Python's cycle collector from pausing the loop for long.

    The scheduler holds every host, task and peer for hours; a full collection walks all
    of them (about 0.2 s at 15,000 peers here) and lands in some unlucky request's
    latency. Objects that survived a while are moved to the permanent generation
    (``gc.freeze``) every round, after a collection of the young generations: later
    collections walk only what is new. Frozen objects are still freed by reference
    counting when forgotten (the model drops its references, it keeps no cycles); a full
    unfrozen collection every ``full_every`` rounds (10 minutes) reclaims any cycle that
    got frozen anyway, at the cost of one long pause then.
    """

    def __init__(self, full_every: int = 2400) -> None:
        self.full_every = full_every
        self.rounds = 0

    def __call__(self) -> None:
        self.rounds += 1
        if self.rounds % self.full_every == 0:
            gc.unfreeze()
            gc.collect()
        else:
            gc.collect(1)  # the young generations: cycles mostly die young
        gc.freeze()


class SchedulerServer:
    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self.metrics = SchedulerMetrics()
        self.metrics.version.labels(VERSION).set(1)
        self.seeds = SeedPeerClient(on_failure=self._seed_failed, on_stored=self._seed_stored)
        self.service = SchedulerService(
            config.scheduling,
            SystemClock(),
            LoopTimers(),
            self._trigger_seed,
            gc=config.gc,
            metrics=self.metrics,
        )
        gc = config.gc
        self.jobs = [
            self._pass_over_peers("peer gc", gc.peer_gc_interval_s, self.service.gc_peers),
            Periodic("task gc", gc.task_gc_interval_s, self.service.gc_tasks),
            Periodic("host gc", gc.host_gc_interval_s, self.service.gc_hosts),
        ]
        self.jobs.append(Periodic("heap", HEAP_FREEZE_INTERVAL_S, HeapFreezer()))
        if config.scheduling.push_interval_s > 0:
            self.jobs.append(
                self._pass_over_peers(
                    "parents", config.scheduling.push_interval_s, self.service.rebalance
                )
            )
        self._server: GrpclibServer | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.port = 0
        self.metrics_port = 0

    def _pass_over_peers(
        self, name: str, interval_s: float, job: Callable[[list[str]], object]
    ) -> Periodic:
        """``job`` over every peer each ``interval_s``, in slices spread over at most
        half the interval."""
        return Periodic(name, interval_s, SlicedOverPeers(self.service, job, interval_s / 2))

    def _trigger_seed(self, seed: HostInfo, task_id: str, download: DownloadRequest) -> None:
        self.seeds.trigger(seed, task_id, download)

    def _seed_failed(self, task_id: str, description: str) -> None:
        self.service.seed_trigger_failed(task_id, description)

    def _seed_stored(
        self, host_id: str, task_id: str, length: int, piece_length: int, count: int
    ) -> None:
        self.service.seed_has_task(host_id, task_id, length, piece_length, count)

    @property
    def address(self) -> str:
        return f"{self.config.server.listen_ip}:{self.port}"

    async def start(self) -> None:
        server = GrpclibServer([SchedulerRpc(self.service)])
        self.port = await server.start(self.config.server.listen_ip, self.config.server.port)
        self._server = server
        gc.freeze()  # what start-up built stays: keep it out of every collection
        for job in self.jobs:
            job.start()
        if self.config.metrics.enable:
            await self._start_metrics()
        log.info("scheduler listening on %s", self.address)
        if self.config.ready_file:
            ready = {"address": self.address, "metrics_port": self.metrics_port}
            Path(self.config.ready_file).write_text(json.dumps(ready))

    async def _start_metrics(self) -> None:
        async def exposition(_: web.Request) -> web.Response:
            return web.Response(body=self.metrics.exposition(), content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", exposition)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.metrics.listen_ip, self.config.metrics.port)
        await site.start()
        self._metrics_runner = runner
        addresses = runner.addresses
        self.metrics_port = int(addresses[0][1]) if addresses else self.config.metrics.port
        log.info("scheduler metrics on %s:%d", self.config.metrics.listen_ip, self.metrics_port)

    async def stop(self) -> None:
        for job in self.jobs:
            job.stop()
        if self._server is not None:
            await self._server.stop(grace_s=1.0)
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        await self.seeds.close()
