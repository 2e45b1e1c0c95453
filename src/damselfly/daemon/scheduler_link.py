"""The daemon's side of the scheduler: host announces and one peer stream per download."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc

from damselfly.api import convert
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from damselfly.api.status import decode_rpc_error
from damselfly.common.grpc_helpers import channel
from damselfly.common.hashring import HashRing
from damselfly.core.errors import Unavailable
from damselfly.core.models import HostInfo

log = logging.getLogger(__name__)


class PeerStream:
    """One AnnouncePeer stream: ``send`` never blocks; ``responses`` yields answers."""

    def __init__(self, stub: pb_grpc.SchedulerAsyncStub, host_id: str, task_id: str, peer_id: str):
        self.host_id, self.task_id, self.peer_id = host_id, task_id, peer_id
        self._outbox: asyncio.Queue[pb.AnnouncePeerRequest | None] = asyncio.Queue()
        self._call = stub.AnnouncePeer(self._requests())

    async def _requests(self) -> AsyncIterator[pb.AnnouncePeerRequest]:
        while (item := await self._outbox.get()) is not None:
            yield item

    def send(self, request: pb.AnnouncePeerRequest) -> None:
        request.host_id, request.task_id, request.peer_id = (
            self.host_id,
            self.task_id,
            self.peer_id,
        )
        self._outbox.put_nowait(request)

    async def responses(self) -> AsyncIterator[pb.AnnouncePeerResponse]:
        try:
            async for response in self._call:
                yield response
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise decode_rpc_error(exc, "the scheduler") from None

    async def close(self, grace_s: float = 2.0) -> None:
        """Half-close, let the scheduler take the last messages and end the stream."""
        self._outbox.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, grpc.aio.AioRpcError):
            await asyncio.wait_for(_ended(self._call), grace_s)
        self._call.cancel()


async def _ended(call: grpc.aio.Call) -> None:
    await call.code()


class SchedulerLink:
    def __init__(self, addresses: list[str], host: HostInfo, announce_interval_s: float) -> None:
        self.addresses = list(addresses)
        self.host = host
        self.interval = announce_interval_s
        self._ring = HashRing(self.addresses)
        self._channels = {address: channel(address) for address in self.addresses}
        self._announcer: asyncio.Task[None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._soon = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.addresses)

    def _stub(self, address: str) -> pb_grpc.SchedulerAsyncStub:
        return pb_grpc.SchedulerStub(self._channels[address])

    async def announce_once(self) -> bool:
        """Announce the host to every scheduler; False when one did not take it."""
        request = pb.AnnounceHostRequest(
            host=convert.host_to_pb(self.host), interval_seconds=self.interval
        )
        ok = True
        for address in self.addresses:
            try:
                await self._stub(address).AnnounceHost(request, timeout=5)
            except grpc.aio.AioRpcError as exc:
                ok = False
                log.warning("announce to scheduler %s failed: %s", address, exc.code().name)
        return ok

    def lost(self) -> None:
        """A scheduler stream broke (a restart?): announce again soon, so a restarted
        scheduler knows this host (and its seed role) before the next interval."""
        self._soon.set()

    async def _announce_forever(self, announced: bool) -> None:
        retry = 0.0 if announced else 0.5
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._soon.wait(), retry or self.interval)
            if self._soon.is_set():
                self._soon.clear()
                retry = 0.5
                continue
            announced = await self.announce_once()
            retry = 0.0 if announced else min(self.interval, max(0.5, retry * 2))

    async def _watch(self, chan: grpc.aio.Channel) -> None:
        """A connection to a scheduler dropped (a restart?): announce again soon, also
        when no download is under way to see its stream break."""
        state = chan.get_state()
        while True:
            await chan.wait_for_state_change(state)
            new = chan.get_state()
            if state is grpc.ChannelConnectivity.READY and new is not state:
                self.lost()
            state = new

    async def start(self) -> None:
        if self.enabled:
            announced = await self.announce_once()
            loop = asyncio.get_running_loop()
            self._announcer = loop.create_task(self._announce_forever(announced))
            self._watchers = [loop.create_task(self._watch(c)) for c in self._channels.values()]

    def open(self, task_id: str, peer_id: str) -> PeerStream:
        address = self._ring.get(task_id)
        if address is None:
            raise Unavailable("no scheduler is configured")
        return PeerStream(self._stub(address), self.host.id, task_id, peer_id)

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        for watcher in self._watchers:
            watcher.cancel()
        for address in self.addresses:
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self._stub(address).LeaveHost(
                    pb.LeaveHostRequest(host_id=self.host.id), timeout=2
                )
        for chan in self._channels.values():
            await chan.close(None)
