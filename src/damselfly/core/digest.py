"""Digests: crc32c for pieces, sha256 (and friends) for whole contents."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import crc32c as _crc32c

from damselfly.core.errors import InvalidArgument

_HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^(md5|sha1|sha256|sha512):([0-9a-f]+)$")


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """crc32c of ``data`` continuing from ``value``; takes buffers without copying."""
    return int(_crc32c.crc32c(data, value))


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as ``sha256:<64 hex>``."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(text: str) -> Digest:
    """Parse ``alg:hex``; raises InvalidArgument with a sentence a user can act on."""
    match = _DIGEST_RE.match(text.strip().lower())
    if match is None or len(match.group(2)) != _HEX_LENGTH[match.group(1)]:
        raise InvalidArgument(
            f"digest {text!r} is not valid; use sha256:<64 hex digits> "
            "(md5, sha1 and sha512 are accepted too)"
        )
    return Digest(match.group(1), match.group(2))
