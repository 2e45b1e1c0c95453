"""Prometheus metrics of the scheduler (reference/dragonfly.md §8), namespace ``damselfly``.

Each scheduler owns a registry, so several run in one process (tests, benchmarks). The
adapter (rpc.py) counts requests and failures per message kind; the service counts what
only it knows (traffic, download durations, pushed parents). Python's client has no
quantile summaries: the ``*_milliseconds`` summaries export count and sum.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary, generate_latest

NAMESPACE = "damselfly"
SUBSYSTEM = "scheduler"

# Requests counted as ``<name>_total`` and ``<name>_failure_total`` (Dragonfly's names).
REQUESTS = (
    "announce_peer",
    "register_peer",
    "download_peer_started",
    "download_peer_back_to_source_started",
    "download_peer_finished",
    "download_peer_back_to_source_finished",
    "download_piece_finished",
    "download_piece_back_to_source_finished",
    "reschedule_peer",
    "stat_peer",
    "leave_peer",
    "stat_task",
    "leave_task",
    "announce_host",
    "list_hosts",
    "leave_host",
)

# Upper bounds of Dragonfly's task size levels (bytes); level i is "< bound i".
_MB = 1 << 20
SIZE_LEVEL_BOUNDS = (
    1,
    _MB,
    4 * _MB,
    8 * _MB,
    16 * _MB,
    32 * _MB,
    64 * _MB,
    128 * _MB,
    256 * _MB,
    512 * _MB,
    1 << 30,
    4 << 30,
    8 << 30,
    16 << 30,
    32 << 30,
    64 << 30,
    128 << 30,
    256 << 30,
    512 << 30,
    1 << 40,
)


def task_size_level(content_length: int) -> str:
    """Dragonfly's ``task_size_level`` label: 0 for empty, then one per bound, last ≥ 1 TiB."""
    if content_length <= 0:
        return "0"
    for level, bound in enumerate(SIZE_LEVEL_BOUNDS[1:], start=1):
        if content_length < bound:
            return str(level)
    return str(len(SIZE_LEVEL_BOUNDS))


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.requests: dict[str, Counter] = {}
        self.failures: dict[str, Counter] = {}
        for name in REQUESTS:
            self.requests[name] = Counter(
                f"{name}_total",
                f"{name} requests.",
                namespace=NAMESPACE,
                subsystem=SUBSYSTEM,
                registry=reg,
            )
            self.failures[name] = Counter(
                f"{name}_failure_total",
                f"Failed {name} requests.",
                namespace=NAMESPACE,
                subsystem=SUBSYSTEM,
                registry=reg,
            )
        self._traffic: dict[tuple[str, str], Counter] = {}
        self.traffic = Counter(
            "traffic",
            "Bytes downloaded by peers, by where they came from.",
            ["type", "task_type", "host_type"],
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.download_peer_duration = Summary(
            "download_peer_duration_milliseconds",
            "Time a peer took to download a task.",
            ["task_size_level"],
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.schedule_duration = Summary(
            "schedule_duration_milliseconds",
            "Time one scheduling decision took.",
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.concurrent_schedule = Gauge(
            "concurrent_schedule_total",
            "Peers waiting for a parent.",
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.pushed_parents = Counter(
            "pushed_parents_total",
            "Parents sent to running peers without a request.",
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.bad_parents = Counter(
            "bad_parent_total",
            "Times a parent was judged bad by its piece costs.",
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.gc_peers = Counter(
            "gc_peer_total",
            "Peers removed by garbage collection.",
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )
        self.version = Gauge(
            "version",
            "Version of the scheduler.",
            ["version"],
            namespace=NAMESPACE,
            subsystem=SUBSYSTEM,
            registry=reg,
        )

    def traffic_of(self, kind: str, host_type: str) -> Counter:
        """The traffic counter for a normal task, by traffic and host type (cached)."""
        key = (kind, host_type)
        child = self._traffic.get(key)
        if child is None:
            child = self._traffic[key] = self.traffic.labels(kind, "normal", host_type)
        return child

    def count(self, name: str, *, failed: bool = False) -> None:
        self.requests[name].inc()
        if failed:
            self.failures[name].inc()

    def watch_waiting(self, count: Callable[[], int]) -> None:
        self.concurrent_schedule.set_function(lambda: float(count()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
