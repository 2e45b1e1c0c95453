"""A single-file .torrent (BEP 3 metainfo) made with our own bencoding."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.swarm.bencode import Value, bencode


def make_torrent(file: Path, announce: str, piece_length: int) -> tuple[bytes, str]:
    """Return the .torrent bytes and the info-hash (hex) for ``file``."""
    if piece_length < 16384 or piece_length & (piece_length - 1):
        raise ValueError("piece length must be a power of two of at least 16 KiB")
    hashes: list[bytes] = []
    with open(file, "rb") as source:
        while piece := source.read(piece_length):
            hashes.append(hashlib.sha1(piece).digest())
    info: dict[str, Value] = {
        "name": file.name,
        "length": file.stat().st_size,
        "piece length": piece_length,
        "pieces": b"".join(hashes),
    }
    meta = bencode({"announce": announce, "created by": "damselfly bench.swarm", "info": info})
    return meta, hashlib.sha1(bencode(info)).hexdigest()
