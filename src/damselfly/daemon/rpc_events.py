"""Download events -> DownloadTaskResponse messages (the seed-trigger stream of DfdaemonUpload)."""

from __future__ import annotations

from damselfly.api import convert
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2 as pb
from damselfly.daemon.download.task_manager import Event, Progress, Started


def event_to_pb(event: Event, task_id: str) -> pb.DownloadTaskResponse:
    if isinstance(event, Started):
        return pb.DownloadTaskResponse(
            task_id=task_id,
            started=pb.DownloadStarted(
                content_length=event.content_length,
                piece_length=event.piece_length,
                piece_count=event.piece_count,
            ),
        )
    if isinstance(event, Progress):
        return pb.DownloadTaskResponse(
            task_id=task_id,
            progress=pb.DownloadProgress(
                completed_bytes=event.completed_bytes,
                completed_pieces=event.completed_pieces,
                content_length=event.content_length,
            ),
        )
    return pb.DownloadTaskResponse(
        task_id=task_id,
        finished=pb.DownloadFinished(
            content_length=event.content_length,
            output_path=event.output_path,
            traffic=convert.traffic_to_pb(event.traffic),
            seconds=event.seconds,
        ),
    )
