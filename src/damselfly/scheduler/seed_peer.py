"""Asks a seed peer to fetch a task from the origin (fire and forget)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from damselfly.api import convert
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2, dfdaemon_pb2_grpc
from damselfly.api.status import carries_code
from damselfly.common.grpc_helpers import channel
from damselfly.core.models import DownloadRequest, HostInfo

log = logging.getLogger(__name__)


StoredCallback = Callable[[str, str, int, int, int], None]


class SeedPeerClient:
    """Streams ``DownloadTask`` to the seed until it ends; reports a failed start, and a
    seed that answered from its own storage (it registers no peer then)."""

    def __init__(
        self, on_failure: Callable[[str, str], None], on_stored: StoredCallback | None = None
    ) -> None:
        self._on_failure = on_failure
        self._on_stored = on_stored
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def trigger(self, seed: HostInfo, task_id: str, download: DownloadRequest) -> None:
        request = DownloadRequest(
            url=download.url,
            digest=download.digest,
            tag=download.tag,
            application=download.application,
            filtered_query_params=download.filtered_query_params,
            headers=dict(download.headers),
            piece_length=download.piece_length,
            priority=download.priority,
            need_back_to_source=True,
        )
        job = asyncio.get_running_loop().create_task(self._run(seed, task_id, request))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

    async def _run(self, seed: HostInfo, task_id: str, download: DownloadRequest) -> None:
        target = f"{seed.ip}:{seed.port}"
        chan = self._channels.get(target)
        if chan is None:
            chan = self._channels[target] = channel(target)
        stub: dfdaemon_pb2_grpc.DfdaemonUploadAsyncStub = dfdaemon_pb2_grpc.DfdaemonUploadStub(chan)
        call = stub.DownloadTask(
            dfdaemon_pb2.DownloadTaskRequest(download=convert.download_to_pb(download))
        )
        layout = (-1, 0, -1)
        try:
            async for message in call:
                kind = message.WhichOneof("response")
                if kind == "started":
                    started = message.started
                    layout = (started.content_length, started.piece_length, started.piece_count)
                elif kind == "finished" and self._on_stored is not None:
                    traffic = message.finished.traffic
                    stored = traffic.local > 0 and traffic.back_to_source == 0
                    if stored and traffic.seed_peer == 0 and traffic.remote_peer == 0:
                        self._on_stored(seed.id, task_id, *layout)
        except grpc.aio.AioRpcError as exc:
            # The seed reports origin failures itself on its peer stream; only an
            # unreachable seed needs handling here.
            if carries_code(exc.details()):
                return
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED):
                log.warning("seed peer %s unreachable: %s", target, exc.details())
                self._on_failure(task_id, f"seed peer {target} is unreachable")

    async def close(self) -> None:
        for job in list(self._tasks):
            job.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for chan in self._channels.values():
            await chan.close(None)
