"""Piece length rule and piece ranges."""

from __future__ import annotations

from dataclasses import dataclass

from damselfly.core.errors import InvalidArgument

MIB = 1 << 20
MIN_PIECE_LENGTH = 4 * MIB
MAX_PIECE_LENGTH = 64 * MIB
UNKNOWN_LENGTH = -1


def piece_length_for(content_length: int) -> int:
    """Next power of two of ``content_length / 500``, clamped to 4-64 MiB.

    Unknown lengths (-1) get the minimum, like Dragonfly's clients.
    """
    if content_length < 0:
        return MIN_PIECE_LENGTH
    wanted = content_length // 500
    if wanted <= MIN_PIECE_LENGTH:
        return MIN_PIECE_LENGTH
    power = 1 << (wanted - 1).bit_length()
    return min(power, MAX_PIECE_LENGTH)


def is_piece_length(length: int) -> bool:
    """A power of two within 4-64 MiB, as every task's piece length is."""
    return MIN_PIECE_LENGTH <= length <= MAX_PIECE_LENGTH and not length & (length - 1)


def validate_piece_length(length: int) -> int:
    """A user-chosen piece length must be a power of two within 4-64 MiB."""
    if not is_piece_length(length):
        raise InvalidArgument(
            f"piece length {length} is not valid; use a power of two from 4 MiB to 64 MiB"
        )
    return length


def piece_count(content_length: int, piece_length: int) -> int:
    """Number of pieces of a content of known length (an empty content has none)."""
    if content_length < 0:
        raise ValueError("piece count of an unknown length")
    return -(-content_length // piece_length)


@dataclass(frozen=True, slots=True)
class PieceRange:
    """Piece ``number`` covers ``[offset, offset + length)`` of the content."""

    number: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        """Offset one past the last byte."""
        return self.offset + self.length


def piece_range(number: int, piece_length: int, content_length: int) -> PieceRange:
    """The byte range of piece ``number``; the last piece holds the remainder."""
    count = piece_count(content_length, piece_length)
    if not 0 <= number < count:
        raise ValueError(f"piece {number} is outside 0..{count - 1}")
    offset = number * piece_length
    return PieceRange(number, offset, min(piece_length, content_length - offset))


def fits_layout(
    number: int, offset: int, length: int, piece_length: int, content_length: int
) -> bool:
    """Piece ``number`` sits where the layout puts it: its offset and length follow from
    its number (with the content's length unknown, it starts on its piece's boundary and
    is no longer than a piece)."""
    if number < 0 or offset != number * piece_length or length <= 0:
        return False
    if content_length < 0:
        return length <= piece_length
    return offset < content_length and length == min(piece_length, content_length - offset)


def piece_ranges(piece_length: int, content_length: int) -> list[PieceRange]:
    """All piece ranges of a content, in order."""
    return [
        piece_range(n, piece_length, content_length)
        for n in range(piece_count(content_length, piece_length))
    ]


def pieces_covering(start: int, length: int, piece_length: int) -> range:
    """Numbers of the pieces that hold bytes ``[start, start + length)``."""
    if length <= 0:
        return range(0)
    return range(start // piece_length, (start + length - 1) // piece_length + 1)
