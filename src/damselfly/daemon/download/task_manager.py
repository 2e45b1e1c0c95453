"""Downloads as users see them: validation, single flight per task, progress, hand-out.

Concurrent requests for one task share one download. A finished task is served from
local storage. The output file appears only complete and verified: it is written to a
temporary name in the output folder and renamed into place.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from damselfly.common.outputs import check_output_path
from damselfly.core.digest import parse_digest
from damselfly.core.errors import (
    DamselflyError,
    DeadlineExceeded,
    DigestMismatch,
    InternalError,
    InvalidArgument,
)
from damselfly.core.ids import DEFAULT_FILTERED_QUERY_PARAMS, task_id
from damselfly.core.models import ByteRange, DownloadRequest, TrafficTotals
from damselfly.core.pieces import pieces_covering, validate_piece_length
from damselfly.daemon.download.conductor import Conductor
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.delivery import Owner, deliver, deliver_range
from damselfly.daemon.download.messages import announce_complete
from damselfly.daemon.source.http import check_headers, check_url
from damselfly.daemon.storage.tasks import LocalTask, TaskState

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Started:
    task_id: str
    content_length: int
    piece_length: int
    piece_count: int


@dataclass(frozen=True)
class Progress:
    completed_bytes: int
    completed_pieces: int
    content_length: int


@dataclass(frozen=True)
class Finished:
    content_length: int
    output_path: str
    traffic: TrafficTotals
    seconds: float


Event = Started | Progress | Finished


def validate(request: DownloadRequest) -> str:
    """Check a request and return its task id; raises InvalidArgument."""
    check_url(request.url)
    check_headers(request.headers)
    if not 0 <= request.timeout_s < math.inf:  # NaN fails this too
        raise InvalidArgument("a download's timeout must be a finite number of seconds >= 0")
    digest = parse_digest(request.digest) if request.digest else None
    if request.piece_length is not None:
        validate_piece_length(request.piece_length)
    if request.output_path:
        check_output_path(Path(request.output_path), overwrite=request.overwrite)
    if request.range is not None and (request.range.start < 0 or request.range.length <= 0):
        raise InvalidArgument("range must start at 0 or later and cover at least one byte")
    if request.range is not None and request.force_hard_link:
        raise InvalidArgument("a ranged download cannot be a hard link; drop --force-hard-link")
    filtered = request.filtered_query_params
    return task_id(
        request.url,
        tag=request.tag,
        application=request.application,
        piece_length=request.piece_length,
        filtered_query_params=DEFAULT_FILTERED_QUERY_PARAMS if filtered is None else filtered,
        digest=digest,
        content_for_calculating_task_id=request.content_for_calculating_task_id,
    )


class TaskManager:
    def __init__(self, ctx: DownloadContext) -> None:
        self.ctx = ctx
        self._running: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def download(
        self, request: DownloadRequest, owner: Owner | None = None
    ) -> AsyncIterator[Event]:
        """The events of one download; the output is written as ``owner`` may (see
        ``delivery.py``) when another user than the daemon's asked."""
        began = time.monotonic()
        tid = validate(request)
        task = self.ctx.store.get(tid)
        local_hit = task is not None and task.is_complete() and task.path.exists()
        if local_hit and task is not None:
            task.touch()
            self._spawn(announce_complete(self.ctx, task, request))
        if not local_hit:
            task = self.ctx.store.open(tid, request.url, request.digest)
            if tid not in self._running:
                job = asyncio.get_running_loop().create_task(self._conduct(task, request))
                self._running[tid] = job
        assert task is not None
        deadline = began + request.timeout_s if request.timeout_s > 0 else None
        async for event in self._follow(task, deadline, request.timeout_s, request.range):
            yield event
        traffic = task.traffic if not local_hit else TrafficTotals(local=task.content_length)
        length = task.content_length
        if request.range is not None:
            # Also when the whole content came before the range was looked at.
            check_range_start(task.content_length, request.range)
            length = min(request.range.length, task.content_length - request.range.start)
        if request.output_path:
            output = Path(request.output_path)
            if request.range is not None:
                start = request.range.start
                await asyncio.to_thread(deliver_range, task.path, start, length, output, owner)
            else:
                await asyncio.to_thread(deliver, task.path, output, request.force_hard_link, owner)
        yield Finished(length, request.output_path, traffic, time.monotonic() - began)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        running = asyncio.get_running_loop().create_task(job)
        self._background.add(running)
        running.add_done_callback(self._background.discard)

    async def _conduct(self, task: LocalTask, request: DownloadRequest) -> None:
        began = time.monotonic()
        try:
            await task.check_restored()
            await Conductor(self.ctx, task, request).run()
            t = task.traffic
            log.info(
                "task %s done in %.2f s: %d bytes from the origin, %d from seeds, %d from peers",
                task.id[:12],
                time.monotonic() - began,
                t.back_to_source,
                t.seed_peer,
                t.remote_peer,
            )
        except DamselflyError as exc:
            log.warning("task %s failed: %s", task.id[:12], exc)
            self._fail(task, exc)
        except Exception as exc:
            log.exception("task %s failed unexpectedly", task.id[:12])
            self._fail(task, InternalError(f"download failed unexpectedly: {exc}"))
        finally:
            self._running.pop(task.id, None)
        if task.state is TaskState.RUNNING:
            self._fail(task, InternalError("download ended without finishing"))

    def _fail(self, task: LocalTask, error: DamselflyError) -> None:
        if task.state is TaskState.SUCCEEDED:
            log.warning("task %s: error after it succeeded, ignored: %s", task.id[:12], error)
            return
        task.fail(error)
        if isinstance(error, DigestMismatch):
            self.ctx.store.delete(task.id)

    async def _follow(
        self,
        task: LocalTask,
        deadline: float | None,
        timeout_s: float,
        wanted: ByteRange | None = None,
    ) -> AsyncIterator[Event]:
        sent_start = False
        last = 0.0
        while True:
            # Registered before looking: a change while we yield still wakes us.
            changed = task.changed()
            if not sent_start and task.content_length >= 0:
                sent_start = True
                yield Started(task.id, task.content_length, task.piece_length, task.piece_count)
            if task.state is TaskState.FAILED:
                raise task.error or InternalError("download failed")
            if task.state is TaskState.SUCCEEDED:
                yield Progress(task.content_length, len(task.pieces), task.content_length)
                return
            if wanted is not None and range_ready(task, wanted):
                return
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL_S:
                last = now
                yield Progress(task.completed_bytes, len(task.pieces), task.content_length)
            wait = None if deadline is None else deadline - now
            if wait is not None and wait <= 0:
                raise DeadlineExceeded(
                    f"download did not finish within {timeout_s:g} s; raise --timeout"
                )
            try:
                await asyncio.wait_for(changed, wait)
            except TimeoutError:
                continue

    async def stop(self) -> None:
        jobs = [*self._running.values(), *self._background]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await self.ctx.parents.close()


def range_ready(task: LocalTask, wanted: ByteRange) -> bool:
    """The pieces holding the wanted bytes are all here (the task may still be running)."""
    if task.content_length < 0 or task.piece_length <= 0:
        return False
    check_range_start(task.content_length, wanted)
    end = min(wanted.start + wanted.length, task.content_length)
    numbers = pieces_covering(wanted.start, end - wanted.start, task.piece_length)
    return all(n in task.pieces for n in numbers)


def check_range_start(content_length: int, wanted: ByteRange) -> None:
    if wanted.start >= content_length:
        raise InvalidArgument(
            f"range starts at byte {wanted.start} but the content has {content_length} bytes; "
            "ask for bytes before its end"
        )
