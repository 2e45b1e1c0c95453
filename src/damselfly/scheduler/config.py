"""Scheduler configuration (YAML keys follow Dragonfly's where the concept is the same)."""

from __future__ import annotations

from pydantic import Field

from damselfly.common.config import Section


class ServerConfig(Section):
    listen_ip: str = Field("127.0.0.1", description="Address the gRPC server binds.")
    port: int = Field(8002, ge=0, le=65535, description="gRPC port; 0 picks a free one.")


class SchedulingConfig(Section):
    candidate_parent_limit: int = Field(4, ge=1, le=20, description="Parents per answer.")
    filter_parent_limit: int = Field(15, ge=1, le=1000, description="Peers sampled per answer.")
    retry_interval_s: float = Field(0.5, gt=0, description="Wait between scheduling attempts.")
    retry_back_to_source_limit: int = Field(
        4, ge=0, description="Attempts without a parent before a peer goes back to source."
    )
    back_to_source_count: int = Field(
        200, ge=0, description="Peers of one task that may fetch from the origin at once."
    )
    seed_peer_register_timeout_s: float = Field(
        30,
        gt=0,
        description="A triggered seed peer that has not registered by then is asked again.",
    )
    seed_peer_failed_timeout_s: float = Field(
        1800, ge=0, description="How long a failed seed download keeps the seed from retrying."
    )


class SchedulerConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    log_level: str = Field("INFO", description="Logging level.")
    ready_file: str = Field("", description="Write the bound address here as JSON when ready.")
