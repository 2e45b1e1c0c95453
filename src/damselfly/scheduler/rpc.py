"""gRPC adapter of the scheduler: protobuf in, service calls, protobuf out.

Served by grpclib (``common/grpclib_server.py``): each handler gets the call's stream,
reads requests with ``recv_message`` and answers with ``send_message``; our errors leave
as gRPC statuses that carry their code (``grpc_error``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque

from grpclib.const import Cardinality, Handler
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.server import Stream
from h2.exceptions import H2Error

from damselfly.api import convert
from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.common.grpclib_server import grpc_error, unary
from damselfly.core.errors import Code, DamselflyError, InternalError, InvalidArgument
from damselfly.core.ids import is_task_id
from damselfly.core.models import HostType, Traffic
from damselfly.scheduler.metrics import SchedulerMetrics
from damselfly.scheduler.resource.models import Host
from damselfly.scheduler.responses import (
    BackToSourceResponse,
    EmptyTaskResponse,
    ParentsResponse,
    Respond,
    Response,
)
from damselfly.scheduler.service import SchedulerService

log = logging.getLogger(__name__)

SERVICE = "/damselfly.scheduler.v1.Scheduler/"
_UNARY_METHODS = (
    "AnnounceHost",
    "LeaveHost",
    "DeleteHost",
    "ListHosts",
    "StatTask",
    "StatPeer",
    "DeleteTask",
)

# Messages that run a scheduling decision: timed into schedule_duration_milliseconds.
_SCHEDULING = frozenset({"register_peer", "reschedule_peer"})
_METRIC_OF = {
    "download_pieces_finished": "download_piece_finished",
    "download_piece_failed": "download_piece_finished",
    "download_peer_failed": "download_peer_finished",
    "download_peer_back_to_source_failed": "download_peer_back_to_source_finished",
}


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


_TRAFFIC = {int(t): t for t in Traffic}
LOCAL = Traffic.LOCAL


def host_to_pb(host: Host) -> common_pb2.Host:
    msg = convert.host_to_pb(host.info)
    msg.disable_shared = host.disable_shared
    msg.max_tx_bandwidth = int(host.max_tx_bps)
    msg.max_rx_bandwidth = int(host.max_rx_bps)
    return msg


class _Outbox:
    """Answers for one AnnouncePeer stream, written in order, one write at a time."""

    def __init__(self, stream: Stream[pb.AnnouncePeerRequest, pb.AnnouncePeerResponse]) -> None:
        self.stream = stream
        self.queue: deque[pb.AnnouncePeerResponse] = deque()
        self.handling = False
        self.closed = False
        self._writing = False
        self._task: asyncio.Task[None] | None = None

    def respond(self, response: Response) -> None:
        if self.closed:
            return
        self.queue.append(response_to_pb(response))
        if not self.handling and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        try:
            await self.flush()
        except (OSError, GRPCError, ProtocolError, StreamTerminatedError, H2Error) as exc:
            log.debug("late answer not delivered: %s", exc)
        finally:
            self._task = None

    async def flush(self) -> None:
        """Write what is queued. One writer at a time: a flush that finds another under
        way leaves the queue to it (cheaper than an ``asyncio.Lock`` on every answer)."""
        if self._writing:
            return
        self._writing = True
        try:
            while self.queue and not self.closed:
                await self.stream.send_message(self.queue.popleft())
        finally:
            self._writing = False


class SchedulerRpc:
    def __init__(self, service: SchedulerService) -> None:
        self.service = service
        self.metrics: SchedulerMetrics = service.metrics

    def __mapping__(self) -> dict[str, Handler]:
        """grpclib's table: method path -> handler, cardinality, message types (every
        unary method ``X`` takes ``XRequest`` and answers ``XResponse``)."""
        table = {
            SERVICE + name: Handler(
                getattr(self, name),
                Cardinality.UNARY_UNARY,
                getattr(pb, f"{name}Request"),
                getattr(pb, f"{name}Response"),
            )
            for name in _UNARY_METHODS
        }
        table[SERVICE + "AnnouncePeer"] = Handler(
            self.AnnouncePeer,
            Cardinality.STREAM_STREAM,
            pb.AnnouncePeerRequest,
            pb.AnnouncePeerResponse,
        )
        return table

    @unary
    async def AnnounceHost(self, request: pb.AnnounceHostRequest) -> pb.AnnounceHostResponse:
        host = request.host
        if not host.id or not host.ip or host.download_port <= 0:
            self.metrics.count("announce_host", failed=True)
            raise InvalidArgument("host announce needs an id, an ip and a download port")
        if not 0 <= request.interval_seconds < math.inf:  # NaN fails this too
            self.metrics.count("announce_host", failed=True)
            raise InvalidArgument("a host's announce interval must be a finite number >= 0")
        self.metrics.count("announce_host")
        self.service.announce_host(
            convert.host_from_pb(host),
            request.interval_seconds,
            disable_shared=host.disable_shared,
            max_tx_bps=float(host.max_tx_bandwidth),
            max_rx_bps=float(host.max_rx_bandwidth),
        )
        return pb.AnnounceHostResponse()

    @unary
    async def LeaveHost(self, request: pb.LeaveHostRequest) -> pb.LeaveHostResponse:
        self.metrics.count("leave_host")
        self.service.leave_host(request.host_id)
        return pb.LeaveHostResponse()

    @unary
    async def DeleteHost(self, request: pb.DeleteHostRequest) -> pb.DeleteHostResponse:
        self.metrics.count("leave_host")
        self.service.delete_host(request.host_id)
        return pb.DeleteHostResponse()

    @unary
    async def ListHosts(self, request: pb.ListHostsRequest) -> pb.ListHostsResponse:
        self.metrics.count("list_hosts")
        kind = HostType(request.type) if request.HasField("type") else None
        return pb.ListHostsResponse(
            hosts=[
                pb.HostStat(
                    host=host_to_pb(h),
                    peer_count=len(h.peers),
                    concurrent_upload_count=h.concurrent_uploads,
                    upload_count=h.upload_count,
                    upload_failed_count=h.upload_failed_count,
                )
                for h in self.service.list_hosts(kind)
            ]
        )

    @unary
    async def StatTask(self, request: pb.StatTaskRequest) -> pb.StatTaskResponse:
        try:
            task = self.service.stat_task(request.task_id)
        except DamselflyError:
            self.metrics.count("stat_task", failed=True)
            raise
        self.metrics.count("stat_task")
        return pb.StatTaskResponse(
            task_id=task.id,
            state=task.state.value,
            content_length=task.content_length,
            piece_count=task.piece_count,
            peer_count=len(task.peers),
            piece_length=task.piece_length,
            back_to_source_peer_count=len(task.back_to_source_peers),
            size_scope=task.size_scope().value,
        )

    @unary
    async def StatPeer(self, request: pb.StatPeerRequest) -> pb.StatPeerResponse:
        try:
            peer = self.service.stat_peer(request.peer_id)
        except DamselflyError:
            self.metrics.count("stat_peer", failed=True)
            raise
        self.metrics.count("stat_peer")
        graph = peer.task.graph
        return pb.StatPeerResponse(
            peer_id=peer.id,
            task_id=peer.task.id,
            host_id=peer.host.id,
            state=peer.state.value,
            finished_piece_count=len(peer.finished),
            parent_ids=sorted(graph.parents(peer.id)),
            child_count=graph.out_degree(peer.id),
        )

    @unary
    async def DeleteTask(self, request: pb.DeleteTaskRequest) -> pb.DeleteTaskResponse:
        try:
            count = self.service.delete_task(request.task_id, request.host_id)
        except DamselflyError:
            self.metrics.count("leave_task", failed=True)
            raise
        self.metrics.count("leave_task")
        return pb.DeleteTaskResponse(deleted_peer_count=count)

    async def AnnouncePeer(
        self, stream: Stream[pb.AnnouncePeerRequest, pb.AnnouncePeerResponse]
    ) -> None:
        """An answer to a request goes out before the next read; one the service sends
        later (a wake-up, a pushed parent) goes out from a task of its own, never two
        writes at once."""
        outbox = _Outbox(stream)
        peer_ids: set[str] = set()
        try:
            while (request := await stream.recv_message()) is not None:
                peer_ids.add(request.peer_id)
                outbox.handling = True
                try:
                    self._handle(request, outbox.respond)
                finally:
                    outbox.handling = False
                if outbox.queue:
                    await outbox.flush()
        except DamselflyError as exc:
            self.metrics.count("announce_peer", failed=True)
            raise grpc_error(exc) from None
        except (asyncio.CancelledError, GRPCError):
            raise
        except Exception:
            log.exception("announce stream failed")
            self.metrics.count("announce_peer", failed=True)
            raise grpc_error(InternalError("the scheduler failed on this stream")) from None
        else:
            self.metrics.count("announce_peer")
        finally:
            outbox.closed = True
            for peer_id in peer_ids:
                self.service.stream_closed(peer_id)

    def _handle(self, request: pb.AnnouncePeerRequest, respond: Respond) -> None:
        kind = request.WhichOneof("request") or ""
        metric = _METRIC_OF.get(kind, kind)
        failed = kind in _METRIC_OF and kind != "download_pieces_finished"
        started = time.perf_counter()
        try:
            self._dispatch(kind, request, respond)
        except DamselflyError:
            if metric in self.metrics.requests:
                self.metrics.count(metric, failed=True)
            raise
        if metric in self.metrics.requests:
            self.metrics.count(metric, failed=failed)
        if kind in _SCHEDULING:
            self.metrics.schedule_duration.observe((time.perf_counter() - started) * 1000)

    def _dispatch(self, kind: str, request: pb.AnnouncePeerRequest, respond: Respond) -> None:
        service, peer_id = self.service, request.peer_id
        if not peer_id or not is_task_id(request.task_id):
            raise InvalidArgument("announce needs a peer id and a well-formed task id")
        if kind == "register_peer":
            register = request.register_peer
            download = convert.download_from_pb(register.download)
            host = convert.host_from_pb(register.host) if register.HasField("host") else None
            service.register_peer(
                request.host_id,
                request.task_id,
                peer_id,
                download,
                respond,
                finished=register.finished_piece_numbers,
                host_info=host,
            )
        elif kind == "download_peer_started":
            service.download_started(peer_id)
        elif kind == "download_peer_back_to_source_started":
            service.back_to_source_started(peer_id)
        elif kind == "reschedule_peer":
            service.reschedule(peer_id, request.reschedule_peer.blocked_parent_ids)
        elif kind == "download_pieces_finished":
            traffic = _TRAFFIC.get
            rows = [
                (p.number, p.length, p.parent_id, p.cost_ns, traffic(p.traffic_type, LOCAL))
                for p in request.download_pieces_finished.pieces
            ]
            service.report_pieces(peer_id, rows)
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
