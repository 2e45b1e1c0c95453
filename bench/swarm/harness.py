"""What every system's run shares: the bench's settings, per-host and per-system
results, CPU and link sampling, launching the clients at one moment, checking outputs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.swarm.conns import ConnSampler
from bench.swarm.netns import Node, Topology
from bench.swarm.procs import Procs, ns_get_json

MIB = 1 << 20
Counters = dict[str, tuple[int, int]]


@dataclass
class HostResult:
    host: str
    seconds: float | None  # None: the host did not complete
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SystemResult:
    name: str
    hosts: list[HostResult]
    origin_bytes: int
    origin_bytes_how: str
    samples: list[tuple[float, Counters]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cpu_busy: float | None = None  # share of the machine's CPU time busy during the run
    # receiver -> sender -> (bytes, first second with >= 1 MiB on a connection), from ss
    matrix: dict[str, dict[str, tuple[int, float | None]]] = field(default_factory=dict)

    @property
    def times(self) -> list[float]:
        return sorted(h.seconds for h in self.hosts if h.seconds is not None)

    @property
    def ok(self) -> bool:
        return all(h.seconds is not None for h in self.hosts)


@dataclass
class Bench:
    topo: Topology
    procs: Procs
    python: str
    work: Path
    logs: Path
    file: Path
    size: int
    sha256: str
    timeout_s: float
    origin_base: str  # http://ip:port of the origin server
    bt_piece_length: int
    tracker_interval: int
    debug_logs: bool

    @property
    def url(self) -> str:
        return f"{self.origin_base}/files/{self.file.name}"

    def origin_stats(self) -> dict[str, int]:
        stats: dict[str, int] = ns_get_json(self.topo.origin.ns, f"{self.origin_base}/_stats")
        return stats

    def host_dir(self, system: str, node: Node) -> Path:
        path = self.work / system / node.role
        path.mkdir(parents=True, exist_ok=True)
        return path


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a live process has used so far."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LinkSampler:
    """Samples every host's link byte counters while a system runs (a background thread)."""

    def __init__(self, topo: Topology, interval_s: float = 0.25) -> None:
        self.topo = topo
        self.interval_s = interval_s
        self.samples: list[tuple[float, Counters]] = []
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self, t0: float) -> None:
        self._t0 = t0
        self.cpu_start = cpu_times()
        self.samples.append((time.monotonic() - t0, self.topo.link_counters()))
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):
                self.samples.append((time.monotonic() - self._t0, self.topo.link_counters()))

    def cpu_busy(self) -> float:
        busy, total = cpu_times()
        return (busy - self.cpu_start[0]) / max(1, total - self.cpu_start[1])

    def stop(self) -> list[tuple[float, Counters]]:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.samples.append((time.monotonic() - self._t0, self.topo.link_counters()))
        return self.samples


def sha256_of(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def check_output(bench: Bench, result: HostResult, output: Path) -> None:
    """A host counts as done only with a byte-identical copy of the file."""
    if result.seconds is None:
        return
    if not output.is_file():
        result.seconds, result.error = None, "no output file"
    elif sha256_of(output) != bench.sha256:
        result.seconds, result.error = None, "output differs from the file (sha256)"


@dataclass
class Launch:
    node: Node
    argv: list[str]
    env: dict[str, str] | None = None
    stdout: Path | None = None
    done_file: Path | None = None  # completion is this file (a wall-clock stamp), not exit


@dataclass
class Clients:
    hosts: list[HostResult]
    samples: list[tuple[float, Counters]]
    procs: dict[str, subprocess.Popen[bytes]]
    cpu_busy: float
    matrix: dict[str, dict[str, tuple[int, float | None]]]


def run_clients(
    bench: Bench, system: str, launches: list[Launch], connections: bool = False
) -> Clients:
    """Start every client at t0 and wait until all are done or the timeout passes.

    With ``connections``, every host's TCP connections are sampled too (who sent to whom).
    """
    sampler = LinkSampler(bench.topo)
    topo = bench.topo
    conns = ConnSampler(topo.peers, {n.ip: n.role for n in topo.nodes}) if connections else None
    t0 = time.monotonic()
    wall0 = time.time()
    sampler.start(t0)
    if conns is not None:
        conns.start(t0)
    procs = {
        item.node.role: bench.procs.spawn(
            f"{system}-{item.node.role}-client", item.node.ns, item.argv, item.env, item.stdout
        )
        for item in launches
    }
    results = {item.node.role: HostResult(item.node.role, None, "timeout") for item in launches}
    pending = {item.node.role: item for item in launches}
    while pending and time.monotonic() - t0 < bench.timeout_s:
        for role, item in list(pending.items()):
            proc, result = procs[role], results[role]
            if item.done_file is not None:
                if item.done_file.is_file() and item.done_file.stat().st_size:
                    stamp = float(item.done_file.read_text().split()[0])
                    result.seconds, result.error = stamp - wall0, ""
                    del pending[role]
                elif proc.poll() is not None:
                    result.error = f"exited with {proc.returncode} before completing"
                    del pending[role]
            elif proc.poll() is not None:
                if proc.returncode == 0:
                    result.seconds, result.error = time.monotonic() - t0, ""
                else:
                    result.error = f"exited with {proc.returncode}"
                del pending[role]
        time.sleep(0.01)
    cpu = sampler.cpu_busy()
    samples = sampler.stop()
    matrix = {}
    if conns is not None:
        conns.stop()
        matrix = conns.matrix()
    hosts = [results[item.node.role] for item in launches]
    return Clients(hosts, samples, procs, cpu, matrix)
