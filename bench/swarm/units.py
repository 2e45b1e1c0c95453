"""Sizes (``64MiB``) and rates (``100mbit``) as the command line and ``tc`` write them."""

from __future__ import annotations

import re

from damselfly.core import units
from damselfly.core.errors import InvalidArgument

# tc's rate units: bit, kbit, mbit, gbit (SI, bits per second); bps, kbps, ... are bytes.
_RATE_UNITS = {
    "bit": 1,
    "kbit": 1000,
    "mbit": 1000**2,
    "gbit": 1000**3,
    "bps": 8,
    "kbps": 8000,
    "mbps": 8 * 1000**2,
    "gbps": 8 * 1000**3,
}
_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")

MIB = 1 << 20


def parse_size(text: str) -> int:
    """``64MiB`` -> 67108864 bytes (binary units, as dfget reads them)."""
    try:
        return units.parse_size(text)
    except InvalidArgument as exc:
        raise ValueError(str(exc)) from None


def parse_rate(text: str) -> int:
    """``100mbit`` -> 100000000 bits per second (``tc`` units)."""
    match = _NUMBER_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _RATE_UNITS:
        raise ValueError(f"not a rate: {text!r} (examples: 50mbit, 100mbit, 1gbit)")
    return int(float(match.group(1)) * _RATE_UNITS[unit])


def format_size(size: int) -> str:
    """67108864 -> ``64MiB`` (exact binary units where possible)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
