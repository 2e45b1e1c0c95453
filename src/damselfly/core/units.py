"""Sizes as people type them: ``4MiB``, ``100M``, ``1.5GiB``, ``512`` (bytes).

Units are binary, with or without the ``i`` (``MB`` = ``MiB`` = 2^20), as Dragonfly's
dfget reads them.
"""

from __future__ import annotations

import re

from damselfly.core.errors import InvalidArgument

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SUFFIXES = ("", "b", "i", "ib")


def parse_size(text: str) -> int:
    """Bytes in ``text``; raises InvalidArgument naming the accepted forms."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    factor = _FACTORS.get(unit[:1]) if unit else 1
    if match is None or factor is None or (unit and unit[1:] not in _SUFFIXES):
        raise InvalidArgument(f"size {text!r} is not valid; use e.g. 512, 4MiB, 100M or 1.5GiB")
    return int(float(match.group(1)) * factor)
