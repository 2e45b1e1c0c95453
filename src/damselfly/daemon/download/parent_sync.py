"""Following one parent's piece stream (SyncPieces) into the download's planner.

A parent first tells the task's layout (length, piece length), then its pieces as it
gets them. Everything it says is checked against the task: a parent whose layout
differs, or that announces a piece where the layout has none, is dropped. The child
fetches a piece by number and writes it at the announced offset, checked only against
the crc32c the same parent announced, so a piece out of place would go unnoticed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc

from damselfly.api import convert
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2, dfdaemon_pb2_grpc
from damselfly.core.models import ParentInfo, PieceInfo
from damselfly.core.pieces import MIN_PIECE_LENGTH, fits_layout, is_piece_length
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.planner import PiecePlanner
from damselfly.daemon.storage.tasks import LocalTask

log = logging.getLogger(__name__)


async def follow_parent(
    ctx: DownloadContext,
    task: LocalTask,
    planner: PiecePlanner,
    *,
    parent: ParentInfo,
    peer_id: str,
    news: Callable[[], None],
) -> None:
    """Announce the parent's pieces to ``planner`` until its stream ends; ``news`` after
    each message and at the end."""
    chan = ctx.parents.get(f"{parent.host.ip}:{parent.host.port}")
    stub: dfdaemon_pb2_grpc.DfdaemonUploadAsyncStub = dfdaemon_pb2_grpc.DfdaemonUploadStub(chan)
    request = dfdaemon_pb2.SyncPiecesRequest(task_id=task.id, child_peer_id=peer_id)
    try:
        async for message in stub.SyncPieces(request):
            pieces = [convert.piece_from_pb(p) for p in message.receiving_pieces]
            pieces += [convert.piece_from_pb(p) for p in message.pieces]
            if not _agrees(task, planner, message, pieces):
                log.warning("parent %s announced pieces outside the task", parent.peer_id)
                planner.drop_parent(parent.peer_id)
                break
            planner.announce(parent.peer_id, pieces)
            news()
        planner.parent_finished(parent.peer_id)
    except grpc.aio.AioRpcError as exc:
        log.info("parent %s stream ended: %s", parent.peer_id, exc.code().name)
        planner.drop_parent(parent.peer_id)
    news()


def _accept_layout(
    task: LocalTask,
    planner: PiecePlanner,
    message: dfdaemon_pb2.SyncPiecesResponse,
    pieces: list[PieceInfo],
) -> bool:
    """The parent's layout is the task's; the first parent to know it sets it."""
    length, piece_length = message.content_length, message.piece_length
    if length < 0:
        # The parent does not know the length yet; the pieces it has sit on its pieces.
        return not pieces or is_piece_length(piece_length)
    if not is_piece_length(piece_length) and (length > 0 or piece_length < 0):
        return False
    if task.content_length < 0:
        task.set_layout(length, piece_length or MIN_PIECE_LENGTH)
        planner.total = task.piece_count
        return True
    return task.content_length == length and (task.piece_length == piece_length or length == 0)


def _agrees(
    task: LocalTask,
    planner: PiecePlanner,
    message: dfdaemon_pb2.SyncPiecesResponse,
    pieces: list[PieceInfo],
) -> bool:
    """The parent's layout is the task's, and each piece sits where that layout puts it."""
    if not _accept_layout(task, planner, message, pieces):
        return False
    length = task.content_length if message.content_length >= 0 else -1
    return all(
        fits_layout(p.number, p.offset, p.length, message.piece_length, length) for p in pieces
    )
