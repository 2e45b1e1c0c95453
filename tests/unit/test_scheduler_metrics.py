"""Scheduler metrics: Dragonfly's names under the damselfly namespace."""

from __future__ import annotations

import pytest

from damselfly.scheduler.metrics import REQUESTS, SchedulerMetrics, task_size_level

MB = 1 << 20


@pytest.mark.parametrize(
    ("length", "level"),
    [
        (0, "0"),
        (-1, "0"),
        (1, "1"),
        (MB - 1, "1"),
        (MB, "2"),
        (4 * MB, "3"),
        (100 * MB, "7"),
        ((1 << 30) - 1, "10"),
        (1 << 30, "11"),
        ((1 << 40) - 1, "19"),
        (1 << 40, "20"),
    ],
)
def test_task_size_levels(length: int, level: str) -> None:
    assert task_size_level(length) == level


def test_request_counters_and_failures() -> None:
    metrics = SchedulerMetrics()
    metrics.count("register_peer")
    metrics.count("register_peer", failed=True)
    registry = metrics.registry
    assert registry.get_sample_value("damselfly_scheduler_register_peer_total") == 2
    assert registry.get_sample_value("damselfly_scheduler_register_peer_failure_total") == 1


def test_every_family_is_exposed_with_the_namespace() -> None:
    metrics = SchedulerMetrics()
    metrics.traffic.labels("REMOTE_PEER", "normal", "normal").inc(10)
    metrics.download_peer_duration.labels("3").observe(12.0)
    text = metrics.exposition().decode()
    for name in REQUESTS:
        assert f"damselfly_scheduler_{name}_total " in text
        assert f"damselfly_scheduler_{name}_failure_total " in text
    for family in (
        "damselfly_scheduler_traffic_total",
        "damselfly_scheduler_download_peer_duration_milliseconds_count",
        "damselfly_scheduler_schedule_duration_milliseconds_count",
        "damselfly_scheduler_concurrent_schedule_total",
    ):
        assert family in text


def test_waiting_gauge_reads_the_live_count() -> None:
    metrics = SchedulerMetrics()
    waiting = [1, 2, 3]
    metrics.watch_waiting(lambda: len(waiting))
    name = "damselfly_scheduler_concurrent_schedule_total"
    assert metrics.registry.get_sample_value(name) == 3
    waiting.pop()
    assert metrics.registry.get_sample_value(name) == 2
