"""Sizes as typed on command lines and in config."""

from __future__ import annotations

import pytest

from damselfly.core.errors import InvalidArgument
from damselfly.core.units import parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        ("512B", 512),
        ("4MiB", 4 << 20),
        ("4mib", 4 << 20),
        ("4Mi", 4 << 20),
        ("4MB", 4 << 20),
        ("4M", 4 << 20),
        ("16k", 16 << 10),
        ("1.5GiB", 3 << 29),
        (" 2 GiB ", 2 << 30),
        ("1T", 1 << 40),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "-4MiB", "4 MiBs", "4XB", "4Mx", "1e3", "4 M B"])
def test_bad_sizes_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"use e\.g\. 512, 4MiB"):
        parse_size(text)
