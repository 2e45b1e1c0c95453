"""The decision for one peer that asks for parents: pure, given the resources."""

from __future__ import annotations

import random
from dataclasses import dataclass

from damselfly.core.models import Priority
from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.scheduling.evaluator import rank
from damselfly.scheduler.scheduling.filters import candidate_parents


@dataclass(frozen=True)
class Parents:
    peers: list[Peer]


@dataclass(frozen=True)
class BackToSource:
    reason: str


@dataclass(frozen=True)
class Wait:
    """No parent yet; ask again when the task changes or the wait runs out."""


@dataclass(frozen=True)
class Fail:
    reason: str


Decision = Parents | BackToSource | Wait | Fail


@dataclass(frozen=True)
class Limits:
    candidate_parent_limit: int = 4
    filter_parent_limit: int = 15


def decide(peer: Peer, limits: Limits, rng: random.Random, *, waited_out: bool) -> Decision:
    task = peer.task
    may_go_to_source = (
        not peer.download.disable_back_to_source and peer.priority is not Priority.LEVEL2
    )
    if peer.need_back_to_source and may_go_to_source and task.can_back_to_source():
        return BackToSource("the peer was asked to fetch from the origin")
    found = candidate_parents(peer, limits.filter_parent_limit, rng)
    if found:
        return Parents(rank(found, peer)[: limits.candidate_parent_limit])
    if not waited_out:
        return Wait()
    if not may_go_to_source:
        return Fail("no peer has this content and fetching from the origin is disabled")
    if task.can_back_to_source():
        return BackToSource("no parent became available in time")
    return Fail("no peer has this content and the task's back-to-source budget is spent")
