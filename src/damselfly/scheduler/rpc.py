"""gRPC adapter of the scheduler: protobuf in, service calls, protobuf out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from damselfly.api import convert
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from damselfly.common.grpc_helpers import abort_with, translate_unary
from damselfly.core.errors import Code, DamselflyError, InternalError, InvalidArgument
from damselfly.core.ids import is_task_id
from damselfly.scheduler.service import (
    BackToSourceResponse,
    EmptyTaskResponse,
    ParentsResponse,
    Response,
    SchedulerService,
)

log = logging.getLogger(__name__)


def response_to_pb(response: Response) -> pb.AnnouncePeerResponse:
    if isinstance(response, ParentsResponse):
        parents = [convert.parent_to_pb(p) for p in response.parents]
        return pb.AnnouncePeerResponse(normal_task=pb.NormalTaskResponse(candidate_parents=parents))
    if isinstance(response, BackToSourceResponse):
        return pb.AnnouncePeerResponse(
            need_back_to_source=pb.NeedBackToSourceResponse(description=response.description)
        )
    if isinstance(response, EmptyTaskResponse):
        return pb.AnnouncePeerResponse(empty_task=pb.EmptyTaskResponse())
    return pb.AnnouncePeerResponse(
        failed=pb.FailedResponse(code=response.code.value, description=response.description)
    )


def _code(text: str) -> Code:
    try:
        return Code(text)
    except ValueError:
        return Code.INTERNAL


class SchedulerRpc(pb_grpc.SchedulerServicer):
    def __init__(self, service: SchedulerService) -> None:
        self.service = service

    @translate_unary
    async def AnnounceHost(
        self, request: pb.AnnounceHostRequest, context: Any
    ) -> pb.AnnounceHostResponse:
        if not request.host.id or not request.host.ip or request.host.download_port <= 0:
            raise InvalidArgument("host announce needs an id, an ip and a download port")
        self.service.announce_host(convert.host_from_pb(request.host), request.interval_seconds)
        return pb.AnnounceHostResponse()

    @translate_unary
    async def LeaveHost(self, request: pb.LeaveHostRequest, context: Any) -> pb.LeaveHostResponse:
        self.service.leave_host(request.host_id)
        return pb.LeaveHostResponse()

    @translate_unary
    async def StatTask(self, request: pb.StatTaskRequest, context: Any) -> pb.StatTaskResponse:
        task = self.service.stat_task(request.task_id)
        return pb.StatTaskResponse(
            task_id=task.id,
            state=task.state.value,
            content_length=task.content_length,
            piece_count=task.piece_count,
            peer_count=len(task.peers),
        )

    async def AnnouncePeer(
        self,
        request_iterator: AsyncIterator[pb.AnnouncePeerRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.AnnouncePeerResponse]:
        outbox: asyncio.Queue[pb.AnnouncePeerResponse | None] = asyncio.Queue()
        peer_ids: set[str] = set()

        def respond(response: Response) -> None:
            outbox.put_nowait(response_to_pb(response))

        async def pump() -> None:
            try:
                async for request in request_iterator:
                    peer_ids.add(request.peer_id)
                    self._handle(request, respond)
            except DamselflyError as exc:
                await abort_with(context, exc)
            except Exception:
                log.exception("announce stream failed")
                await abort_with(context, InternalError("the scheduler failed on this stream"))
            finally:
                outbox.put_nowait(None)

        reader = asyncio.create_task(pump())
        try:
            while (message := await outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()
            for peer_id in peer_ids:
                self.service.stream_closed(peer_id)

    def _handle(self, request: pb.AnnouncePeerRequest, respond: Any) -> None:
        service, peer_id = self.service, request.peer_id
        if not peer_id or not is_task_id(request.task_id):
            raise InvalidArgument("announce needs a peer id and a well-formed task id")
        kind = request.WhichOneof("request")
        if kind == "register_peer":
            download = convert.download_from_pb(request.register_peer.download)
            service.register_peer(request.host_id, request.task_id, peer_id, download, respond)
        elif kind == "download_peer_started":
            service.download_started(peer_id)
        elif kind == "download_peer_back_to_source_started":
            service.back_to_source_started(peer_id)
        elif kind == "reschedule_peer":
            service.reschedule(peer_id, request.reschedule_peer.blocked_parent_ids)
        elif kind == "download_pieces_finished":
            pieces = [convert.piece_from_pb(p) for p in request.download_pieces_finished.pieces]
            service.pieces_finished(peer_id, pieces)
        elif kind == "download_piece_failed":
            failed = request.download_piece_failed
            service.piece_failed(peer_id, failed.parent_id, failed.temporary)
        elif kind == "download_peer_finished":
            done = request.download_peer_finished
            service.peer_finished(peer_id, done.content_length, done.piece_count, from_source=False)
        elif kind == "download_peer_back_to_source_finished":
            done_bts = request.download_peer_back_to_source_finished
            service.peer_finished(
                peer_id, done_bts.content_length, done_bts.piece_count, from_source=True
            )
        elif kind == "download_peer_failed":
            fail = request.download_peer_failed
            service.peer_failed(peer_id, fail.description, _code(fail.code), from_source=False)
        elif kind == "download_peer_back_to_source_failed":
            fail_bts = request.download_peer_back_to_source_failed
            service.peer_failed(
                peer_id, fail_bts.description, _code(fail_bts.code), from_source=True
            )
        else:
            raise InvalidArgument(f"announce message {kind!r} is not supported")
