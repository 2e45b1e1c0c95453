"""Batches finished pieces into one scheduler message (grpcio moves only a few thousand
messages a second, so one message per piece would cap the swarm)."""

from __future__ import annotations

import asyncio

from damselfly.api import convert
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as spb
from damselfly.core.models import PieceInfo
from damselfly.daemon.scheduler_link import PeerStream

BATCH_PIECES = 16
BATCH_DELAY_S = 0.2


class PieceReporter:
    def __init__(self, stream: PeerStream) -> None:
        self.stream = stream
        self._pending: list[PieceInfo] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, piece: PieceInfo) -> None:
        self._pending.append(piece)
        if len(self._pending) >= BATCH_PIECES:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_DELAY_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            pieces = [convert.piece_to_pb(p) for p in self._pending]
            self._pending = []
            self.stream.send(
                spb.AnnouncePeerRequest(
                    download_pieces_finished=spb.DownloadPiecesFinishedRequest(pieces=pieces)
                )
            )
