"""One download of one task by this daemon: scheduler stream, parents, pieces, origin.

The conductor registers with the scheduler, follows each candidate parent's SyncPieces
stream, fetches pieces in parallel (crc32c-checked on the buffer before they touch the
content file), reports finished pieces in batches, reschedules when its parents cannot
finish the task, and goes back to source when told to or when no scheduler answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from damselfly.api import convert
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as spb
from damselfly.common.ratelimit import TokenBucket, acquire_all
from damselfly.common.waiters import wake_one
from damselfly.core.errors import Code, DamselflyError, InternalError, Unavailable, error_for
from damselfly.core.ids import peer_id as new_peer_id
from damselfly.core.models import DownloadRequest, HostType, ParentInfo, PieceInfo, Traffic
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.from_origin import fetch_from_origin, verify_and_finish
from damselfly.daemon.download.messages import back_to_source_finished
from damselfly.daemon.download.messages import finished as _finished
from damselfly.daemon.download.messages import piece_failed as _piece_failed
from damselfly.daemon.download.parent_sync import follow_parent
from damselfly.daemon.download.piece_fetcher import PieceFetchError
from damselfly.daemon.download.planner import PiecePlanner
from damselfly.daemon.download.reporter import PieceReporter
from damselfly.daemon.scheduler_link import PeerStream
from damselfly.daemon.storage.inflight import Changes, InFlightPiece
from damselfly.daemon.storage.tasks import LocalTask

log = logging.getLogger(__name__)


class Conductor:
    def __init__(self, ctx: DownloadContext, task: LocalTask, request: DownloadRequest) -> None:
        self.ctx, self.task, self.request = ctx, task, request
        self.peer_id = new_peer_id(
            ctx.host.ip, ctx.host.hostname, seed=ctx.host.type is HostType.SEED
        )
        self.planner = PiecePlanner(set(task.pieces))
        if task.piece_count >= 0:
            self.planner.total = task.piece_count
        self.parents: dict[str, ParentInfo] = {}
        # The conductor's loop waits on _wake; idle workers queue in _idle and are woken
        # one at a time (a worker that finds a piece wakes the next): news of one piece
        # does not wake all eight to find nothing.
        self._wake = asyncio.Event()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._need_source: str | None = None
        self._empty = False
        self._error: DamselflyError | None = None
        self._answered = asyncio.Event()
        self._rescheduling = False
        self._scheduler_gone = False
        self._done = False
        self._jobs: set[asyncio.Task[None]] = set()
        self._announced = Changes()
        self._reader: asyncio.Task[None] | None = None
        task_rate = request.rate_limit or ctx.config.per_task_rate_limit
        self.buckets = [b for b in (ctx.total_rate, TokenBucket(task_rate)) if not b.unlimited]

    # Entry -------------------------------------------------------------------

    async def run(self) -> None:
        if not self.ctx.schedulers.enabled:
            await self._back_to_source(None, "no scheduler is configured")
            return
        stream = self.ctx.schedulers.open(self.task.id, self.peer_id)
        try:
            await self._with_scheduler(stream)
        finally:
            await self._cleanup()
            await stream.close()
            if self._reader is not None:
                self._reader.cancel()

    async def _with_scheduler(self, stream: PeerStream) -> None:
        download = convert.download_to_pb(self.request)
        download.output_path = ""
        register = spb.RegisterPeerRequest(
            download=download,
            host=convert.host_to_pb(self.ctx.host),
            finished_piece_numbers=sorted(self.task.pieces),
        )
        stream.send(spb.AnnouncePeerRequest(register_peer=register))
        # Not one of the jobs: cancelling a read would cancel the whole stream.
        reader = asyncio.get_running_loop().create_task(self._read_scheduler(stream))
        self._reader = reader
        try:
            await asyncio.wait_for(self._answered.wait(), self.ctx.schedule_timeout_s)
        except TimeoutError:
            await self._back_to_source(stream, "the scheduler did not answer in time")
            return
        if self._error is not None and self._error.code is Code.UNAVAILABLE:
            await self._back_to_source(None, str(self._error))
            return
        reporter = PieceReporter(stream)
        try:
            await self._p2p(stream, reporter)
        finally:
            reporter.flush()
        if self._empty:
            self.task.set_layout(0, self.task.piece_length or 1)
            await self.task.succeed(0)
            stream.send(_finished(0, 0))
            return
        if self._need_source is not None:
            await self._cleanup()
            await self._back_to_source(stream, self._need_source)
            return
        await verify_and_finish(self.task, self.request)
        self._done = True
        stream.send(_finished(self.task.content_length, self.task.piece_count))

    # Scheduler stream ----------------------------------------------------------

    async def _read_scheduler(self, stream: PeerStream) -> None:
        try:
            async for response in stream.responses():
                self._on_response(response, stream)
            if self._answered.is_set() and not self._done:
                log.warning("task %s: the scheduler ended the stream", self.task.id[:12])
                self._scheduler_gone = True
                self.ctx.schedulers.lost()
        except DamselflyError as exc:
            if self._answered.is_set() and exc.code is Code.UNAVAILABLE:
                # The scheduler went away mid-download (a restart, a crash): keep the
                # parents we have; if they cannot finish, fetch the rest from the origin.
                log.warning("task %s: scheduler lost: %s", self.task.id[:12], exc)
                self._scheduler_gone = True
                self.ctx.schedulers.lost()
            elif not self.planner.complete() and self._need_source is None:
                self._error = Unavailable(str(exc)) if exc.code is Code.UNAVAILABLE else exc
        self._answered.set()
        self._news()

    def _on_response(self, response: spb.AnnouncePeerResponse, stream: PeerStream) -> None:
        kind = response.WhichOneof("response")
        first = not self._answered.is_set()
        self._answered.set()
        if kind == "normal_task":
            self._rescheduling = False
            log.info(
                "task %s: %d candidate parents",
                self.task.id[:12],
                len(response.normal_task.candidate_parents),
            )
            for parent_pb in response.normal_task.candidate_parents:
                parent = convert.parent_from_pb(parent_pb)
                if self.planner.add_parent(parent.peer_id):
                    self.parents[parent.peer_id] = parent
                    self._spawn(
                        follow_parent(
                            self.ctx,
                            self.task,
                            self.planner,
                            parent=parent,
                            peer_id=self.peer_id,
                            news=self._news,
                        )
                    )
            if first:
                stream.send(
                    spb.AnnouncePeerRequest(download_peer_started=spb.DownloadPeerStartedRequest())
                )
        elif kind == "need_back_to_source":
            self._need_source = response.need_back_to_source.description or "scheduler said so"
        elif kind == "empty_task":
            self._empty = True
        elif kind == "failed":
            code = response.failed.code
            self._error = error_for(
                Code(code) if code in {c.value for c in Code} else Code.INTERNAL,
                response.failed.description,
            )
        self._news()

    # Parents -------------------------------------------------------------------

    async def _digest_of(self, number: int, parent_id: str) -> PieceInfo:
        """Piece ``number`` as its parent announces it once finished: the bytes came while
        the parent still fetched them from the origin, before their crc32c was known."""
        while True:
            changed = self._announced.next()
            piece = self.planner.announced(parent_id, number)
            if piece is not None and not piece.digest_pending:
                return piece
            if piece is None:  # the parent was dropped (its download failed)
                raise PieceFetchError(f"parent {parent_id} left before piece {number} was done")
            await changed

    # Pieces --------------------------------------------------------------------

    async def _p2p(self, stream: PeerStream, reporter: PieceReporter) -> None:
        workers = self._worker_count()
        for _ in range(workers):
            self._spawn(self._worker(stream, reporter))
        while True:
            if self._error is not None:
                raise self._error
            if self.planner.complete() or self._empty or self._need_source is not None:
                return
            if self._scheduler_gone and (not self.parents or self.planner.stalled()):
                self._need_source = "the scheduler is gone and the parents cannot finish"
                return
            if self.parents and self.planner.stalled() and not self._rescheduling:
                self._rescheduling = True
                blocked = list(self.planner.dropped)
                log.info("task %s: parents cannot finish, rescheduling", self.task.id[:12])
                stream.send(
                    spb.AnnouncePeerRequest(
                        reschedule_peer=spb.ReschedulePeerRequest(
                            blocked_parent_ids=blocked, description="parents cannot finish"
                        )
                    )
                )
            self._wake.clear()
            await self._wake.wait()

    def _worker_count(self) -> int:
        length = max(self.task.piece_length, 4 << 20)
        budget = self.ctx.config.buffer_budget_mb << 20
        return max(1, min(self.ctx.config.concurrent_pieces, budget // length))

    async def _worker(self, stream: PeerStream, reporter: PieceReporter) -> None:
        buffers = self.ctx.buffers
        while not self.planner.complete():
            # The buffer first (it may wait for other downloads to give one back), then
            # the piece, so the pick is fresh; an idle worker holds no buffer.
            buffer = await buffers.take(self.task.piece_length)
            try:
                pick = self.planner.next(time.monotonic())
                if pick is not None:
                    self._kick()
                    await self._receive(pick, memoryview(buffer), stream, reporter)
            finally:
                buffers.give(buffer)
            if pick is None:
                waiter = asyncio.get_running_loop().create_future()
                self._idle.append(waiter)
                await waiter
                continue
            self._news()

    async def _receive(
        self,
        pick: tuple[PieceInfo, str],
        buffer: memoryview,
        stream: PeerStream,
        reporter: PieceReporter,
    ) -> None:
        piece, parent_id = pick
        parent = self.parents[parent_id]
        view = buffer[: piece.length]
        self.planner.started(piece.number, parent_id, time.monotonic())
        await acquire_all(self.buckets, piece.length)
        # Children may read the piece while it arrives (cut-through).
        receiving = self.task.begin_piece(piece, view)
        try:
            await self._fetch_piece(
                piece, parent, view, receiving=receiving, stream=stream, reporter=reporter
            )
        finally:
            if receiving is not None:
                self.task.end_piece(receiving)

    async def _fetch_piece(
        self,
        piece: PieceInfo,
        parent: ParentInfo,
        view: memoryview,
        *,
        receiving: InFlightPiece | None,
        stream: PeerStream,
        reporter: PieceReporter,
    ) -> None:
        parent_id = parent.peer_id
        started = time.perf_counter_ns()
        try:
            await asyncio.wait_for(
                self.ctx.fetcher.fetch(
                    (parent.host.ip, parent.host.download_port),
                    self.task.id,
                    piece.number,
                    piece.length,
                    view,
                    progress=receiving.advance if receiving is not None else None,
                ),
                self.ctx.config.piece_timeout_s,
            )
            if piece.digest_pending:
                piece = await asyncio.wait_for(
                    self._digest_of(piece.number, parent_id), self.ctx.config.piece_timeout_s
                )
            if self.planner.is_done(piece.number):
                # An endgame duplicate that lost the race: the piece is already written.
                self.planner.finished(
                    piece.number, parent_id, (time.perf_counter_ns() - started) / 1e9
                )
                return
            done = PieceInfo(
                piece.number,
                piece.offset,
                piece.length,
                piece.crc32c,
                parent_id=parent_id,
                traffic=Traffic.SEED_PEER
                if parent.host.type is HostType.SEED
                else Traffic.REMOTE_PEER,
                cost_ns=time.perf_counter_ns() - started,
            )
            if await self.task.store_piece(done, view) is None:
                raise PieceFetchError(f"piece {piece.number} failed its crc32c check")
        except (TimeoutError, PieceFetchError) as exc:
            reason = str(exc) or "timed out"
            log.warning("piece %d from %s: %s", piece.number, parent_id, reason)
            self.planner.failed(piece.number, parent_id)
            stream.send(_piece_failed(piece.number, parent_id, reason))
            return
        self.planner.finished(piece.number, parent_id, done.cost_ns / 1e9)
        reporter.add(done)

    # Origin --------------------------------------------------------------------

    async def _back_to_source(self, stream: PeerStream | None, reason: str) -> None:
        await fetch_from_origin(
            self.ctx, self.task, self.request, buckets=self.buckets, stream=stream, reason=reason
        )
        self._done = True
        if stream is not None:
            stream.send(back_to_source_finished(self.task.content_length, self.task.piece_count))

    # Housekeeping --------------------------------------------------------------

    def _news(self) -> None:
        """Something changed: the conductor looks again, and so do one idle worker and
        every worker waiting for a piece's digest."""
        self._wake.set()
        self._kick()
        self._announced.fire()

    def _kick(self) -> None:
        wake_one(self._idle, newest=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        job = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(job)
        job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Task[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            error = job.exception()
            log.error("task %s: a download job failed: %r", self.task.id[:12], error)
            if self._error is None:
                # Our own errors say what to do (no room on disk, say): keep their words.
                self._error = (
                    error
                    if isinstance(error, DamselflyError)
                    else InternalError(f"download job failed: {error}")
                )
            self._news()

    async def _cleanup(self) -> None:
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
