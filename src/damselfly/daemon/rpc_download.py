"""DfdaemonDownload over the unix socket: the local CLIs' API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from damselfly.api import convert
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2 as pb
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2_grpc as pb_grpc
from damselfly.common.grpc_helpers import translate_stream, translate_unary
from damselfly.core.errors import NotFound
from damselfly.daemon.download.task_manager import Started, TaskManager, validate
from damselfly.daemon.rpc_events import event_to_pb
from damselfly.daemon.storage.tasks import TaskStore


class DownloadRpc(pb_grpc.DfdaemonDownloadServicer):
    def __init__(self, store: TaskStore, tasks: TaskManager) -> None:
        self.store = store
        self.tasks = tasks

    @translate_stream
    async def DownloadTask(
        self, request: pb.DownloadTaskRequest, context: Any
    ) -> AsyncIterator[pb.DownloadTaskResponse]:
        download = convert.download_from_pb(request.download)
        task_id = validate(download)
        async for event in self.tasks.download(download):
            if isinstance(event, Started):
                task_id = event.task_id
            yield event_to_pb(event, task_id)

    @translate_unary
    async def StatTask(self, request: pb.StatTaskRequest, context: Any) -> pb.StatTaskResponse:
        task = self.store.get(request.task_id)
        if task is None:
            raise NotFound(f"task {request.task_id} is not on this daemon")
        return pb.StatTaskResponse(
            task_id=task.id,
            state=task.state.value,
            content_length=task.content_length,
            piece_count=task.piece_count,
            finished_pieces=len(task.pieces),
        )
