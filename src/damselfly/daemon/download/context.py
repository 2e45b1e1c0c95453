"""What a download needs from the daemon, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from damselfly.common.grpc_helpers import ChannelPool
from damselfly.common.ratelimit import TokenBucket
from damselfly.core.models import HostInfo
from damselfly.daemon.config import DownloadConfig
from damselfly.daemon.download.buffers import BufferPool
from damselfly.daemon.download.piece_fetcher import PieceFetcher
from damselfly.daemon.scheduler_link import SchedulerLink
from damselfly.daemon.source.http import HttpSource
from damselfly.daemon.storage.tasks import TaskStore
from damselfly.daemon.upload.piece_server import UploadStats


@dataclass
class DownloadContext:
    config: DownloadConfig
    host: HostInfo
    store: TaskStore
    fetcher: PieceFetcher
    source: HttpSource
    schedulers: SchedulerLink
    upload_stats: UploadStats
    schedule_timeout_s: float = 30.0
    total_rate: TokenBucket = field(default_factory=lambda: TokenBucket(0))
    parents: ChannelPool = field(default_factory=ChannelPool)
    buffers: BufferPool = field(init=False)

    def __post_init__(self) -> None:
        self.buffers = BufferPool(self.config.buffer_budget_mb << 20)
