"""gRPC plumbing shared by components: servers, channels and error translation."""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from damselfly.api.status import encode_details, grpc_status
from damselfly.core.errors import DamselflyError

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 << 20),
]


def new_server() -> grpc.aio.Server:
    return grpc.aio.server(options=[("grpc.so_reuseport", 0), *CHANNEL_OPTIONS])


def add_health(server: grpc.aio.Server, *services: str) -> health_aio.HealthServicer:
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


async def mark_serving(servicer: health_aio.HealthServicer, *services: str) -> None:
    for name in ("", *services):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def bind(server: grpc.aio.Server, address: str) -> int:
    """Bind a TCP ``host:port`` (port 0 picks one) or ``unix:/path``; returns the port."""
    if not address.startswith("unix:"):
        check_bindable(address)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's word for a failed bind
        port = 0
    if port == 0 and not address.startswith("unix:"):
        raise OSError(_in_use(address))
    return port


def _in_use(address: str) -> str:
    return f"cannot listen on {address}; is another server using that port?"


def check_bindable(address: str) -> None:
    """Raise OSError, saying why, when TCP ``host:port`` cannot be listened on. Tried
    before grpc's C core, which would print a log line of its own first: the user then
    reads one sentence, ours."""
    host, _, port_text = address.rpartition(":")
    if not port_text.isdigit() or int(port_text) == 0:
        return
    try:
        found = socket.getaddrinfo(
            host.strip("[]") or None, int(port_text), type=socket.SOCK_STREAM
        )
    except socket.gaierror:
        return  # grpc says what it makes of the name
    failures: list[OSError] = []
    for family, kind, proto, _, sockaddr in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                failures.append(exc)
                continue
        return  # grpc listens where it can: one address of the name is enough
    if any(exc.errno == errno.EADDRINUSE for exc in failures):
        raise OSError(_in_use(address))
    if failures:
        raise OSError(f"cannot listen on {address}: {failures[0].strerror}")


def channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


class ChannelPool:
    """One channel per target, shared by callers and kept for the next: a new channel
    costs a TCP and an HTTP/2 handshake, each step through the other side's event loop
    (30 ms to a seed busy fetching from its origin). Holds the ``limit`` most recently
    used; an older one is closed."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._channels: OrderedDict[str, grpc.aio.Channel] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, target: str) -> grpc.aio.Channel:
        chan = self._channels.pop(target, None) or channel(target)
        self._channels[target] = chan
        while len(self._channels) > self.limit:
            _, oldest = self._channels.popitem(last=False)
            # Its streams get a grace period, as a download still using it ends them.
            closing = asyncio.get_running_loop().create_task(oldest.close(grace=5.0))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return chan

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        await asyncio.gather(*(c.close(None) for c in channels), *self._closing)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: DamselflyError) -> None:
    await context.abort(grpc_status(error), encode_details(error))


def translate_stream(
    func: Callable[..., AsyncIterator[T]],
) -> Callable[..., AsyncIterator[T]]:
    """Turn our errors raised by a server-streaming handler into gRPC statuses."""

    @functools.wraps(func)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[T]:
        try:
            async for item in func(self, request, context):
                yield item
        except DamselflyError as exc:
            await abort_with(context, exc)

    return wrapper
