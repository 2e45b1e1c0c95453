"""DfdaemonUpload over TCP: SyncPieces for children, DownloadTask for schedulers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from damselfly.api import convert
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2 as pb
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2_grpc as pb_grpc
from damselfly.common.grpc_helpers import translate_stream
from damselfly.core.errors import InvalidArgument, NotFound, Unavailable
from damselfly.core.ids import is_task_id
from damselfly.daemon.download.task_manager import Started, TaskManager
from damselfly.daemon.rpc_events import event_to_pb
from damselfly.daemon.storage.inflight import InFlightState
from damselfly.daemon.storage.tasks import TaskState, TaskStore

# How long a parent gathers piece news before sending them to a child (a fraction of
# the 0.34 s a 4 MiB piece takes at 100 Mbit/s).
COALESCE_S = 0.005


class UploadRpc(pb_grpc.DfdaemonUploadServicer):
    def __init__(self, store: TaskStore, tasks: TaskManager) -> None:
        self.store = store
        self.tasks = tasks

    @translate_stream
    async def SyncPieces(
        self, request: pb.SyncPiecesRequest, context: Any
    ) -> AsyncIterator[pb.SyncPiecesResponse]:
        if not is_task_id(request.task_id):
            raise InvalidArgument("SyncPieces needs a well-formed task id")
        task = self.store.get(request.task_id)
        if task is None:
            raise NotFound(f"task {request.task_id[:12]} is not on this peer")
        task.touch()
        sent = started = 0
        while True:
            # Registered before looking: a piece that lands while we yield still wakes us.
            changed = task.changed()
            if task.state is TaskState.FAILED and sent >= len(task.arrival):
                raise Unavailable(f"this parent's download failed: {task.error}")
            finished = task.state is TaskState.SUCCEEDED
            numbers = task.arrival[sent:]
            sent += len(numbers)
            receiving = [
                convert.piece_to_pb(r.info)
                for r in task.starts[started:]
                if r.state is InFlightState.RECEIVING
            ]
            started = len(task.starts)
            if numbers or receiving or finished or sent == 0:
                yield pb.SyncPiecesResponse(
                    content_length=task.content_length,
                    piece_length=task.piece_length,
                    piece_count=task.piece_count,
                    pieces=[convert.piece_to_pb(task.pieces[n]) for n in numbers],
                    finished=finished and sent >= len(task.arrival),
                    receiving_pieces=receiving,
                )
            if finished and sent >= len(task.arrival):
                return
            if sent >= len(task.arrival) and task.state is not TaskState.FAILED:
                await changed
                # Pieces landing close together share a message: a child reading 250
                # pieces a second would otherwise wake its workers for each one.
                await asyncio.sleep(COALESCE_S)

    @translate_stream
    async def DownloadTask(
        self, request: pb.DownloadTaskRequest, context: Any
    ) -> AsyncIterator[pb.DownloadTaskResponse]:
        download = convert.download_from_pb(request.download)
        download.output_path = ""
        task_id = ""
        async for event in self.tasks.download(download):
            if isinstance(event, Started):
                task_id = event.task_id
            yield event_to_pb(event, task_id)
