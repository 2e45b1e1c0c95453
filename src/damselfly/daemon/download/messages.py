"""Scheduler messages the daemon sends outside the piece loop, and the announce of a
task this daemon already holds."""

from __future__ import annotations

import logging

from damselfly.api import convert
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as spb
from damselfly.core.errors import DamselflyError
from damselfly.core.ids import peer_id as new_peer_id
from damselfly.core.models import DownloadRequest, HostType
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.storage.tasks import LocalTask

log = logging.getLogger(__name__)


async def announce_complete(
    ctx: DownloadContext, task: LocalTask, request: DownloadRequest
) -> None:
    """Tell the task's scheduler that this daemon holds the whole task, so it can serve
    as a parent (a local hit after a scheduler restart, or a seed asked again)."""
    if not ctx.schedulers.enabled:
        return
    peer = new_peer_id(ctx.host.ip, ctx.host.hostname, seed=ctx.host.type is HostType.SEED)
    stream = ctx.schedulers.open(task.id, peer)
    download = convert.download_to_pb(request)
    download.output_path = ""
    register = spb.RegisterPeerRequest(
        download=download,
        host=convert.host_to_pb(ctx.host),
        finished_piece_numbers=sorted(task.pieces),
    )
    stream.send(spb.AnnouncePeerRequest(register_peer=register))
    stream.send(finished(task.content_length, task.piece_count))
    try:
        await stream.close()
    except DamselflyError as exc:
        log.info("task %s: could not announce the local copy: %s", task.id[:12], exc)


def finished(content_length: int, piece_count: int) -> spb.AnnouncePeerRequest:
    return spb.AnnouncePeerRequest(
        download_peer_finished=spb.DownloadPeerFinishedRequest(
            content_length=content_length, piece_count=piece_count
        )
    )


def piece_failed(number: int, parent_id: str, reason: str) -> spb.AnnouncePeerRequest:
    return spb.AnnouncePeerRequest(
        download_piece_failed=spb.DownloadPieceFailedRequest(
            piece_number=number, parent_id=parent_id, temporary=True, description=reason
        )
    )


def back_to_source_started() -> spb.AnnouncePeerRequest:
    return spb.AnnouncePeerRequest(
        download_peer_back_to_source_started=spb.DownloadPeerBackToSourceStartedRequest()
    )


def back_to_source_finished(content_length: int, piece_count: int) -> spb.AnnouncePeerRequest:
    return spb.AnnouncePeerRequest(
        download_peer_back_to_source_finished=spb.DownloadPeerBackToSourceFinishedRequest(
            content_length=content_length, piece_count=piece_count
        )
    )


def back_to_source_failed(error: DamselflyError) -> spb.AnnouncePeerRequest:
    return spb.AnnouncePeerRequest(
        download_peer_back_to_source_failed=spb.DownloadPeerBackToSourceFailedRequest(
            description=str(error), code=error.code.value
        )
    )
