"""Emulated hosts: one network namespace per host, each with ``eth0`` on a veth whose
other end is a port of a bridge that lives in a namespace of its own (nothing is added
to the root namespace). Every host's upload is capped with ``tc tbf`` on its ``eth0``
and its download with ``tc tbf`` on its bridge port (this kernel has no netem).

Namespace names are ``<prefix><pid>-<role>``: a run owns the names with its pid, and
the names of a run whose process is gone are removed by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.99.0"
MAX_HOSTS = 200
TBF_LATENCY = "50ms"


class NetnsError(Exception):
    pass


def sh(*argv: str, check: bool = True, timeout: float = 30) -> str:
    """Run a command, return its stdout; raise NetnsError with its stderr on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def list_namespaces() -> list[str]:
    names = []
    for line in sh("ip", "netns", "list").splitlines():
        if line.strip():
            names.append(line.split()[0])
    return names


def namespace_pids(name: str) -> list[int]:
    out = sh("ip", "netns", "pids", name, check=False)
    return [int(word) for word in out.split() if word.isdigit()]


def delete_namespace(name: str) -> None:
    """Kill what still runs inside (processes of a benchmark run), then delete it."""
    for _ in range(50):
        pids = namespace_pids(name)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    sh("ip", "netns", "del", name, check=False)


def _run_alive(pid: int) -> bool:
    """The run that owns a name is alive: its pid exists and runs bench.swarm."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"bench.swarm" in cmdline or b"bench/swarm" in cmdline


def _stale(name: str, prefix: str) -> bool:
    if not name.startswith(prefix):
        return False
    owner = name[len(prefix) :].split("-", 1)[0]
    return not (owner.isdigit() and int(owner) != os.getpid() and _run_alive(int(owner)))


def cleanup_stale(prefix: str, workdir_bases: list[Path]) -> list[str]:
    """Delete namespaces named ``<prefix><pid>-...`` whose run is gone, and that run's
    work folders (``<base>/<prefix><pid>-*``)."""
    removed = []
    for name in list_namespaces():
        if _stale(name, prefix):
            delete_namespace(name)
            removed.append(name)
    for base in workdir_bases:
        with contextlib.suppress(OSError):
            for path in base.iterdir():
                if path.is_dir() and _stale(path.name, prefix):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(str(path))
    return removed


@dataclass
class Node:
    role: str
    ns: str
    ip: str
    port: str  # the bridge port (in the bridge namespace) of this host's veth


@dataclass
class Topology:
    prefix: str
    hosts: int
    rate_bps: int
    tag: str = ""
    bridge_ns: str = ""
    origin: Node = field(init=False)
    sched: Node = field(init=False)
    peers: list[Node] = field(init=False)
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise NetnsError(f"hosts must be 1 to {MAX_HOSTS}")
        self.tag = f"{self.prefix}{os.getpid()}-"
        self.bridge_ns = self.tag + "br"
        self.origin = Node("origin", self.tag + "o", f"{SUBNET}.2", "p-o")
        self.sched = Node("sched", self.tag + "s", f"{SUBNET}.3", "p-s")
        self.peers = [
            Node(f"h{i}", self.tag + f"h{i}", f"{SUBNET}.{10 + i}", f"p-h{i}")
            for i in range(1, self.hosts + 1)
        ]

    @property
    def nodes(self) -> list[Node]:
        return [self.origin, self.sched, *self.peers]

    def tbf(self) -> list[str]:
        rate_bytes = self.rate_bps // 8
        burst = max(64 * 1024, rate_bytes // 250)
        return ["tbf", "rate", f"{self.rate_bps}bit", "burst", str(burst), "latency", TBF_LATENCY]

    def create(self) -> None:
        br = self.bridge_ns
        sh("ip", "netns", "add", br)
        self.created.append(br)
        sh("ip", "-n", br, "link", "set", "lo", "up")
        sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", br, "link", "set", "br0", "up")
        for node in self.nodes:
            sh("ip", "netns", "add", node.ns)
            self.created.append(node.ns)
            sh(
                "ip",
                "-n",
                br,
                "link",
                "add",
                node.port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                node.ns,
            )
            sh("ip", "-n", br, "link", "set", node.port, "master", "br0")
            sh("ip", "-n", br, "link", "set", node.port, "up")
            sh("ip", "-n", node.ns, "link", "set", "lo", "up")
            sh("ip", "-n", node.ns, "addr", "add", f"{node.ip}/24", "dev", "eth0")
            sh("ip", "-n", node.ns, "link", "set", "eth0", "up")
            sh("tc", "-n", node.ns, "qdisc", "add", "dev", "eth0", "root", *self.tbf())
            sh("tc", "-n", br, "qdisc", "add", "dev", node.port, "root", *self.tbf())

    def destroy(self) -> list[str]:
        """Delete every namespace of this run; return the names still there (none)."""
        for name in reversed(self.created):
            delete_namespace(name)
        self.created.clear()
        return [n for n in list_namespaces() if n.startswith(self.tag)]

    def link_counters(self) -> dict[str, tuple[int, int]]:
        """Bytes each host sent and received so far: ``{role: (up, down)}``.

        Read on the bridge ports: what a port received is what its host uploaded.
        """
        out = sh("ip", "-n", self.bridge_ns, "-s", "-j", "link", "show", timeout=10)
        by_port = {}
        for link in json.loads(out):
            stats = link.get("stats64", {})
            by_port[link["ifname"]] = (
                int(stats.get("rx", {}).get("bytes", 0)),
                int(stats.get("tx", {}).get("bytes", 0)),
            )
        return {n.role: by_port.get(n.port, (0, 0)) for n in self.nodes}
