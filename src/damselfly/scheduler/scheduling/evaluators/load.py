"""Dragonfly's current evaluator (``evaluator_default.go``): load quality first.

``total = 0.6·LoadQuality + 0.2·IDC + 0.1·Location + 0.1·HostType`` with
``LoadQuality = 0.5·PeakBandwidthUsage + 0.3·BandwidthDuration + 0.2·Concurrency``, all
against the parent host's announced maximum transmit bandwidth (bits per second).
"""

from __future__ import annotations

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.scheduling.evaluators.common import (
    Evaluator,
    host_type_score,
    idc_affinity,
    location_affinity,
)

W_LOAD = 0.6
W_IDC = 0.2
W_LOCATION = 0.1
W_HOST_TYPE = 0.1
W_PEAK = 0.5
W_DURATION = 0.3
W_CONCURRENCY = 0.2
DURATION_WINDOW_S = 60.0
PIECE_BITS = 16 * (1 << 20) * 8


def peak_bandwidth_usage_score(parent: Peer) -> float:
    max_tx = parent.host.max_tx_bps
    if max_tx <= 0:
        return 0.0
    tx = parent.host.tx_bandwidth_bps
    return 0.0 if tx >= max_tx else 1.0 - tx / max_tx


def bandwidth_duration_score(parent: Peer) -> float:
    max_tx = parent.host.max_tx_bps
    if max_tx <= 0:
        return 0.0
    length = parent.host.upload_content_length
    if length == 0:
        return 1.0
    ratio = length * 8 / max_tx / DURATION_WINDOW_S
    return 0.0 if ratio >= 1 else 1.0 - ratio


def concurrency_score(parent: Peer) -> float:
    max_tx = parent.host.max_tx_bps
    if max_tx <= 0:
        return 0.0
    needed = max_tx / PIECE_BITS
    if needed <= 1:
        return 0.0
    count = parent.host.concurrent_upload_pieces
    if count == 0:
        return 1.0
    ratio = count / needed
    return 1.0 if ratio <= 1 else 1.0 / ratio


def load_quality_score(parent: Peer) -> float:
    return (
        W_PEAK * peak_bandwidth_usage_score(parent)
        + W_DURATION * bandwidth_duration_score(parent)
        + W_CONCURRENCY * concurrency_score(parent)
    )


class LoadEvaluator(Evaluator):
    def score(self, parent: Peer, child: Peer, now: float) -> float:
        return (
            W_LOAD * load_quality_score(parent)
            + W_IDC * idc_affinity(parent, child)
            + W_LOCATION * location_affinity(parent, child)
            + W_HOST_TYPE * host_type_score(parent)
        )
