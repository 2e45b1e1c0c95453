"""Storage GC policy: expired first, then least recently used, never a running task."""

from __future__ import annotations

from damselfly.daemon.storage.gc import GcLimits, TaskUsage, select_evictions

NOW = 10_000.0
MIB = 1 << 20


def usage(name: str, size_mib: int, age_s: float, running: bool = False) -> TaskUsage:
    return TaskUsage(name, size_mib * MIB, NOW - age_s, running)


TASKS = [
    usage("old", 10, 500),
    usage("mid", 10, 300),
    usage("new", 10, 100),
    usage("running", 10, 900, running=True),
]


def test_nothing_to_do_within_limits() -> None:
    assert select_evictions(TASKS, GcLimits(ttl_s=3600), NOW) == []


def test_ttl_evicts_expired_idle_tasks_only() -> None:
    assert select_evictions(TASKS, GcLimits(ttl_s=200), NOW) == ["old", "mid"]


def test_quota_evicts_least_recently_used_first() -> None:
    limits = GcLimits(ttl_s=3600, quota_bytes=25 * MIB)
    assert select_evictions(TASKS, limits, NOW) == ["old", "mid"]


def test_running_task_survives_even_an_impossible_quota() -> None:
    limits = GcLimits(ttl_s=3600, quota_bytes=1)
    assert select_evictions(TASKS, limits, NOW) == ["old", "mid", "new"]


def test_disk_pressure_evicts_down_to_the_low_watermark() -> None:
    limits = GcLimits(
        ttl_s=3600, disk_total=100 * MIB, disk_used=95 * MIB, high_watermark=0.9, low_watermark=0.8
    )
    assert select_evictions(TASKS, limits, NOW) == ["old", "mid"]


def test_below_the_high_watermark_nothing_goes() -> None:
    limits = GcLimits(ttl_s=3600, disk_total=100 * MIB, disk_used=85 * MIB)
    assert select_evictions(TASKS, limits, NOW) == []
