"""Composition root of dfdaemon: storage, piece server, gRPC servers, scheduler link."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from pathlib import Path

import grpc

from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2_grpc
from damselfly.common.grpc_helpers import add_health, bind, mark_serving, new_server
from damselfly.common.ratelimit import TokenBucket
from damselfly.core.ids import host_id
from damselfly.core.models import HostInfo, HostType
from damselfly.daemon.config import DaemonConfig
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.piece_fetcher import PieceFetcher
from damselfly.daemon.download.task_manager import TaskManager
from damselfly.daemon.local_api import LocalApi
from damselfly.daemon.rpc_upload import UploadRpc
from damselfly.daemon.scheduler_link import SchedulerLink
from damselfly.daemon.source.http import HttpSource
from damselfly.daemon.storage.gc import GcLimits
from damselfly.daemon.storage.tasks import TaskStore
from damselfly.daemon.upload.piece_server import PieceServer

log = logging.getLogger(__name__)


class DaemonServer:
    """``start()`` binds everything (ports may be 0) and announces the host."""

    def __init__(self, config: DaemonConfig, *, serve_socket: bool = True) -> None:
        self.config = config
        self.serve_socket = serve_socket
        self.store = TaskStore(Path(config.storage.dir))
        self.piece_server = PieceServer(
            self.store,
            config.server.listen_ip,
            config.server.upload_port,
            TokenBucket(config.upload.rate_limit),
        )
        self.store.evicted.append(self._evicted)
        self.fetcher = PieceFetcher()
        self.source = HttpSource(
            config.download.origin_connect_timeout_s,
            retries=config.download.origin_retries,
            backoff_s=config.download.origin_retry_backoff_s,
        )
        self.grpc_port = 0
        self._tcp: grpc.aio.Server | None = None
        self._local: LocalApi | None = None
        self.link: SchedulerLink | None = None
        self.tasks: TaskManager | None = None
        self._gc: asyncio.Task[None] | None = None

    @property
    def seed(self) -> bool:
        return self.config.seed_peer.enable

    def host_info(self) -> HostInfo:
        host = self.config.host
        return HostInfo(
            id=host_id(host.ip, host.hostname, seed=self.seed, port=self.grpc_port),
            type=HostType.SEED if self.seed else HostType.NORMAL,
            hostname=host.hostname,
            ip=host.ip,
            port=self.grpc_port,
            download_port=self.piece_server.port,
            idc=host.idc,
            location=host.location,
            upload_limit=2000 if self.seed else 200,
            max_tx_bandwidth=host.max_tx_bandwidth or self.config.upload.rate_limit * 8,
            max_rx_bandwidth=host.max_rx_bandwidth or self.config.download.total_rate_limit * 8,
            disable_shared=host.disable_shared,
        )

    async def start(self) -> None:
        cfg = self.config
        await self.piece_server.start()
        tcp = new_server()
        self.grpc_port = bind(tcp, f"{cfg.server.listen_ip}:{cfg.server.port}")
        info = self.host_info()
        self.link = SchedulerLink(cfg.scheduler.addresses, info, cfg.scheduler.announce_interval_s)
        ctx = DownloadContext(
            cfg.download,
            info,
            self.store,
            self.fetcher,
            self.source,
            self.link,
            self.piece_server.stats,
            cfg.scheduler.schedule_timeout_s,
            TokenBucket(cfg.download.total_rate_limit),
        )
        self.tasks = TaskManager(ctx)
        dfdaemon_pb2_grpc.add_DfdaemonUploadServicer_to_server(
            UploadRpc(self.store, self.tasks), tcp
        )
        health = add_health(tcp)
        await tcp.start()
        await mark_serving(health, "damselfly.dfdaemon.v1.DfdaemonUpload")
        self._tcp = tcp
        if self.serve_socket:
            await self._start_socket()
        await self.link.start()
        self._gc = asyncio.get_running_loop().create_task(self._collect_forever())
        log.info(
            "dfdaemon %s ready: grpc %s:%d, pieces :%d, seed=%s",
            info.id,
            cfg.server.listen_ip,
            self.grpc_port,
            self.piece_server.port,
            self.seed,
        )
        if cfg.ready_file:
            Path(cfg.ready_file).write_text(json.dumps(self.addresses()))

    async def _start_socket(self) -> None:
        path = Path(self.config.server.socket)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        assert self.tasks is not None
        local = LocalApi(self.store, self.tasks)
        await local.start(path)
        os.chmod(path, 0o660)
        self._local = local

    def addresses(self) -> dict[str, object]:
        ip = self.config.server.listen_ip
        return {
            "grpc": f"{ip}:{self.grpc_port}",
            "upload": f"{ip}:{self.piece_server.port}",
            "socket": self.config.server.socket if self.serve_socket else "",
            "host_id": self.host_info().id,
        }

    def gc_limits(self) -> GcLimits:
        storage = self.config.storage
        disk = shutil.disk_usage(storage.dir)
        return GcLimits(
            ttl_s=storage.task_ttl_s,
            quota_bytes=storage.quota_bytes,
            disk_total=disk.total,
            disk_used=disk.used,
            high_watermark=storage.high_watermark_percent / 100,
            low_watermark=storage.low_watermark_percent / 100,
        )

    def collect_garbage(self) -> list[str]:
        return self.store.collect(self.gc_limits(), time.time())

    def _evicted(self, task_id: str) -> None:
        self.piece_server.forget(task_id)
        log.info("storage GC evicted task %s", task_id[:12])

    async def _collect_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.storage.gc_interval_s)
            try:
                self.collect_garbage()
            except OSError as exc:
                log.warning("storage GC failed: %s", exc)

    async def stop(self) -> None:
        if self._gc is not None:
            self._gc.cancel()
        if self.link is not None:
            await self.link.stop()
        if self.tasks is not None:
            await self.tasks.stop()
        if self._local is not None:
            await self._local.stop()
        if self._tcp is not None:
            await self._tcp.stop(grace=0.5)
        await self.piece_server.stop()
        self.fetcher.close()
        await self.source.close()
        self.store.close()
