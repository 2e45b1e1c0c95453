"""A gRPC server on grpclib (HTTP/2 in Python on the event loop), for the scheduler.

The scheduler's AnnouncePeer streams are many small messages. Measured with
bench.scheduler (a connection per host), grpclib answers 950-1,200 streams a second
where grpc.aio answers 730-780 with the same handler: grpc.aio hands every message
between its core threads and the event loop, grpclib parses HTTP/2 on the loop itself.
Clients stay on grpcio: the wire is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import weakref
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from grpc_health.v1 import health_pb2
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream
from h2.settings import SettingCodes

from damselfly.api.status import encode_details, grpc_status
from damselfly.core.errors import DamselflyError, InvalidArgument

# HTTP/2 streams one connection may hold open. h2 advertises 100, and a client holding
# more waits for one to end: a daemon with more than 100 downloads at once would stall.
MAX_CONCURRENT_STREAMS = 1 << 16

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def grpc_error(error: DamselflyError) -> GRPCError:
    """Our error as the status a grpcio client decodes (``decode_rpc_error``)."""
    return GRPCError(Status[grpc_status(error).name], encode_details(error))


def unary(
    handler: Callable[[Any, Req], Awaitable[Resp]],
) -> Callable[[Any, Stream[Req, Resp]], Awaitable[None]]:
    """A request -> response handler on a grpclib stream; our errors become statuses."""

    @functools.wraps(handler)
    async def serve(self: Any, stream: Stream[Req, Resp]) -> None:
        request = await stream.recv_message()
        if request is None:
            raise grpc_error(InvalidArgument("the call carried no request"))
        try:
            response = await handler(self, request)
        except DamselflyError as exc:
            raise grpc_error(exc) from None
        await stream.send_message(response)

    return serve


class _Health:
    """The standard health service's Check: SERVING for the server ("") and each of
    its services. (grpclib's own health module registers the same protobuf types as
    grpcio's, and one process may hold both: ``damselfly up`` runs a scheduler and a
    daemon.)"""

    def __init__(self, services: Collection[Any]) -> None:
        self.names = {""}
        for service in services:
            self.names |= {path.split("/")[1] for path in service.__mapping__()}

    def __mapping__(self) -> dict[str, Handler]:
        return {
            "/grpc.health.v1.Health/Check": Handler(
                self.check,
                Cardinality.UNARY_UNARY,
                health_pb2.HealthCheckRequest,
                health_pb2.HealthCheckResponse,
            )
        }

    async def check(
        self, stream: Stream[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]
    ) -> None:
        request = await stream.recv_message()
        if request is None or request.service not in self.names:
            raise GRPCError(Status.NOT_FOUND, "no such service")
        await stream.send_message(
            health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        )


class _Server(Server):
    """grpclib's server, with more streams per connection and a way to drop every
    connection when it stops (``close`` cancels the handlers but leaves connections
    open, so clients would not see their streams end)."""

    def __init__(self, handlers: Collection[Any]) -> None:
        super().__init__(handlers)
        self.protocols: weakref.WeakSet[H2Protocol] = weakref.WeakSet()

    def drop_connections(self) -> None:
        for protocol in list(self.protocols):
            protocol.connection.close()

    def _protocol_factory(self) -> H2Protocol:
        protocol = super()._protocol_factory()
        self.protocols.add(protocol)
        made = protocol.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            # The connection's HTTP/2 state exists from here on; raise h2's default.
            connection = protocol.connection
            connection._connection.update_settings(
                {SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS}
            )
            connection.flush()

        protocol.connection_made = connection_made  # type: ignore[method-assign]
        return protocol


class GrpclibServer:
    """Serves ``services`` (objects with grpclib's ``__mapping__``) and the standard
    health service, on one TCP address."""

    def __init__(self, services: Collection[Any]) -> None:
        self._server = _Server([*services, _Health(services)])
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a port); returns the port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Named IPPROTO_TCP: asyncio and grpclib set TCP_NODELAY only on sockets that say
        # so. With Nagle on, an answer's DATA write waited for the client's delayed ACK
        # of its HEADERS write, 40 ms on every answer that was not a direct reply.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.port = int(sock.getsockname()[1])
        await self._server.start(sock=sock)
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Stop listening and cancel the calls under way (their handlers get up to
        ``grace_s`` to finish), then close every connection."""
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), grace_s)
        self._server.drop_connections()
