"""Which tasks storage GC evicts (pure): expired first, then least recently used until
the quota and the disk's low watermark hold. A running task is never evicted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskUsage:
    id: str
    size: int
    accessed_at: float
    running: bool


@dataclass(frozen=True)
class GcLimits:
    ttl_s: float
    quota_bytes: int = 0
    """0: no quota."""
    disk_total: int = 0
    disk_used: int = 0
    high_watermark: float = 0.9
    low_watermark: float = 0.8


def select_evictions(tasks: list[TaskUsage], limits: GcLimits, now: float) -> list[str]:
    """Ids to evict, in eviction order.

    Disk pressure starts when use passes the high watermark and evicts down to the low
    one (hysteresis, so GC does not run on every new piece); the quota is a hard cap.
    """
    idle = least_recently_used_first(tasks)
    evicted = [t for t in idle if now - t.accessed_at > limits.ttl_s]
    held = sum(t.size for t in tasks) - sum(t.size for t in evicted)
    disk_used = limits.disk_used - sum(t.size for t in evicted)
    disk_pressure = bool(limits.disk_total) and (
        limits.disk_used > limits.disk_total * limits.high_watermark
    )
    for task in idle:
        if task in evicted:
            continue
        over_quota = bool(limits.quota_bytes) and held > limits.quota_bytes
        over_disk = disk_pressure and disk_used > limits.disk_total * limits.low_watermark
        if not (over_quota or over_disk):
            break
        evicted.append(task)
        held -= task.size
        disk_used -= task.size
    return [t.id for t in evicted]


def least_recently_used_first(tasks: list[TaskUsage]) -> list[TaskUsage]:
    """The tasks GC may evict (none running), in the order it evicts them."""
    return sorted((t for t in tasks if not t.running), key=lambda t: t.accessed_at)


def select_for_room(tasks: list[TaskUsage], needed: int, free: int) -> list[str]:
    """Ids to evict so that ``needed`` bytes are free (``free`` are now), least recently
    used first and no more than it takes; all idle ones when even that is not enough."""
    evicted: list[str] = []
    for task in least_recently_used_first(tasks):
        if free >= needed:
            break
        evicted.append(task.id)
        free += task.size
    return evicted
