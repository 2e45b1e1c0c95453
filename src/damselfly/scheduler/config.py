"""Scheduler configuration (YAML keys follow Dragonfly's where the concept is the same)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from damselfly.common.config import Section

Algorithm = Literal["default", "dragonfly-base", "dragonfly-load"]


class ServerConfig(Section):
    listen_ip: str = Field("127.0.0.1", description="Address the gRPC server binds.")
    port: int = Field(8002, ge=0, le=65535, description="gRPC port; 0 picks a free one.")


class SchedulingConfig(Section):
    algorithm: Algorithm = Field(
        "default",
        description="Parent evaluator: 'default' (ours: measured throughput and progress), "
        "'dragonfly-base' (Dragonfly v2.2's six weighted terms) or 'dragonfly-load' "
        "(Dragonfly's current load-quality evaluator).",
    )
    candidate_parent_limit: int = Field(4, ge=1, le=20, description="Parents per answer.")
    filter_parent_limit: int = Field(15, ge=1, le=1000, description="Peers sampled per answer.")
    retry_interval_s: float = Field(
        0.5, gt=0, description="Wait between scheduling attempts (jittered by ±25%)."
    )
    retry_back_to_source_limit: int = Field(
        4, ge=0, description="Attempts without a parent before a peer goes back to source."
    )
    retry_limit: int = Field(
        5,
        ge=0,
        description="Attempts without a parent before a peer that may not go back to source fails.",
    )
    back_to_source_count: int = Field(
        200, ge=0, description="Peers of one task that may fetch from the origin at once."
    )
    # Bad-parent defaults, chosen from tests/swarm (see scheduling/bad_node.py for why).
    bad_parent_samples: int = Field(
        30,
        ge=2,
        description="Piece costs a parent needs before the sigma rule applies; below it the "
        "mean-factor rule does.",
    )
    bad_parent_sigma: float = Field(
        6.0, gt=0, description="A parent is bad when its last cost > mean + k*sigma (this is k)."
    )
    bad_parent_mean_factor: float = Field(
        20.0,
        gt=1,
        description="With few samples, a parent is bad when its last cost > this x mean.",
    )
    max_parents: int = Field(
        8,
        ge=1,
        le=64,
        description="Most parents one running peer is given in total, counting parents "
        "pushed to it after its first answer.",
    )
    push_interval_s: float = Field(
        1.0,
        ge=0,
        description="Least time between two unrequested parent lists sent to one peer; 0 "
        "sends none (Dragonfly's behaviour: parents only when a peer asks).",
    )
    seed_peer_register_timeout_s: float = Field(
        30,
        gt=0,
        description="A triggered seed peer that has not registered by then is asked again.",
    )
    seed_peer_failed_timeout_s: float = Field(
        1800, ge=0, description="How long a failed seed download keeps the seed from retrying."
    )


class GCConfig(Section):
    peer_gc_interval_s: float = Field(10, gt=0, description="How often peers are collected.")
    peer_ttl_s: float = Field(86400, gt=0, description="A peer idle this long leaves.")
    piece_download_timeout_s: float = Field(
        1800, gt=0, description="A downloading peer with no new piece for this long leaves."
    )
    peer_count_limit_for_task: int = Field(
        300,
        ge=1,
        description="Above this many peers, idle finished peers of a task without children "
        "are dropped.",
    )
    task_gc_interval_s: float = Field(1800, gt=0, description="How often tasks are collected.")
    host_gc_interval_s: float = Field(300, gt=0, description="How often hosts are collected.")
    host_ttl_s: float = Field(
        3600, gt=0, description="A host silent for this long leaves (with its peers)."
    )


class MetricsConfig(Section):
    enable: bool = Field(False, description="Serve Prometheus metrics over HTTP.")
    listen_ip: str = Field("127.0.0.1", description="Address the metrics server binds.")
    port: int = Field(8000, ge=0, le=65535, description="Metrics port; 0 picks a free one.")


class SchedulerConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    gc: GCConfig = Field(default_factory=GCConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    log_level: str = Field("INFO", description="Logging level.")
    ready_file: str = Field("", description="Write the bound address here as JSON when ready.")
