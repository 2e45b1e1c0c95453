"""Composition root of the scheduler: builds the service and its gRPC server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import grpc

from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc
from damselfly.common.clock import SystemClock
from damselfly.common.grpc_helpers import add_health, bind, mark_serving, new_server
from damselfly.core.models import DownloadRequest, HostInfo
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.rpc import SchedulerRpc
from damselfly.scheduler.seed_peer import SeedPeerClient
from damselfly.scheduler.service import SchedulerService, TimerHandle

log = logging.getLogger(__name__)


class LoopTimers:
    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


class SchedulerServer:
    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self.seeds = SeedPeerClient(on_failure=self._seed_failed)
        self.service = SchedulerService(
            config.scheduling, SystemClock(), LoopTimers(), self._trigger_seed
        )
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def _trigger_seed(self, seed: HostInfo, task_id: str, download: DownloadRequest) -> None:
        self.seeds.trigger(seed, task_id, download)

    def _seed_failed(self, task_id: str, description: str) -> None:
        self.service.seed_trigger_failed(task_id, description)

    @property
    def address(self) -> str:
        return f"{self.config.server.listen_ip}:{self.port}"

    async def start(self) -> None:
        server = new_server()
        scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerRpc(self.service), server)
        health = add_health(server)
        self.port = bind(server, f"{self.config.server.listen_ip}:{self.config.server.port}")
        await server.start()
        await mark_serving(health, "damselfly.scheduler.v1.Scheduler")
        self._server = server
        log.info("scheduler listening on %s", self.address)
        if self.config.ready_file:
            Path(self.config.ready_file).write_text(json.dumps({"address": self.address}))

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
        await self.seeds.close()
