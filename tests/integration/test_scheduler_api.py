"""The scheduler's gRPC API and metrics endpoint, on a real server at 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import math
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from damselfly.core.ids import task_id
from damselfly.scheduler.config import SchedulerConfig
from damselfly.scheduler.server import SchedulerServer

URL = "http://origin.example.com/file.bin"
TASK = task_id(URL, filtered_query_params=[])
Scenario = Callable[[SchedulerServer, "pb_grpc.SchedulerAsyncStub"], Awaitable[None]]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        config = SchedulerConfig.model_validate(
            {"server": {"port": 0}, "metrics": {"enable": True, "port": 0}}
        )
        server = SchedulerServer(config)
        await server.start()
        channel = grpc.aio.insecure_channel(server.address)
        stub: pb_grpc.SchedulerAsyncStub = pb_grpc.SchedulerStub(channel)
        try:
            await scenario(server, stub)
        finally:
            await channel.close(None)
            await server.stop()

    asyncio.run(main())


def host(name: str, *, seed: bool = False) -> common_pb2.Host:
    return common_pb2.Host(
        id=f"host-{name}",
        type=common_pb2.HOST_TYPE_SEED if seed else common_pb2.HOST_TYPE_NORMAL,
        hostname=name,
        ip="127.0.0.1",
        port=4000,
        download_port=4005,
        max_tx_bandwidth=10**9,
    )


def request(host_id: str, peer_id: str, **kind: Any) -> pb.AnnouncePeerRequest:
    return pb.AnnouncePeerRequest(host_id=host_id, task_id=TASK, peer_id=peer_id, **kind)


def register(unknown_host: common_pb2.Host | None = None) -> pb.RegisterPeerRequest:
    download = common_pb2.Download(url=URL)
    download.filtered_query_params.SetInParent()
    if unknown_host is None:
        return pb.RegisterPeerRequest(download=download)
    return pb.RegisterPeerRequest(download=download, host=unknown_host)


async def source_peer(stub: pb_grpc.SchedulerAsyncStub, host_id: str, peer_id: str) -> None:
    """A peer that is told to fetch from the origin, does, and finishes."""
    queue: asyncio.Queue[pb.AnnouncePeerRequest | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[pb.AnnouncePeerRequest]:
        while (item := await queue.get()) is not None:
            yield item

    call = stub.AnnouncePeer(requests())
    queue.put_nowait(request(host_id, peer_id, register_peer=register(host("a"))))
    answer: pb.AnnouncePeerResponse = await call.read()  # type: ignore[assignment]
    assert answer.WhichOneof("response") == "need_back_to_source"
    started = pb.DownloadPeerBackToSourceStartedRequest()
    queue.put_nowait(request(host_id, peer_id, download_peer_back_to_source_started=started))
    pieces = [common_pb2.Piece(number=n, offset=n * 4, length=4) for n in range(3)]
    batch = pb.DownloadPiecesFinishedRequest(pieces=pieces)
    queue.put_nowait(request(host_id, peer_id, download_pieces_finished=batch))
    done = pb.DownloadPeerBackToSourceFinishedRequest(content_length=12, piece_count=3)
    queue.put_nowait(request(host_id, peer_id, download_peer_back_to_source_finished=done))
    queue.put_nowait(None)
    while await call.read() is not grpc.aio.EOF:  # type: ignore[attr-defined]
        pass


def test_register_stat_list_delete() -> None:
    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        await stub.AnnounceHost(pb.AnnounceHostRequest(host=host("s", seed=False)))
        # host-a is not announced: the register carries it.
        await source_peer(stub, "host-a", "peer-a")

        stat = await stub.StatTask(pb.StatTaskRequest(task_id=TASK))
        assert (stat.state, stat.content_length, stat.piece_count) == ("Succeeded", 12, 3)
        assert stat.size_scope == "Tiny"
        peer = await stub.StatPeer(pb.StatPeerRequest(peer_id="peer-a"))
        assert (peer.state, peer.finished_piece_count, peer.host_id) == ("Succeeded", 3, "host-a")

        hosts = await stub.ListHosts(pb.ListHostsRequest())
        assert {h.host.id for h in hosts.hosts} == {"host-s", "host-a"}
        normal = await stub.ListHosts(pb.ListHostsRequest(type=common_pb2.HOST_TYPE_NORMAL))
        assert len(normal.hosts) == 2
        seeds = await stub.ListHosts(pb.ListHostsRequest(type=common_pb2.HOST_TYPE_SEED))
        assert len(seeds.hosts) == 0

        deleted = await stub.DeleteTask(pb.DeleteTaskRequest(task_id=TASK, host_id="host-a"))
        assert deleted.deleted_peer_count == 1
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.StatTask(pb.StatTaskRequest(task_id=TASK))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND

        await stub.DeleteHost(pb.DeleteHostRequest(host_id="host-a"))
        hosts = await stub.ListHosts(pb.ListHostsRequest())
        assert {h.host.id for h in hosts.hosts} == {"host-s"}

    run(scenario)


def test_metrics_endpoint_counts_requests() -> None:
    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        await source_peer(stub, "host-a", "peer-a")
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.StatTask(pb.StatTaskRequest(task_id="f" * 64))
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        assert response.status == 200
        assert "damselfly_scheduler_register_peer_total 1.0" in text
        assert "damselfly_scheduler_download_piece_finished_total 1.0" in text
        assert "damselfly_scheduler_stat_task_failure_total 1.0" in text
        assert 'damselfly_scheduler_traffic_total{host_type="normal"' in text
        assert "damselfly_scheduler_download_peer_duration_milliseconds_count" in text

    run(scenario)


def test_one_connection_holds_more_than_a_hundred_announce_streams() -> None:
    """A daemon talks over one connection, one stream per download: the 101st download
    must not wait for one of the first hundred to end (HTTP/2's usual stream limit)."""
    streams = 150

    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        await stub.AnnounceHost(pb.AnnounceHostRequest(host=host("a")))
        calls = [stub.AnnouncePeer() for _ in range(streams)]  # type: ignore[call-arg]

        async def register_all() -> list[pb.AnnouncePeerResponse]:
            for index, call in enumerate(calls):
                await call.write(request("host-a", f"peer-{index}", register_peer=register()))
            replies = await asyncio.gather(*(c.read() for c in calls))
            return [cast(pb.AnnouncePeerResponse, reply) for reply in replies]

        try:
            answers = await asyncio.wait_for(register_all(), 10)
            kinds = {answer.WhichOneof("response") for answer in answers}
            assert len(answers) == streams
            assert kinds <= {"need_back_to_source", "normal_task"}, kinds
        finally:
            for call in calls:
                call.cancel()

    run(scenario)


def test_health_check_serves_the_scheduler() -> None:
    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "damselfly.scheduler.v1.Scheduler"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    run(scenario)


def accepted_sockets(port: int) -> list[socket.socket]:
    """This process's TCP connections accepted on ``port`` (the server runs in-process)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            tcp = sock.type == socket.SOCK_STREAM and sock.family == socket.AF_INET
            if tcp and sock.getsockname()[1] == port and sock.getpeername():
                found.append(sock)
                continue
        except OSError:
            pass
        sock.close()
    return found


def test_answers_leave_without_waiting_for_acks() -> None:
    """An answer sent while the peer is quiet (a parent found for a waiting peer) is a
    HEADERS and a DATA write: with Nagle's algorithm on, the second waited for the
    peer's delayed ACK, 40 ms on every such answer."""

    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        await stub.AnnounceHost(pb.AnnounceHostRequest(host=host("a")))
        call = stub.AnnouncePeer()  # type: ignore[call-arg]
        try:
            await call.write(request("host-a", "peer-a", register_peer=register()))
            await asyncio.wait_for(call.read(), 10)
            port = int(server.address.rsplit(":", 1)[1])
            accepted = accepted_sockets(port)
            try:
                assert accepted, "no connection to the scheduler found"
                for sock in accepted:
                    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                for sock in accepted:
                    sock.close()
        finally:
            call.cancel()

    run(scenario)


@pytest.mark.parametrize("interval", [math.nan, math.inf, -1.0])
def test_an_announce_interval_that_is_not_a_finite_number_is_refused(interval: float) -> None:
    async def scenario(server: SchedulerServer, stub: pb_grpc.SchedulerAsyncStub) -> None:
        announce = pb.AnnounceHostRequest(host=host("n"), interval_seconds=interval)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.AnnounceHost(announce)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "finite number" in (refused.value.details() or "")
        hosts = await stub.ListHosts(pb.ListHostsRequest())
        assert "host-n" not in {h.host.id for h in hosts.hosts}

    run(scenario)
