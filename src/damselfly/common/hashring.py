"""Consistent hashing: all peers of a task meet on one scheduler and one seed peer."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _point(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class HashRing:
    """A ring of members with ``replicas`` virtual points each."""

    def __init__(self, members: Iterable[str], replicas: int = 100) -> None:
        self._points: list[tuple[int, str]] = sorted(
            (_point(f"{member}#{i}"), member) for member in set(members) for i in range(replicas)
        )
        self._keys = [point for point, _ in self._points]

    def __len__(self) -> int:
        return len({member for _, member in self._points})

    def get(self, key: str) -> str | None:
        """The member owning ``key``, or None for an empty ring."""
        if not self._points:
            return None
        index = bisect.bisect(self._keys, _point(key)) % len(self._points)
        return self._points[index][1]

    def ordered(self, key: str) -> list[str]:
        """Every member in ring order starting from ``key``'s owner (for fail-over)."""
        if not self._points:
            return []
        start = bisect.bisect(self._keys, _point(key))
        seen: list[str] = []
        for offset in range(len(self._points)):
            member = self._points[(start + offset) % len(self._points)][1]
            if member not in seen:
                seen.append(member)
        return seen
