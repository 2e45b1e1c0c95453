"""Bencoding (BEP 3): just what a .torrent file and a tracker's answers need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Sequence and Mapping (not list and dict) so that e.g. a dict[str, int] is a Value.
Value = int | bytes | str | Sequence["Value"] | Mapping[str, "Value"] | Mapping[bytes, "Value"]


def bencode(value: Value) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Value, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, Mapping):
        items = [(k.encode() if isinstance(k, str) else k, v) for k, v in value.items()]
        out.append(b"d")
        for key, item in sorted(items, key=lambda pair: pair[0]):
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Value:
    """Decode one bencoded value (strings stay bytes, dict keys become bytes)."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing data at offset {end}")
    return value


def _decode(data: bytes, at: int) -> tuple[Value, int]:
    lead = data[at : at + 1]
    if lead == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if lead == b"l":
        items: list[Value] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        return items, at + 1
    if lead == b"d":
        mapping: dict[bytes, Value] = {}
        at += 1
        while data[at : at + 1] != b"e":
            key, at = _decode(data, at)
            if not isinstance(key, bytes):
                raise ValueError("dictionary key is not a string")
            mapping[key], at = _decode(data, at)
        return mapping, at + 1
    if lead.isdigit():
        colon = data.index(b":", at)
        start = colon + 1
        end = start + int(data[at:colon])
        if end > len(data):
            raise ValueError("string runs past the end")
        return data[start:end], end
    raise ValueError(f"unexpected byte {lead!r} at offset {at}")
