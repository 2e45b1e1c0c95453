"""``python -m damselfly.scheduler`` as an operator runs it: it serves, answers
a health check and an announce from a grpcio client, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.scheduler.v1 import scheduler_pb2 as pb
from damselfly.api.gen.scheduler.v1 import scheduler_pb2_grpc as pb_grpc


def test_scheduler_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    config = tmp_path / "scheduler.yaml"
    config.write_text(f"server: {{port: 0}}\nready_file: {ready}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "damselfly.scheduler", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.05)
        address = json.loads(ready.read_text())["address"]

        async def talk() -> None:
            async with grpc.aio.insecure_channel(address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                host = common_pb2.Host(id="h1", ip="127.0.0.1", download_port=4005)
                stub = pb_grpc.SchedulerStub(channel)
                await stub.AnnounceHost(pb.AnnounceHostRequest(host=host))
                listed = await stub.ListHosts(pb.ListHostsRequest())
                assert [h.host.id for h in listed.hosts] == ["h1"]

        asyncio.run(talk())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
