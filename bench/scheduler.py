"""Scheduler throughput over real gRPC, next to a plain grpcio bidirectional baseline.

    python -m bench.scheduler --json

A scheduler process (``python -m damselfly.scheduler``) and a load generator (this
process, grpc.aio) on the same machine. 10,000 peers in 100 tasks on 1,000 hosts hold
the conversation a daemon holds (register; the answer; started; two batches of 16
finished pieces; finished; close), ``--concurrency`` streams at a time. The first peer of
each task goes back to source (there is no seed host), the others get parents. Each host
talks over its own connection, as each host's daemon does (``--connections 1`` puts every
stream on one connection instead: gRPC's best case, which no scheduler of many hosts
sees).

The baseline runs the same conversations, message for message and byte for byte,
against a bare grpcio bidirectional handler in its own process that answers the first
message of each stream with an echo of it and reads the rest (with the read/write API,
as the scheduler's handler): what gRPC in Python costs here, without any scheduling.

Both servers run from the start; two phases:

1. throughput: ``--concurrency`` conversations at a time, each sent as fast as it goes,
   the peers in ``--rounds`` parts; the parts alternate between the servers (scheduler,
   echo, scheduler, echo, ...) so that a machine that slows down or speeds up during the
   run moves both alike, and the best part of each counts. ``decisions_per_s`` is
   scheduler answers (the first message back on each stream) per second;
   ``baseline_msgs_per_s`` the same for the echo handler; ``ratio`` the first over the
   second.
2. latency, for each server: another ``--latency-peers`` peers arrive at half the
   scheduler's measured throughput, each keeping its stream open ``--hold`` seconds (its
   pieces reported over that time, as a download does), so about ``rate x hold`` streams
   are open at once. ``p50_ms``/``p99_ms`` are from sending a register to receiving its
   answer.
- ``rss_mb_per_10k_peers``: the scheduler's resident memory growth over the run, per
  10,000 peers (finished peers stay: they serve others until GC).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc

from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from damselfly.core.ids import task_id

EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]
ECHO_METHOD = "/bench.Echo/Chat"
ANNOUNCE_METHOD = "/damselfly.scheduler.v1.Scheduler/AnnouncePeer"
PIECES_PER_BATCH = 16
BATCHES = 2
PIECE = 4 << 20


# Servers -----------------------------------------------------------------------------


async def _serve_echo(ready: Path) -> None:
    # The read/write API, as the scheduler uses: the fastest way grpc.aio offers here.
    async def chat(requests: AsyncIterator[bytes], context: Any) -> None:
        first = True
        while (message := await context.read()) is not EOF:
            if first:
                first = False
                await context.write(message)

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Chat": grpc.stream_stream_rpc_method_handler(chat)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ready.write_text(json.dumps({"address": f"127.0.0.1:{port}"}))
    await server.wait_for_termination()


def start_process(args: list[str], ready: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server did not start: {err}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())["address"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# Conversations ---------------------------------------------------------------------------


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


class Target:
    """One server under load: a connection per host (``--connections`` fewer are shared
    round robin, as each host's daemon holds its own) and streams opened on them."""

    def __init__(self, name: str, address: str, method: str, connections: int) -> None:
        self.name = name
        self.channels = [
            grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(connections)
        ]
        # Raw bytes in and out: the load generator does the same work for every server.
        self.chats = [c.stream_stream(method, None, None) for c in self.channels]
        self.rates: list[float] = []
        self.seconds = 0.0
        self.messages = 0

    def open_call(self, host: int) -> Any:
        return self.chats[host % len(self.chats)](None)

    async def connect(self) -> None:
        await asyncio.gather(*(c.channel_ready() for c in self.channels))

    async def announce_hosts(self, workload: Workload) -> None:
        for index in range(workload.hosts):
            stub = pb_grpc.SchedulerStub(self.channels[index % len(self.channels)])
            await stub.AnnounceHost(
                pb.AnnounceHostRequest(host=workload.host_pb(index), interval_seconds=3600)
            )

    async def close(self) -> None:
        await asyncio.gather(*(c.close(None) for c in self.channels))


async def measure(
    scheduler: Target, echo: Target, workload: Workload, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Both servers run the same conversations. The throughput parts alternate between
    them (scheduler, echo, scheduler, echo, ...) so that a machine that slows down or
    speeds up during the run moves both alike; the best part of each counts. Then each
    gets the open-loop latency phase at half the scheduler's throughput."""
    targets = (scheduler, echo)

    def encode(peer: int, *, source: bool) -> Conversation:
        messages = workload.conversation(peer, source=source)
        return workload.host_of(peer), [m.SerializeToString() for m in messages]

    firsts = [encode(t, source=True) for t in range(workload.tasks)]
    rest = [encode(p, source=False) for p in range(workload.tasks, workload.peers)]
    late = [
        encode(p, source=False) for p in range(workload.peers, workload.peers + args.latency_peers)
    ]
    size = -(-len(rest) // args.rounds)
    parts = [rest[start : start + size] for start in range(0, len(rest), size)]
    results: dict[str, dict[str, float]] = {}
    try:
        for target in targets:
            await target.connect()
        await scheduler.announce_hosts(workload)
        # The load generator's own cycle collector must not pause it mid-measurement (a
        # full collection here took 15-30 ms, counted as the server's latency): what is
        # prepared stays out of collections, and none runs while the peers talk.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            for target in targets:
                await run_phase(target.open_call, firsts, min(args.concurrency, len(firsts)))
            for part in parts:
                for target in targets:
                    took, _, done = await run_phase(target.open_call, part, args.concurrency)
                    target.rates.append(done / took)
                    target.seconds += took
                    target.messages += sum(len(messages) + 1 for _, messages in part)
            rate = max(scheduler.rates) / 2
            for target in targets:
                latencies, _ = await run_open_loop(target.open_call, late, rate, args.hold)
                results[target.name] = {
                    "seconds": target.seconds,
                    "answers_per_s": max(target.rates),
                    "messages_per_s": target.messages / target.seconds,
                    "rate": rate,
                    "p50_ms": statistics.median(latencies),
                    "p99_ms": percentile(latencies, 0.99),
                }
        finally:
            gc.enable()
            gc.unfreeze()
    finally:
        for target in targets:
            await target.close()
    return results


async def run_both(
    sched_addr: str, echo_addr: str, workload: Workload, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    connections = min(args.connections, workload.hosts)
    scheduler = Target("scheduler", sched_addr, ANNOUNCE_METHOD, connections)
    echo = Target("grpc echo", echo_addr, ECHO_METHOD, connections)
    return await measure(scheduler, echo, workload, args)


# Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument(
        "--concurrency", type=int, default=100, help="streams at a time (throughput phase)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=1000,
        help="connections to the server, at most one per host (hosts share them round robin)",
    )
    parser.add_argument("--latency-peers", type=int, default=5000, help="latency phase peers")
    parser.add_argument("--rounds", type=int, default=4, help="throughput phase parts")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds a stream stays open")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--serve-echo", metavar="READY_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--scheduler-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_echo:
        asyncio.run(_serve_echo(Path(args.serve_echo)))
        return 0

    workload = Workload(args.peers, args.tasks, args.hosts)
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        root = Path(tmp)
        config = root / "scheduler.yaml"
        config.write_text(
            f"server: {{port: 0}}\nlog_level: WARNING\nready_file: {root / 'sched.json'}\n"
        )
        command = [sys.executable, "-m", "damselfly.scheduler", "-c", str(config)]
        if args.scheduler_cmd:  # for profiling: a command taking the ready file last
            command = [*args.scheduler_cmd.split(), str(root / "sched.json")]
        sched_proc, sched_addr = start_process(command, root / "sched.json")
        echo_proc: subprocess.Popen[bytes] | None = None
        try:
            echo_proc, echo_addr = start_process(
                [sys.executable, "-m", "bench.scheduler", "--serve-echo", str(root / "echo.json")],
                root / "echo.json",
            )
            before = rss_mb(sched_proc.pid)
            results = asyncio.run(run_both(sched_addr, echo_addr, workload, args))
            after = rss_mb(sched_proc.pid)
        finally:
            for proc in (sched_proc, echo_proc):
                if proc is not None:
                    proc.terminate()
                    proc.wait()

    ours, baseline = results["scheduler"], results["grpc echo"]
    ratio = ours["answers_per_s"] / baseline["answers_per_s"]
    rss_per_10k = (after - before) * 10_000 / (args.peers + args.latency_peers)
    print(
        f"{args.peers} peers in {args.tasks} tasks on {args.hosts} hosts, "
        f"{args.concurrency} streams at a time over {min(args.connections, args.hosts)} "
        f"connections, {len(workload.conversation(0, source=False))} messages in per peer"
    )
    print(
        f"{'server':<10} {'answers/s':>10} {'msgs/s':>9} {'secs':>6} "
        f"{'open-loop/s':>12} {'p50_ms':>8} {'p99_ms':>8}"
    )
    for name, r in (("grpc echo", baseline), ("scheduler", ours)):
        print(
            f"{name:<10} {r['answers_per_s']:>10.0f} {r['messages_per_s']:>9.0f} "
            f"{r['seconds']:>6.1f} {r['rate']:>12.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
        )
    print(f"scheduler RSS {before:.0f} MB -> {after:.0f} MB")
    if args.json:
        print(
            json.dumps(
                {
                    "decisions_per_s": round(ours["answers_per_s"], 1),
                    "baseline_msgs_per_s": round(baseline["answers_per_s"], 1),
                    "ratio": round(ratio, 3),
                    "p50_ms": round(ours["p50_ms"], 2),
                    "p99_ms": round(ours["p99_ms"], 2),
                    "rss_mb_per_10k_peers": round(rss_per_10k, 1),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
