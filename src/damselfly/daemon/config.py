"""dfdaemon configuration (YAML keys follow Dragonfly's where the concept is the same)."""

from __future__ import annotations

import socket

from pydantic import Field, field_validator

from damselfly.common.config import Section


class HostConfig(Section):
    ip: str = Field("127.0.0.1", description="Address other peers reach this host on.")
    hostname: str = Field(default_factory=socket.gethostname, description="Host name.")
    idc: str = Field("", description="Data-center tag used for parent affinity.")
    location: str = Field("", description="Location tag, '|'-separated, for parent affinity.")
    max_tx_bandwidth: int = Field(
        0, ge=0, description="Upload capacity in bits/s told to the scheduler; 0: unknown."
    )
    max_rx_bandwidth: int = Field(
        0, ge=0, description="Download capacity in bits/s told to the scheduler; 0: unknown."
    )
    disable_shared: bool = Field(False, description="Serve no pieces to other peers.")


class SchedulerLinkConfig(Section):
    addresses: list[str] = Field(
        default_factory=list,
        description="Scheduler host:port list; a task's scheduler is chosen by consistent "
        "hashing of its id. Empty means no P2P: every download goes to the origin.",
    )
    schedule_timeout_s: float = Field(
        30.0, gt=0, description="Wait this long for the scheduler's first answer."
    )
    announce_interval_s: float = Field(30.0, gt=0, description="Host announce interval.")

    @field_validator("addresses")
    @classmethod
    def _host_ports(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            host, _, port = address.rpartition(":")
            if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"scheduler address {address!r} is not host:port")
        return addresses


class SeedPeerConfig(Section):
    enable: bool = Field(False, description="Run as a seed peer that fetches from the origin.")


class StorageConfig(Section):
    dir: str = Field("/var/lib/damselfly/daemon", description="Content files and metadata.")
    task_ttl_s: float = Field(6 * 3600, gt=0, description="Evict tasks unused this long.")
    gc_interval_s: float = Field(60, gt=0, description="How often storage GC runs.")
    quota_bytes: int = Field(0, ge=0, description="Most bytes of content kept; 0: no quota.")
    high_watermark_percent: float = Field(
        90, gt=0, le=100, description="Disk use that starts eviction."
    )
    low_watermark_percent: float = Field(
        80, gt=0, le=100, description="Disk use eviction brings the disk down to."
    )


class UploadConfig(Section):
    rate_limit: int = Field(0, ge=0, description="Bytes/s served to other peers; 0: none.")


class DownloadConfig(Section):
    concurrent_pieces: int = Field(8, ge=1, le=64, description="Pieces in flight per task.")
    buffer_budget_mb: int = Field(
        128, ge=16, description="Memory for piece buffers, shared by all downloads."
    )
    piece_timeout_s: float = Field(30.0, gt=0, description="Give up a piece after this long.")
    origin_connect_timeout_s: float = Field(10.0, gt=0, description="Origin connect timeout.")
    origin_retries: int = Field(
        3, ge=0, le=10, description="Retries of an origin answering 5xx or 429, with backoff."
    )
    origin_retry_backoff_s: float = Field(0.5, gt=0, description="First retry delay; doubles.")
    back_to_source_concurrency: int = Field(
        4, ge=1, le=16, description="Parallel ranged requests when the origin supports Range."
    )
    total_rate_limit: int = Field(0, ge=0, description="Bytes/s for all downloads; 0: none.")
    per_task_rate_limit: int = Field(0, ge=0, description="Bytes/s per task; 0: none.")


class ServerConfig(Section):
    listen_ip: str = Field("127.0.0.1", description="Address the TCP servers bind.")
    port: int = Field(4000, ge=0, le=65535, description="gRPC port for peers and schedulers.")
    upload_port: int = Field(4005, ge=0, le=65535, description="HTTP piece server port.")
    socket: str = Field(
        "/var/run/damselfly/dfdaemon.sock", description="Unix socket for the local CLIs."
    )


class DaemonConfig(Section):
    host: HostConfig = Field(default_factory=HostConfig)
    scheduler: SchedulerLinkConfig = Field(default_factory=SchedulerLinkConfig)
    seed_peer: SeedPeerConfig = Field(default_factory=SeedPeerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    upload: UploadConfig = Field(default_factory=UploadConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    log_level: str = Field("INFO", description="Logging level.")
    ready_file: str = Field("", description="Write bound addresses here as JSON when ready.")
