"""Plain domain records shared by components and the wire conversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class HostType(IntEnum):
    """Dragonfly's host types: a normal peer, or a seed peer (``super``)."""

    NORMAL = 0
    SEED = 1


class Priority(IntEnum):
    """Download priorities 0-6 with Dragonfly's meanings."""

    LEVEL0 = 0
    LEVEL1 = 1
    LEVEL2 = 2
    LEVEL3 = 3
    LEVEL4 = 4
    LEVEL5 = 5
    LEVEL6 = 6


class Traffic(IntEnum):
    """Where the bytes of a piece came from."""

    BACK_TO_SOURCE = 0
    SEED_PEER = 1
    REMOTE_PEER = 2
    LOCAL = 3


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What a daemon announces about its host."""

    id: str
    type: HostType
    hostname: str
    ip: str
    port: int
    download_port: int
    idc: str = ""
    location: str = ""
    upload_limit: int = 200
    max_tx_bandwidth: int = 0
    """Bits per second the host may upload; 0 when unknown."""
    max_rx_bandwidth: int = 0
    disable_shared: bool = False


@dataclass(frozen=True, slots=True)
class ParentInfo:
    """A candidate parent as handed to a child: where to sync and fetch pieces."""

    peer_id: str
    host: HostInfo


@dataclass(frozen=True, slots=True)
class PieceInfo:
    """A finished piece: its place, its crc32c and how it was obtained."""

    number: int
    offset: int
    length: int
    crc32c: int
    parent_id: str = ""
    traffic: Traffic = Traffic.BACK_TO_SOURCE
    cost_ns: int = 0
    digest_pending: bool = False
    """Still arriving from the origin: ``crc32c`` is not known yet."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``[start, start + length)`` of a content."""

    start: int
    length: int


@dataclass(slots=True)
class DownloadRequest:
    """One download as asked for by a user or a scheduler."""

    url: str
    output_path: str = ""
    digest: str = ""
    tag: str = ""
    application: str = ""
    filtered_query_params: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    piece_length: int | None = None
    priority: Priority = Priority.LEVEL6
    disable_back_to_source: bool = False
    need_back_to_source: bool = False
    timeout_s: float = 0.0
    rate_limit: int = 0
    range: ByteRange | None = None
    overwrite: bool = False
    force_hard_link: bool = False
    content_for_calculating_task_id: str = ""


@dataclass(slots=True)
class TrafficTotals:
    """Bytes of one download by where they came from."""

    back_to_source: int = 0
    seed_peer: int = 0
    remote_peer: int = 0
    local: int = 0

    def add(self, traffic: Traffic, length: int) -> None:
        if traffic is Traffic.BACK_TO_SOURCE:
            self.back_to_source += length
        elif traffic is Traffic.SEED_PEER:
            self.seed_peer += length
        elif traffic is Traffic.REMOTE_PEER:
            self.remote_peer += length
        else:
            self.local += length
