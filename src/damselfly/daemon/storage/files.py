"""Content files at the byte level: positioned writes, space taken, whole-file digests."""

from __future__ import annotations

import os
from pathlib import Path

from damselfly.core.digest import new_hasher


def write_at(fd: int, offset: int, data: memoryview) -> None:
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)


def allocated(path: Path) -> int:
    """Bytes the file takes on disk (a sparse file only what was written)."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a whole file (run it in a thread: it reads the file)."""
    hasher = new_hasher(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(4 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()
