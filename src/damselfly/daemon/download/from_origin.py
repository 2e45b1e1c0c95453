"""A conductor's way to the origin: fetch, report to the scheduler, verify, finish."""

from __future__ import annotations

import asyncio
import logging

from damselfly.common.ratelimit import TokenBucket
from damselfly.core.digest import Digest, parse_digest
from damselfly.core.errors import (
    BackToSourceDisabled,
    DamselflyError,
    DigestMismatch,
    InternalError,
)
from damselfly.core.ids import oci_blob_digest
from damselfly.core.models import DownloadRequest, PieceInfo
from damselfly.daemon.download.back_to_source import BackToSource
from damselfly.daemon.download.context import DownloadContext
from damselfly.daemon.download.messages import back_to_source_failed, back_to_source_started
from damselfly.daemon.download.reporter import PieceReporter
from damselfly.daemon.scheduler_link import PeerStream
from damselfly.daemon.storage.files import file_digest
from damselfly.daemon.storage.tasks import LocalTask

log = logging.getLogger(__name__)


async def fetch_from_origin(
    ctx: DownloadContext,
    task: LocalTask,
    request: DownloadRequest,
    *,
    buckets: list[TokenBucket],
    stream: PeerStream | None,
    reason: str,
) -> None:
    """Fetch the missing pieces from the origin and finish the task; the scheduler (when
    there is a stream) hears the start, each piece, and a failure."""
    if request.disable_back_to_source:
        raise BackToSourceDisabled(
            f"no peer could provide this content and back-to-source is disabled ({reason})"
        )
    log.info("task %s: back to source (%s)", task.id[:12], reason)
    reporter = PieceReporter(stream) if stream is not None else None

    def started() -> None:
        if stream is not None:
            stream.send(back_to_source_started())

    def on_piece(piece: PieceInfo) -> None:
        if reporter is not None:
            reporter.add(piece)

    fetch = BackToSource(
        ctx.source,
        task,
        request,
        on_started=started,
        on_piece=on_piece,
        buffers=ctx.buffers,
        buckets=buckets,
        concurrency=ctx.config.back_to_source_concurrency,
    )
    try:
        await fetch.run()
        if reporter is not None:
            reporter.flush()
        await verify_and_finish(task, request)
    except DamselflyError as exc:
        if stream is not None:
            stream.send(back_to_source_failed(exc))
        raise


async def verify_and_finish(task: LocalTask, request: DownloadRequest) -> None:
    """Every piece is in: check the whole content's digest when known, then succeed."""
    if task.piece_count < 0 or len(task.pieces) < task.piece_count:
        raise InternalError(f"task {task.id[:12]} ended with missing pieces")
    expected = expected_digest(request)
    if expected is not None:
        actual = await asyncio.to_thread(file_digest, task.path, expected.algorithm)
        if actual != expected.hex:
            raise DigestMismatch(
                f"downloaded content has {expected.algorithm}:{actual} but {expected} was "
                "expected; check --digest, or the origin changed the content"
            )
    await task.succeed(task.content_length)


def expected_digest(request: DownloadRequest) -> Digest | None:
    """The digest the content must have: given by the user, or named by an OCI blob URL."""
    if request.digest:
        return parse_digest(request.digest)
    return oci_blob_digest(request.url)
