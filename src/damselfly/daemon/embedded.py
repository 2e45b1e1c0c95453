"""A daemon core for the length of one dfget call, when no daemon runs on the host.

It listens on nothing and knows no scheduler: the download goes to the origin, through
the same validation, storage and verification as the daemon's.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator
from pathlib import Path

from damselfly.core.models import DownloadRequest, HostInfo, HostType
from damselfly.daemon.config import DownloadConfig
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.piece_fetcher import PieceFetcher
from damselfly.daemon.download.task_manager import Event, TaskManager
from damselfly.daemon.scheduler_link import SchedulerLink
from damselfly.daemon.source.http import HttpSource
from damselfly.daemon.storage.tasks import TaskStore
from damselfly.daemon.upload.piece_server import UploadStats


async def embedded_download(
    request: DownloadRequest, data_dir: Path
) -> AsyncGenerator[Event, None]:
    host = HostInfo("embedded", HostType.NORMAL, socket.gethostname(), "127.0.0.1", 0, 0)
    store = TaskStore(data_dir)
    source = HttpSource()
    fetcher = PieceFetcher()
    link = SchedulerLink([], host, 30.0)
    ctx = DownloadContext(
        DownloadConfig.model_validate({}), host, store, fetcher, source, link, UploadStats()
    )
    manager = TaskManager(ctx)
    try:
        async for event in manager.download(request):
            yield event
    finally:
        await manager.stop()
        fetcher.close()
        await source.close()
        store.close()
