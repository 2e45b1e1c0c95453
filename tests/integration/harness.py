"""In-process swarm for integration tests: a real origin, scheduler, seed peer and
daemons, all on 127.0.0.1 with port 0, in one event loop."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from damselfly.core.models import DownloadRequest
from damselfly.daemon.config import DaemonConfig
from damselfly.daemon.download.task_manager import Finished
from damselfly.daemon.server import DaemonServer
from damselfly.demo.origin import Origin
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.server import SchedulerServer

MIB = 1 << 20


def make_file(path: Path, size: int, seed: int = 7) -> str:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Swarm:
    root: Path
    origin: Origin
    scheduler: SchedulerServer | None = None
    seed: DaemonServer | None = None
    peers: list[DaemonServer] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.origin.port}/files/{name}"

    def daemon_config(self, name: str, *, seed: bool = False) -> DaemonConfig:
        addresses = [self.scheduler.address] if self.scheduler else []
        return DaemonConfig.model_validate(
            {
                "seed_peer": {"enable": seed},
                "scheduler": {"addresses": addresses, "schedule_timeout_s": 10},
                "server": {"port": 0, "upload_port": 0, "socket": str(self.root / f"{name}.sock")},
                "storage": {"dir": str(self.root / name)},
            }
        )

    async def add_peer(self, name: str) -> DaemonServer:
        peer = DaemonServer(self.daemon_config(name))
        await peer.start()
        self.peers.append(peer)
        return peer

    async def stop(self) -> None:
        for peer in self.peers:
            await peer.stop()
        if self.seed is not None:
            await self.seed.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.origin.stop()


async def start_swarm(
    root: Path, files: Path, peers: int, *, seed: bool = True, retry_interval_s: float = 0.1
) -> Swarm:
    origin = Origin(files)
    await origin.start()
    swarm = Swarm(root, origin)
    config = SchedulerConfig.model_validate(
        {"server": {"port": 0}, "scheduling": {"retry_interval_s": retry_interval_s}}
    )
    swarm.scheduler = SchedulerServer(config)
    await swarm.scheduler.start()
    if seed:
        swarm.seed = DaemonServer(swarm.daemon_config("seed", seed=True))
        await swarm.seed.start()
    for i in range(peers):
        await swarm.add_peer(f"peer{i + 1}")
    return swarm


async def download(daemon: DaemonServer, request: DownloadRequest) -> Finished:
    assert daemon.tasks is not None
    finished = None
    async for event in daemon.tasks.download(request):
        if isinstance(event, Finished):
            finished = event
    assert finished is not None
    return finished
