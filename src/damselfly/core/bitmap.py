"""A set of finished piece numbers, compact and cheap to count."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Bitmap:
    """Finished pieces as bits of one Python int."""

    __slots__ = ("_bits", "_count")

    def __init__(self, numbers: Iterable[int] = ()) -> None:
        self._bits = 0
        self._count = 0
        for number in numbers:
            self.add(number)

    def add(self, number: int) -> bool:
        """Set ``number``; returns False when it was already set."""
        if number < 0:
            raise ValueError("piece numbers are not negative")
        mask = 1 << number
        if self._bits & mask:
            return False
        self._bits |= mask
        self._count += 1
        return True

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and number >= 0 and bool(self._bits >> number & 1)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        bits, base = self._bits, 0
        while bits:
            low = bits & -bits
            yield base + low.bit_length() - 1
            bits ^= low

    def missing(self, total: int) -> list[int]:
        """Numbers in ``0..total-1`` not set."""
        return [n for n in range(total) if not self._bits >> n & 1]

    def is_complete(self, total: int) -> bool:
        return self._count >= total and self._bits == (1 << total) - 1
