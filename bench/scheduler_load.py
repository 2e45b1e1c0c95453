"""The load of bench.scheduler: what each simulated peer sends a scheduler, and the ways
of sending it (as fast as it goes, or at a fixed arrival rate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc

from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.core.ids import task_id

EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]
PIECES_PER_BATCH = 16
BATCHES = 2
PIECE = 4 << 20


class Workload:
    def __init__(self, peers: int, tasks: int, hosts: int) -> None:
        self.peers, self.tasks, self.hosts = peers, tasks, hosts
        self.task_ids = [
            task_id(f"https://origin.example.com/layer-{i}.tar", filtered_query_params=[])
            for i in range(tasks)
        ]
        self.host_ids = [f"bench-host-{i}" for i in range(hosts)]

    def host_pb(self, index: int) -> common_pb2.Host:
        return common_pb2.Host(
            id=self.host_ids[index],
            hostname=f"h{index}",
            ip=f"10.{index >> 8 & 255}.{index & 255}.1",
            port=4000,
            download_port=4005,
            upload_limit=200,
            max_tx_bandwidth=8 * 10**9,
            max_rx_bandwidth=8 * 10**9,
        )

    def host_of(self, peer: int) -> int:
        return peer % self.hosts

    def conversation(self, peer: int, *, source: bool) -> list[pb.AnnouncePeerRequest]:
        """The messages one peer sends, in order (the first is the register)."""
        task = peer % self.tasks
        ids = (self.host_ids[self.host_of(peer)], self.task_ids[task], f"bench-peer-{peer}")
        url = f"https://origin.example.com/layer-{task}.tar"
        download = common_pb2.Download(url=url, priority=6)
        download.filtered_query_params.SetInParent()
        parent = "" if source else f"bench-peer-{task}"
        total = BATCHES * PIECES_PER_BATCH
        messages = [pb.AnnouncePeerRequest(register_peer=pb.RegisterPeerRequest(download=download))]
        if source:
            started = pb.DownloadPeerBackToSourceStartedRequest()
            messages.append(pb.AnnouncePeerRequest(download_peer_back_to_source_started=started))
        else:
            messages.append(
                pb.AnnouncePeerRequest(download_peer_started=pb.DownloadPeerStartedRequest())
            )
        for batch in range(BATCHES):
            numbers = range(batch * PIECES_PER_BATCH, (batch + 1) * PIECES_PER_BATCH)
            pieces = [
                common_pb2.Piece(
                    number=n,
                    offset=n * PIECE,
                    length=PIECE,
                    crc32c=n,
                    parent_id=parent,
                    cost_ns=30_000_000,
                )
                for n in numbers
            ]
            finished = pb.DownloadPiecesFinishedRequest(pieces=pieces)
            messages.append(pb.AnnouncePeerRequest(download_pieces_finished=finished))
        if source:
            done_bts = pb.DownloadPeerBackToSourceFinishedRequest(
                content_length=total * PIECE, piece_count=total
            )
            messages.append(pb.AnnouncePeerRequest(download_peer_back_to_source_finished=done_bts))
        else:
            done = pb.DownloadPeerFinishedRequest(content_length=total * PIECE, piece_count=total)
            messages.append(pb.AnnouncePeerRequest(download_peer_finished=done))
        for message in messages:
            message.host_id, message.task_id, message.peer_id = ids
        return messages


# Opens an AnnouncePeer (or echo) stream on the connection of the given host.
Open = Callable[[int], Any]
# A peer's conversation: the index of its host, and the messages it sends.
Conversation = tuple[int, list[Any]]


async def converse(
    open_call: Open, conversation: Conversation, latencies: list[float], hold_s: float = 0.0
) -> bool:
    """One stream: send the first message, wait for the answer, send the rest spread
    over ``hold_s``, close."""
    host, messages = conversation
    call = open_call(host)
    began = time.perf_counter()
    await call.write(messages[0])
    answer = await call.read()
    latencies.append((time.perf_counter() - began) * 1000)
    for message in messages[1:]:
        if hold_s > 0:
            await asyncio.sleep(hold_s / (len(messages) - 1))
        await call.write(message)
    await call.done_writing()
    while await call.read() is not EOF:
        pass
    await call.code()
    return answer is not EOF


async def run_phase(
    open_call: Open, conversations: list[Conversation], concurrency: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    answered = 0
    queue = iter(conversations)

    async def worker() -> None:
        nonlocal answered
        for conversation in queue:
            if await converse(open_call, conversation, latencies):
                answered += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, answered


async def run_open_loop(
    open_call: Open, conversations: list[Conversation], rate: float, hold_s: float
) -> tuple[list[float], int]:
    """Start conversations at ``rate`` per second regardless of how the server keeps up."""
    latencies: list[float] = []
    began = time.perf_counter()
    jobs = []
    for index, conversation in enumerate(conversations):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        jobs.append(asyncio.create_task(converse(open_call, conversation, latencies, hold_s)))
    done = await asyncio.gather(*jobs)
    return sorted(latencies), sum(done)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, max(0, int(len(values) * share) - 1))]
