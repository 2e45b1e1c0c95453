"""Digests: crc32c for pieces, sha256 (and friends) for whole contents."""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Protocol

import crc32c as _crc32c

from damselfly.core.errors import InvalidArgument

_HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^(md5|sha1|sha256|sha512):([0-9a-f]+)$")
# zlib's CRC-32 (IEEE) written in decimal, as Dragonfly's Rust client writes it.
_CRC32_RE = re.compile(r"^crc32:(\d{1,10})$")


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """crc32c of ``data`` continuing from ``value``; takes buffers without copying."""
    return int(_crc32c.crc32c(data, value))


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class _Crc32:
    """zlib's CRC-32 behind hashlib's interface; its "hexdigest" is decimal, as
    Dragonfly's Rust client writes a crc32 digest."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def hexdigest(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as ``sha256:<64 hex>`` (or ``crc32:<decimal>``)."""

    algorithm: str
    hex: str
    """The value as written after the colon: hex digits, decimal for crc32."""

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> Hasher:
        return new_hasher(self.algorithm)


def new_hasher(algorithm: str) -> Hasher:
    """A hasher whose ``hexdigest()`` is written as a digest of ``algorithm`` is."""
    if algorithm == "crc32":
        return _Crc32()
    return hashlib.new(algorithm)


def parse_digest(text: str) -> Digest:
    """Parse ``alg:hex``; raises InvalidArgument with a sentence a user can act on."""
    normal = text.strip().lower()
    crc32 = _CRC32_RE.match(normal)
    if crc32 is not None and int(crc32.group(1)) < 1 << 32:
        return Digest("crc32", str(int(crc32.group(1))))
    match = _DIGEST_RE.match(normal)
    if match is None or len(match.group(2)) != _HEX_LENGTH[match.group(1)]:
        raise InvalidArgument(
            f"digest {text!r} is not valid; use sha256:<64 hex digits> "
            "(md5, sha1, sha512 and crc32:<decimal> are accepted too)"
        )
    return Digest(match.group(1), match.group(2))
