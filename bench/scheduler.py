"""Scheduler throughput over real gRPC, next to a plain grpcio bidirectional baseline.

    python -m bench.scheduler --json

A scheduler process (``python -m damselfly.scheduler``) and a load generator (this
process, grpc.aio) on the same machine. 10,000 peers in 100 tasks on 1,000 hosts hold
the conversation a daemon holds (register; the answer; started; two batches of 16
finished pieces; finished; close), ``--concurrency`` streams at a time. The first peer of
each task goes back to source (there is no seed host), the others get parents.

The baseline runs the same conversations, message for message and byte for byte,
against a bare grpcio bidirectional handler in its own process that answers the first
message of each stream with an echo of it and reads the rest (with the read/write API,
as the scheduler's handler): what gRPC in Python costs here, without any scheduling.

Two phases per server:

1. throughput: ``--concurrency`` conversations at a time, each sent as fast as it goes,
   the peers in ``--rounds`` parts of which the best counts. ``decisions_per_s`` is
   scheduler answers (the first message back on each stream) per second;
   ``baseline_msgs_per_s`` the same for the echo handler; ``ratio`` the first over the
   second.
2. latency: another ``--latency-peers`` peers arrive at half the scheduler's measured
   throughput, each keeping its stream open ``--hold`` seconds (its pieces reported over
   that time, as a download does), so about ``rate x hold`` streams are open at once.
   ``p50_ms``/``p99_ms`` are from sending a register to receiving its answer.
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

    def conversation(self, peer: int, *, source: bool) -> list[pb.AnnouncePeerRequest]:
        """The messages one peer sends, in order (the first is the register)."""
        task = peer % self.tasks
        ids = (self.host_ids[peer % self.hosts], self.task_ids[task], f"bench-peer-{peer}")
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


Open = Callable[[], Any]


async def converse(
    open_call: Open, messages: list[Any], latencies: list[float], hold_s: float = 0.0
) -> bool:
    """One stream: send the first message, wait for the answer, send the rest spread
    over ``hold_s``, close."""
    call = open_call()
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
    open_call: Open, conversations: list[list[Any]], concurrency: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    answered = 0
    queue = iter(conversations)

    async def worker() -> None:
        nonlocal answered
        for messages in queue:
            if await converse(open_call, messages, latencies):
                answered += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, answered


async def run_open_loop(
    open_call: Open, conversations: list[list[Any]], rate: float, hold_s: float
) -> tuple[list[float], int]:
    """Start conversations at ``rate`` per second regardless of how the server keeps up."""
    latencies: list[float] = []
    began = time.perf_counter()
    jobs = []
    for index, messages in enumerate(conversations):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        jobs.append(asyncio.create_task(converse(open_call, messages, latencies, hold_s)))
    done = await asyncio.gather(*jobs)
    return sorted(latencies), sum(done)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, max(0, int(len(values) * share) - 1))]


async def drive(
    address: str, workload: Workload, args: argparse.Namespace, *, echo: bool, rate: float = 0.0
) -> dict[str, Any]:
    chan = grpc.aio.insecure_channel(address)
    try:
        if not echo:
            stub = pb_grpc.SchedulerStub(chan)
            for index in range(workload.hosts):
                await stub.AnnounceHost(
                    pb.AnnounceHostRequest(host=workload.host_pb(index), interval_seconds=3600)
                )
        # Both servers get the same pre-serialized bytes and answer bytes: the load
        # generator does the same work for each, whatever the server does with them.
        chat = chan.stream_stream(ECHO_METHOD if echo else ANNOUNCE_METHOD, None, None)

        def open_call() -> Any:
            return chat(None)

        def encode(messages: list[pb.AnnouncePeerRequest]) -> list[Any]:
            return [m.SerializeToString() for m in messages]

        concurrency = args.concurrency
        firsts = [encode(workload.conversation(t, source=True)) for t in range(workload.tasks)]
        rest = [
            encode(workload.conversation(p, source=False))
            for p in range(workload.tasks, workload.peers)
        ]
        # The prepared messages are many long-lived objects: keep this process's cycle
        # collector from walking them mid-measurement (its pauses would count as latency).
        gc.collect()
        gc.freeze()
        await run_phase(open_call, firsts, min(concurrency, len(firsts)))
        # The peers in ``--rounds`` equal parts, one after the other; the best part counts
        # (other work on a shared machine slows one part or another, not the server).
        rates, seconds, answered = [], 0.0, 0
        size = -(-len(rest) // args.rounds)
        for start in range(0, len(rest), size):
            part = rest[start : start + size]
            took, _, done = await run_phase(open_call, part, concurrency)
            rates.append(done / took)
            seconds, answered = seconds + took, answered + done
        throughput = max(rates)
        late = [
            encode(workload.conversation(p, source=False))
            for p in range(workload.peers, workload.peers + args.latency_peers)
        ]
        latencies, late_answered = await run_open_loop(
            open_call, late, rate or throughput / 2, args.hold
        )
    finally:
        await chan.close(None)
    return {
        "seconds": seconds,
        "answers_per_s": throughput,
        "messages_per_s": sum(len(c) + 1 for c in rest) / seconds,
        "rate": rate or throughput / 2,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "answered": answered + late_answered,
    }


# Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument(
        "--concurrency", type=int, default=100, help="streams at a time (throughput phase)"
    )
    parser.add_argument("--latency-peers", type=int, default=5000, help="latency phase peers")
    parser.add_argument("--rounds", type=int, default=2, help="throughput phase parts")
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
        try:
            before = rss_mb(sched_proc.pid)
            ours = asyncio.run(drive(sched_addr, workload, args, echo=False))
            after = rss_mb(sched_proc.pid)
        finally:
            sched_proc.terminate()
            sched_proc.wait()
        # Same conversations, and the same open-loop rate, against the bare handler.
        echo_proc, echo_addr = start_process(
            [sys.executable, "-m", "bench.scheduler", "--serve-echo", str(root / "echo.json")],
            root / "echo.json",
        )
        try:
            baseline = asyncio.run(drive(echo_addr, workload, args, echo=True, rate=ours["rate"]))
        finally:
            echo_proc.terminate()
            echo_proc.wait()

    ratio = ours["answers_per_s"] / baseline["answers_per_s"]
    rss_per_10k = (after - before) * 10_000 / (args.peers + args.latency_peers)
    print(
        f"{args.peers} peers in {args.tasks} tasks on {args.hosts} hosts, "
        f"{args.concurrency} streams at a time, "
        f"{len(workload.conversation(0, source=False))} messages in per peer"
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
