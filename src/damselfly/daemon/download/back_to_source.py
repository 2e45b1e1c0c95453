"""Fetching a task, or its missing pieces, from the origin.

The first request asks for the first 4 MiB: its answer tells the length and whether the
origin serves ranges. With ranges, the rest is split into a few contiguous segments
fetched in parallel, each asking for exactly its bytes, so the origin sends every byte
once; without, the first answer is the whole content, read as one stream. Bytes are cut
into pieces as they arrive; each piece is checksummed, written at its offset and
recorded at once, so children can fetch it before the download ends.
On resume only the missing pieces are asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from damselfly.common.ratelimit import TokenBucket, acquire_all
from damselfly.core.errors import OriginError, OriginUnreachable
from damselfly.core.models import DownloadRequest, PieceInfo, Traffic
from damselfly.core.pieces import MIN_PIECE_LENGTH, piece_length_for
from damselfly.daemon.download.buffers import BufferPool
from damselfly.daemon.source.http import HttpSource, OriginResponse, display_url
from damselfly.daemon.storage.inflight import InFlightPiece
from damselfly.daemon.storage.tasks import LocalTask

OnPiece = Callable[[PieceInfo], None]
PROBE_LENGTH = MIN_PIECE_LENGTH


def split_segments(numbers: list[int], parts: int) -> list[tuple[int, int]]:
    """Split sorted piece numbers into at most ``parts`` contiguous ``(first, last)`` runs
    of similar size (runs never span a gap)."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    target = max(1, -(-len(numbers) // max(1, parts)))
    segments: list[tuple[int, int]] = []
    for run in runs:
        for i in range(0, len(run), target):
            chunk = run[i : i + target]
            segments.append((chunk[0], chunk[-1]))
    return segments


class _Cut:
    """One stream's piece buffer and the piece being cut in it, which stays announced
    across the requests that bring its bytes."""

    def __init__(self, buffer: bytearray) -> None:
        self.view = memoryview(buffer)
        self.number = 0
        self.filled = 0
        self.receiving: InFlightPiece | None = None


class BackToSource:
    def __init__(
        self,
        source: HttpSource,
        task: LocalTask,
        request: DownloadRequest,
        *,
        on_started: Callable[[], None],
        on_piece: OnPiece,
        buffers: BufferPool,
        buckets: list[TokenBucket] | None = None,
        concurrency: int = 4,
    ) -> None:
        self.source, self.task, self.request = source, task, request
        self.buffers = buffers
        self.on_started, self.on_piece = on_started, on_piece
        self.buckets = buckets or []
        self.concurrency = concurrency

    async def run(self) -> None:
        task = self.task
        missing = [n for n in range(task.piece_count) if n not in task.pieces]
        if task.piece_count >= 0 and not missing:
            return
        # Started before the origin is asked (as Dragonfly's seed does): the scheduler
        # hands this peer to waiting children at once, and they learn the layout from
        # its piece stream when the origin's answer brings it. A failure is told later.
        self.on_started()
        if task.piece_count < 0:
            await self._fresh()
            return
        segments = split_segments(missing, self.concurrency)
        response = await self._open_segment(*segments[0])
        if not response.ranged:
            await self._consume_all(response, None)
            return
        await self._segments(segments, response)

    async def _segments(self, segments: list[tuple[int, int]], response: OriginResponse) -> None:
        """Every segment at once: the first from ``response``, already open for it, the
        others each on a request of its own."""
        await asyncio.gather(
            self._segment(*segments[0], response=response),
            *(self._segment(first, last) for first, last in segments[1:]),
        )

    async def _fresh(self) -> None:
        task = self.task
        response = await self.source.open(task.url, self.request.headers, 0, PROBE_LENGTH - 1)
        length = response.total_length
        piece_length = self.request.piece_length or (
            piece_length_for(length) if length >= 0 else MIN_PIECE_LENGTH
        )
        task.set_layout(length, piece_length)
        if not response.ranged:
            await self._consume_all(response, None)
            return
        if length < 0:
            await self._unsized(response, piece_length)
            return
        if response.content_length >= min(piece_length, length):
            # The probe's answer holds piece 0 whole: the rest is split among the others.
            segments = [(0, 0), *split_segments(list(range(1, task.piece_count)), self.concurrency)]
        else:
            # It holds the start of piece 0: its segment goes on from where it ends.
            segments = split_segments(list(range(task.piece_count)), self.concurrency)
        await self._segments(segments, response)

    async def _unsized(self, response: OriginResponse, piece_length: int) -> None:
        """A range answered without the content's length (``bytes 0-n/*``): piece 0 from
        it, then the rest as one open-ended range read to its end."""
        task = self.task
        pending = self._unless_waiting(response)
        async with self._cut(piece_length) as cut:
            await self._consume(await self._again(pending, 0, PROBE_LENGTH - 1), 0, cut)
            if task.content_length >= 0:
                return  # the answer ended inside piece 0: that was the whole content
            try:
                rest = await self.source.open(task.url, self.request.headers, piece_length)
            except OriginError as exc:
                if exc.status != 416:
                    raise
                task.set_layout(piece_length, piece_length)  # nothing past piece 0
                return
            await self._consume(rest, None, cut)

    async def _open_segment(self, first: int, last: int, skip: int = 0) -> OriginResponse:
        task = self.task
        start = first * task.piece_length + skip
        end = min((last + 1) * task.piece_length, task.content_length) - 1
        response = await self.source.open(task.url, self.request.headers, start, end)
        if response.total_length >= 0 and response.total_length != task.content_length:
            response.close()
            raise OriginError(
                f"origin now serves {response.total_length} bytes for {display_url(task.url)}, "
                f"this task has {task.content_length}; retry the download"
            )
        return response

    async def _segment(self, first: int, last: int, response: OriginResponse | None = None) -> None:
        """Fetch pieces ``first`` to ``last`` (``response``: a ranged answer already open
        for them). An answer may cover less than was asked (origins that cap a range's
        size): ask again from where it ended, the piece it ended in still announced.
        An answer handed over is asked again if the stream must wait for a buffer (see
        ``_unless_waiting``)."""
        response = self._unless_waiting(response)
        async with self._cut(self.task.piece_length) as cut:
            while True:
                if response is None:
                    response = await self._open_segment(first, last, cut.filled)
                if not response.ranged:
                    response.close()
                    raise OriginError(
                        f"origin stopped serving ranges for {display_url(self.task.url)}"
                    )
                await self._consume(response, last, cut)
                response = None
                if cut.number > last:
                    return
                first = cut.number

    async def _consume_all(self, response: OriginResponse, last: int | None) -> None:
        """One whole-content answer cut into pieces on a buffer of its own (see
        ``_consume``); asked again from byte 0 if it had to wait for the buffer."""
        pending = self._unless_waiting(response)
        async with self._cut(self.task.piece_length) as cut:
            await self._consume(await self._again(pending, 0, None), last, cut)

    def _unless_waiting(self, response: OriginResponse | None) -> OriginResponse | None:
        """``response``, or None after closing it when the stream must wait for a buffer
        (the daemon's budget is spent): an origin may drop an answer nobody reads, so
        it is asked again once the buffer is there."""
        if response is None or self.buffers.ready(self.task.piece_length):
            return response
        response.close()
        return None

    async def _again(
        self, response: OriginResponse | None, start: int, end: int | None
    ) -> OriginResponse:
        if response is not None:
            return response
        return await self.source.open(self.task.url, self.request.headers, start, end)

    @contextlib.asynccontextmanager
    async def _cut(self, piece_length: int) -> AsyncIterator[_Cut]:
        """A stream's buffer from the daemon's pool, given back with its piece ended."""
        buffer = await self.buffers.take(piece_length)
        cut = _Cut(buffer)
        try:
            yield cut
        finally:
            self._end(cut)
            self.buffers.give(buffer)

    async def _consume(self, response: OriginResponse, last: int | None, cut: _Cut) -> None:
        """Cut the response into pieces (stop after piece ``last``), going on with the
        piece ``cut`` holds the start of. Each piece is announced while it arrives, so
        children read it as it lands (cut-through). A ranged answer that ends inside a
        piece leaves it in ``cut`` for the next request: recorded short, a retry would
        skip its hole."""
        task = self.task
        piece_length = task.piece_length
        if cut.filled == 0:
            cut.number = response.range_start // piece_length
        view = cut.view
        received = 0
        try:
            while True:
                count = await response.readinto(view[cut.filled :])
                if count == 0:
                    break
                if cut.receiving is None:
                    # Announced once its bytes come: an answer that ends at a piece's edge
                    # (the probe, a capped range) announces no piece it will not bring.
                    cut.receiving = self._begin(cut.number, view, cut.filled)
                await acquire_all(self.buckets, count)
                received += count
                cut.filled += count
                if cut.receiving is not None:
                    cut.receiving.advance(cut.filled)
                if cut.filled == piece_length:
                    await self._emit(cut.number, view, cut.filled)
                    self._next(cut)
                    if last is not None and cut.number > last:
                        return
            expected = response.content_length
            if expected >= 0 and received != expected:
                raise OriginUnreachable(
                    f"origin sent {received} of {expected} bytes for {display_url(task.url)}; "
                    "retry the download"
                )
            if last is not None and received == 0:
                raise OriginUnreachable(f"origin sent an empty range for {display_url(task.url)}")
            if task.content_length < 0:
                task.set_layout(cut.number * piece_length + cut.filled, piece_length)
            end = cut.number * piece_length + cut.filled
            if cut.filled and (last is None or end == task.content_length):
                await self._emit(cut.number, view, cut.filled)  # the content's last piece
                self._next(cut)
        finally:
            response.close()

    def _begin(self, number: int, view: memoryview, filled: int) -> InFlightPiece | None:
        """Announce piece ``number`` while its bytes arrive in ``view`` (its digest comes
        with the finished piece); only when the content's length, and so the piece's, is
        known."""
        task = self.task
        if task.content_length < 0 or number >= task.piece_count:
            return None
        length = min(task.piece_length, task.content_length - number * task.piece_length)
        info = PieceInfo(
            number,
            number * task.piece_length,
            length,
            0,
            traffic=Traffic.BACK_TO_SOURCE,
            digest_pending=True,
        )
        receiving = task.begin_piece(info, view[:length])
        if receiving is not None and filled:
            receiving.advance(filled)
        return receiving

    def _next(self, cut: _Cut) -> None:
        """The piece in ``cut`` is stored: its buffer takes the next one."""
        self._end(cut)
        cut.number += 1
        cut.filled = 0

    def _end(self, cut: _Cut) -> None:
        """The buffer is about to be reused or dropped: readers of its piece go on from
        the file (the piece is recorded) or stop."""
        if cut.receiving is not None:
            self.task.end_piece(cut.receiving)
            cut.receiving = None

    async def _emit(self, number: int, view: memoryview, length: int) -> None:
        """Digest and store a piece off the event loop (the other ranges keep arriving)."""
        task = self.task
        if number in task.pieces:
            return
        if task.piece_count >= 0 and number >= task.piece_count:
            raise OriginError(f"origin sent more bytes than announced for {display_url(task.url)}")
        unknown = PieceInfo(
            number, number * task.piece_length, length, 0, traffic=Traffic.BACK_TO_SOURCE
        )
        piece = await task.store_piece(unknown, view, verify=False)
        if piece is not None and number in task.pieces:
            self.on_piece(piece)
