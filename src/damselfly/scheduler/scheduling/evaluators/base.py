"""Dragonfly v2.2's evaluator (``evaluator_base.go``): six weighted terms."""

from __future__ import annotations

from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.scheduling.evaluators.common import (
    Evaluator,
    host_type_score,
    idc_affinity,
    location_affinity,
)

W_PIECES = 0.2
W_UPLOAD_SUCCESS = 0.2
W_FREE_UPLOAD = 0.15
W_HOST_TYPE = 0.15
W_IDC = 0.15
W_LOCATION = 0.15


def finished_pieces_score(parent: Peer, child: Peer) -> float:
    """Share of the task the parent has; unbounded difference while the total is unknown."""
    total = parent.task.piece_count
    if total > 0:
        return len(parent.finished) / total
    return float(len(parent.finished) - len(child.finished))


def upload_success_score(parent: Peer) -> float:
    uploads, failed = parent.host.upload_count, parent.host.upload_failed_count
    if uploads < failed:
        return 0.0
    if uploads == 0 and failed == 0:
        return 1.0
    return (uploads - failed) / uploads


def free_upload_score(parent: Peer) -> float:
    limit, free = parent.host.upload_limit, parent.host.free_upload_slots
    if limit > 0 and free > 0:
        return free / limit
    return 0.0


class BaseEvaluator(Evaluator):
    def score(self, parent: Peer, child: Peer, now: float) -> float:
        return (
            W_PIECES * finished_pieces_score(parent, child)
            + W_UPLOAD_SUCCESS * upload_success_score(parent)
            + W_FREE_UPLOAD * free_upload_score(parent)
            + W_HOST_TYPE * host_type_score(parent)
            + W_IDC * idc_affinity(parent, child)
            + W_LOCATION * location_affinity(parent, child)
        )
