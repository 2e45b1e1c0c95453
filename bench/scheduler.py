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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from bench.scheduler_load import (
    EOF,
    Conversation,
    Workload,
    percentile,
    run_open_loop,
    run_phase,
)
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc

ECHO_METHOD = "/bench.Echo/Chat"
ANNOUNCE_METHOD = "/damselfly.scheduler.v1.Scheduler/AnnouncePeer"


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
