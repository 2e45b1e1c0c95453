"""Content digests and the crc32c piece digest."""

from __future__ import annotations

import pytest

from damselfly.core.digest import Digest, crc32c, parse_digest
from damselfly.core.errors import InvalidArgument

HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


@pytest.mark.parametrize(("algorithm", "hex_length"), sorted(HEX_LENGTHS.items()))
def test_parse_digest_accepts_known_algorithms(algorithm: str, hex_length: int) -> None:
    hex_digits = ("0123456789abcdef" * 8)[:hex_length]
    assert parse_digest(f"{algorithm}:{hex_digits}") == Digest(algorithm, hex_digits)
    # Case-insensitive input, normalised to lower case.
    assert parse_digest(f"{algorithm.upper()}:{hex_digits.upper()}") == Digest(
        algorithm, hex_digits
    )
    assert str(parse_digest(f"{algorithm}:{hex_digits}")) == f"{algorithm}:{hex_digits}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        "a" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "g" * 64,
        "md5:" + "a" * 64,  # right digits for another algorithm
        "sha512:" + "a" * 64,
        "sha384:" + "a" * 96,
        "crc32:e3069283",
        "blake3:" + "a" * 64,
        "sha256;" + "a" * 64,
    ],
)
def test_parse_digest_rejects_with_advice(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_digest(text)
    assert "sha256:<64 hex digits>" in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("crc32:1475635037", "1475635037"), ("CRC32:0042", "42"), ("crc32:4294967295", "4294967295")],
)
def test_parse_digest_accepts_crc32_in_decimal(text: str, value: str) -> None:
    # Dragonfly's Rust client writes zlib's CRC-32 in decimal.
    assert parse_digest(text) == Digest("crc32", value)


@pytest.mark.parametrize("text", ["crc32:4294967296", "crc32:12345678901", "crc32:-1"])
def test_parse_digest_rejects_a_crc32_out_of_range(text: str) -> None:
    with pytest.raises(InvalidArgument, match="crc32:<decimal>"):
        parse_digest(text)


def test_crc32_hasher_writes_what_dragonfly_writes() -> None:
    hasher = parse_digest("crc32:0").hasher()
    hasher.update(b"test ")
    hasher.update(b"content")
    assert hasher.hexdigest() == "1475635037"  # the Rust client's own test vector


def test_digest_hasher_matches_algorithm() -> None:
    digest = parse_digest("sha256:" + "0" * 64)
    hasher = digest.hasher()
    hasher.update(b"abc")
    assert hasher.hexdigest() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xE3069283  # the CRC-32C (Castagnoli) check value


def test_crc32c_check_value() -> None:
    assert crc32c(CHECK_INPUT) == CHECK_VALUE


@pytest.mark.parametrize("split", [0, 1, 4, 8, 9])
def test_crc32c_continues_across_chunks(split: int) -> None:
    first = crc32c(CHECK_INPUT[:split])
    assert crc32c(CHECK_INPUT[split:], first) == CHECK_VALUE


@pytest.mark.parametrize(
    "buffer",
    [bytearray(CHECK_INPUT), memoryview(CHECK_INPUT), memoryview(b"xx" + CHECK_INPUT)[2:]],
)
def test_crc32c_takes_buffers(buffer: bytearray | memoryview) -> None:
    assert crc32c(buffer) == CHECK_VALUE


def test_crc32c_of_nothing_is_zero() -> None:
    assert crc32c(b"") == 0
