"""Fetching a task, or its missing pieces, from the origin.

The response is cut into pieces as bytes arrive; each piece is checksummed, written at
its offset and recorded at once, so children can fetch it before the download ends.
When some pieces are already here and the origin supports Range, only the missing runs
are requested.
"""

from __future__ import annotations

from collections.abc import Callable

from damselfly.core.digest import crc32c
from damselfly.core.errors import OriginError, OriginUnreachable
from damselfly.core.models import DownloadRequest, PieceInfo, Traffic
from damselfly.core.pieces import MIN_PIECE_LENGTH, piece_length_for
from damselfly.daemon.source.http import HttpSource, OriginResponse, display_url
from damselfly.daemon.storage.tasks import LocalTask

OnPiece = Callable[[PieceInfo], None]


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs ``(first, last)`` of sorted piece numbers."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


class BackToSource:
    def __init__(
        self,
        source: HttpSource,
        task: LocalTask,
        request: DownloadRequest,
        on_started: Callable[[], None],
        on_piece: OnPiece,
    ) -> None:
        self.source, self.task, self.request = source, task, request
        self.on_started, self.on_piece = on_started, on_piece
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.on_started()

    async def run(self) -> None:
        task = self.task
        missing = (
            [n for n in range(task.piece_count) if n not in task.pieces]
            if task.piece_count >= 0
            else []
        )
        if task.piece_count >= 0 and task.pieces and missing:
            for first, last in _runs(missing):
                start = first * task.piece_length
                end = min((last + 1) * task.piece_length, task.content_length) - 1
                response = await self.source.open(task.url, self.request.headers, start, end)
                self._start()
                await self._consume(response, expected_last=last)
            return
        if task.piece_count >= 0 and not missing:
            return
        response = await self.source.open(task.url, self.request.headers)
        if task.content_length < 0:
            length = response.content_length
            piece_length = self.request.piece_length or (
                piece_length_for(length) if length >= 0 else MIN_PIECE_LENGTH
            )
            task.set_layout(length, piece_length)
        elif 0 <= response.content_length != task.content_length:
            response.close()
            raise OriginError(
                f"origin now serves {response.content_length} bytes for "
                f"{display_url(task.url)}, peers had {task.content_length}; retry the download"
            )
        self._start()
        await self._consume(response, expected_last=None)

    async def _consume(self, response: OriginResponse, expected_last: int | None) -> None:
        task = self.task
        piece_length = task.piece_length
        number = response.range_start // piece_length
        buffer = bytearray(piece_length)
        view = memoryview(buffer)
        filled = received = 0
        try:
            async for chunk in response.chunks():
                data = memoryview(chunk)
                received += len(data)
                pos = 0
                while pos < len(data):
                    take = min(piece_length - filled, len(data) - pos)
                    view[filled : filled + take] = data[pos : pos + take]
                    filled += take
                    pos += take
                    if filled == piece_length:
                        self._emit(number, view, filled)
                        number += 1
                        filled = 0
            if filled:
                self._emit(number, view, filled)
                number += 1
        finally:
            response.close()
        expected = response.content_length
        if expected >= 0 and received != expected:
            raise OriginUnreachable(
                f"origin sent {received} of {expected} bytes for {display_url(task.url)}; "
                "retry the download"
            )
        if task.content_length < 0:
            task.set_layout(received, piece_length)
        if expected_last is not None and number <= expected_last:
            raise OriginUnreachable(f"origin ended the range early for {display_url(task.url)}")

    def _emit(self, number: int, view: memoryview, length: int) -> None:
        task = self.task
        if number in task.pieces:
            return
        if task.piece_count >= 0 and number >= task.piece_count:
            raise OriginError(f"origin sent more bytes than announced for {display_url(task.url)}")
        data = view[:length]
        piece = PieceInfo(
            number, number * task.piece_length, length, crc32c(data), traffic=Traffic.BACK_TO_SOURCE
        )
        task.write_piece(piece, data)
        self.on_piece(piece)
