"""Piece length rule and piece ranges (DESIGN.md §3 "Piece length")."""

from __future__ import annotations

import pytest

from damselfly.core.errors import InvalidArgument
from damselfly.core.pieces import (
    PieceRange,
    fits_layout,
    is_piece_length,
    piece_count,
    piece_length_for,
    piece_range,
    piece_ranges,
    pieces_covering,
    validate_piece_length,
)

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@pytest.mark.parametrize(
    ("content_length", "expected"),
    [
        (-1, 4 * MIB),  # unknown length
        (0, 4 * MIB),
        (1, 4 * MIB),
        (100 * MIB, 4 * MIB),
        (2000 * MIB, 4 * MIB),  # quotient is exactly 4 MiB
        (2000 * MIB + 499, 4 * MIB),  # integer quotient still 4 MiB
        (2000 * MIB + 500, 8 * MIB),  # quotient 4 MiB + 1 -> next power of two
        (4000 * MIB, 8 * MIB),  # exact power-of-two quotient stays
        (4000 * MIB + 500, 16 * MIB),
        (500 * 16 * MIB, 16 * MIB),
        (500 * 16 * MIB + 500, 32 * MIB),
        (500 * 64 * MIB, 64 * MIB),
        (500 * 64 * MIB + 500, 64 * MIB),  # clamped
        (1 << 50, 64 * MIB),  # huge
    ],
)
def test_piece_length_for(content_length: int, expected: int) -> None:
    assert piece_length_for(content_length) == expected


@pytest.mark.parametrize("length", [4 * MIB, 8 * MIB, 16 * MIB, 32 * MIB, 64 * MIB])
def test_validate_piece_length_accepts_powers_of_two_in_range(length: int) -> None:
    assert validate_piece_length(length) == length


@pytest.mark.parametrize(
    "length", [0, -4 * MIB, 2 * MIB, 4 * MIB - 1, 4 * MIB + 1, 12 * MIB, 128 * MIB, 64 * MIB + 1]
)
def test_validate_piece_length_rejects(length: int) -> None:
    with pytest.raises(InvalidArgument, match="power of two from 4 MiB to 64 MiB"):
        validate_piece_length(length)


@pytest.mark.parametrize(
    ("content_length", "piece_length", "expected"),
    [
        (0, 4 * MIB, 0),
        (1, 4 * MIB, 1),
        (4 * MIB - 1, 4 * MIB, 1),
        (4 * MIB, 4 * MIB, 1),
        (4 * MIB + 1, 4 * MIB, 2),
        (10, 3, 4),
        (GIB, 4 * MIB, 256),
    ],
)
def test_piece_count(content_length: int, piece_length: int, expected: int) -> None:
    assert piece_count(content_length, piece_length) == expected


def test_piece_count_of_unknown_length_raises() -> None:
    with pytest.raises(ValueError):
        piece_count(-1, 4 * MIB)


@pytest.mark.parametrize(
    ("number", "piece_length", "content_length", "expected"),
    [
        (0, 4, 10, PieceRange(0, 0, 4)),
        (1, 4, 10, PieceRange(1, 4, 4)),
        (2, 4, 10, PieceRange(2, 8, 2)),  # last piece holds the remainder
        (2, 4, 12, PieceRange(2, 8, 4)),  # exact multiple: full last piece
        (0, 4 * MIB, 1, PieceRange(0, 0, 1)),
    ],
)
def test_piece_range(
    number: int, piece_length: int, content_length: int, expected: PieceRange
) -> None:
    got = piece_range(number, piece_length, content_length)
    assert got == expected
    assert got.end == expected.offset + expected.length


@pytest.mark.parametrize(
    ("number", "piece_length", "content_length"),
    [(-1, 4, 10), (3, 4, 10), (3, 4, 12), (0, 4, 0)],
)
def test_piece_range_out_of_range_raises(
    number: int, piece_length: int, content_length: int
) -> None:
    with pytest.raises(ValueError):
        piece_range(number, piece_length, content_length)


@pytest.mark.parametrize(
    ("piece_length", "content_length"),
    [(4, 0), (4, 1), (4, 4), (4, 5), (4, 17), (4 * MIB, 10 * MIB + 3), (7, 1000)],
)
def test_piece_ranges_cover_the_content_exactly(piece_length: int, content_length: int) -> None:
    ranges = piece_ranges(piece_length, content_length)
    assert [r.number for r in ranges] == list(range(len(ranges)))
    position = 0
    for r in ranges:
        assert r.offset == position  # no gap, no overlap
        assert 0 < r.length <= piece_length
        position = r.end
    assert position == content_length
    assert all(r.length == piece_length for r in ranges[:-1])


@pytest.mark.parametrize(
    ("start", "length", "piece_length", "expected"),
    [
        (0, 0, 4, []),
        (5, -1, 4, []),
        (0, 1, 4, [0]),
        (0, 4, 4, [0]),
        (0, 5, 4, [0, 1]),
        (3, 2, 4, [0, 1]),
        (4, 4, 4, [1]),
        (7, 1, 4, [1]),
        (7, 6, 4, [1, 2, 3]),
    ],
)
def test_pieces_covering(start: int, length: int, piece_length: int, expected: list[int]) -> None:
    assert list(pieces_covering(start, length, piece_length)) == expected


def test_a_piece_fits_the_layout_only_where_its_number_puts_it() -> None:
    piece, content = 4 * MIB, 10 * MIB  # pieces 0 and 1 of 4 MiB, piece 2 of 2 MiB
    assert fits_layout(0, 0, piece, piece, content)
    assert fits_layout(2, 8 * MIB, 2 * MIB, piece, content)
    assert not fits_layout(1, 0, piece, piece, content)  # another piece's offset
    assert not fits_layout(2, 8 * MIB, piece, piece, content)  # past the content's end
    assert not fits_layout(3, 12 * MIB, piece, piece, content)  # no such piece
    assert not fits_layout(-1, -piece, piece, piece, content)
    assert not fits_layout(0, 0, 0, piece, content)
    # The content's length unknown: on its boundary, no longer than a piece.
    assert fits_layout(5, 5 * piece, 1000, piece, -1)
    assert not fits_layout(5, 5 * piece + 1, 1000, piece, -1)
    assert not fits_layout(5, 5 * piece, piece + 1, piece, -1)


def test_piece_lengths_are_powers_of_two_from_4_to_64_mib() -> None:
    assert is_piece_length(4 * MIB) and is_piece_length(64 * MIB)
    assert not is_piece_length(0)
    assert not is_piece_length(2 * MIB)
    assert not is_piece_length(128 * MIB)
    assert not is_piece_length(6 * MIB)
