"""Who sent how much to whom: every host's TCP connections, sampled with ``ss -ti`` in
its namespace (``bytes_received`` per connection, the largest value seen). Connections
that close between two samples lose at most one interval of bytes."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field

from bench.swarm.netns import Node

MIB = 1 << 20


def parse_ss(text: str) -> dict[tuple[str, str], int]:
    """``ss -tinH`` output -> {(local, remote): bytes_received}."""
    found: dict[tuple[str, str], int] = {}
    key: tuple[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            key = (words[-2], words[-1]) if len(words) >= 2 else None
            continue
        if key is None:
            continue
        for word in line.split():
            if word.startswith("bytes_received:"):
                found[key] = int(word.split(":", 1)[1])
    return found


@dataclass
class ConnSampler:
    hosts: list[Node]
    roles_by_ip: dict[str, str]
    interval_s: float = 1.0
    # host role -> connection -> (bytes received, seconds since t0 of the first sample
    # where it had at least 1 MiB)
    seen: dict[str, dict[tuple[str, str], tuple[int, float | None]]] = field(default_factory=dict)
    _t0: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for node in self.hosts:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                out = subprocess.run(
                    ["ip", "netns", "exec", node.ns, "ss", "-tinH", "state", "established"],
                    capture_output=True, text=True, timeout=5, check=False,
                ).stdout  # fmt: skip
                now = time.monotonic() - self._t0
                conns = self.seen.setdefault(node.role, {})
                for key, received in parse_ss(out).items():
                    old, first = conns.get(key, (0, None))
                    if first is None and received >= MIB:
                        first = now
                    conns[key] = (max(old, received), first)

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self._sample()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._sample()

    def matrix(self) -> dict[str, dict[str, tuple[int, float | None]]]:
        """{receiver: {sender: (bytes, first second with >= 1 MiB on one connection)}}."""
        result: dict[str, dict[str, tuple[int, float | None]]] = {}
        for role, conns in self.seen.items():
            row: dict[str, tuple[int, float | None]] = {}
            for (_, remote), (received, first) in conns.items():
                sender = self.roles_by_ip.get(remote.rsplit(":", 1)[0].strip("[]"))
                if sender is None or sender == role:
                    continue
                total, earliest = row.get(sender, (0, None))
                if first is not None and (earliest is None or first < earliest):
                    earliest = first
                row[sender] = (total + received, earliest)
            result[role] = row
        return result
