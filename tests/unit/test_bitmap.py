"""The finished-pieces bitmap."""

from __future__ import annotations

import pytest

from damselfly.core.bitmap import Bitmap


def test_empty() -> None:
    bitmap = Bitmap()
    assert len(bitmap) == 0
    assert list(bitmap) == []
    assert 0 not in bitmap
    assert bitmap.missing(3) == [0, 1, 2]
    assert bitmap.is_complete(0)
    assert not bitmap.is_complete(1)


def test_add_reports_new_numbers_only() -> None:
    bitmap = Bitmap()
    assert bitmap.add(5)
    assert not bitmap.add(5)
    assert bitmap.add(0)
    assert len(bitmap) == 2


@pytest.mark.parametrize(
    "numbers", [[], [0], [3, 1, 2], [1000, 0, 63, 64, 65], [7, 7, 7], list(range(100, 0, -3))]
)
def test_iterates_set_numbers_in_order(numbers: list[int]) -> None:
    bitmap = Bitmap(numbers)
    assert list(bitmap) == sorted(set(numbers))
    assert len(bitmap) == len(set(numbers))
    for number in range(max(numbers, default=0) + 2):
        assert (number in bitmap) is (number in numbers)


def test_membership_of_non_pieces() -> None:
    bitmap = Bitmap([0, 1])
    assert -1 not in bitmap
    assert "0" not in bitmap


def test_negative_numbers_rejected() -> None:
    with pytest.raises(ValueError):
        Bitmap().add(-1)


@pytest.mark.parametrize(
    ("numbers", "total", "missing", "complete"),
    [
        ([], 0, [], True),
        ([0, 1, 2], 3, [], True),
        ([0, 2], 3, [1], False),
        ([1, 2], 3, [0], False),
        ([0, 1], 3, [2], False),
        ([5], 3, [0, 1, 2], False),
    ],
)
def test_missing_and_complete(
    numbers: list[int], total: int, missing: list[int], complete: bool
) -> None:
    bitmap = Bitmap(numbers)
    assert bitmap.missing(total) == missing
    assert bitmap.is_complete(total) is complete
