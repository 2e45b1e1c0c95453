"""The decision for one peer that asks for parents: pure, given the resources.

Dragonfly's loop (reference §4.5), one attempt per call: a peer that must or may fetch
from the origin is sent there (told to, or out of attempts); one that may not fails after
``retry_limit`` attempts; otherwise the best candidates, or wait and try again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from damselfly.core.models import Priority
from damselfly.scheduler.resource.models import Peer
from damselfly.scheduler.scheduling.bad_node import BadParentRule
from damselfly.scheduler.scheduling.evaluators import Evaluator
from damselfly.scheduler.scheduling.filters import candidate_parents


@dataclass(frozen=True)
class Parents:
    peers: list[Peer]
    # Rate (bits/s) the evaluator expects each parent to carry; 0 when it does not say.
    rates: list[float] = field(default_factory=list)


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
    retry_back_to_source_limit: int = 4
    retry_limit: int = 5


@dataclass(frozen=True)
class Context:
    """Everything a decision depends on besides the peer and the time."""

    limits: Limits
    evaluator: Evaluator
    rule: BadParentRule
    rng: random.Random


def may_go_to_source(peer: Peer) -> bool:
    return not peer.download.disable_back_to_source and peer.priority is not Priority.LEVEL2


def best_parents(peer: Peer, limit: int, ctx: Context, now: float) -> list[tuple[Peer, float]]:
    """The evaluator's pick among ``filter_parent_limit`` sampled peers that pass the
    filters, at most ``limit``, each with the rate it is expected to carry."""
    found = candidate_parents(peer, ctx.limits.filter_parent_limit, ctx.rng, ctx.rule)
    return ctx.evaluator.select(found, peer, limit, now) if found else []


def decide(peer: Peer, attempt: int, ctx: Context, now: float) -> Decision:
    """``attempt`` counts earlier attempts that found no parent (0 on the first)."""
    task = peer.task
    source_ok = may_go_to_source(peer) and task.can_back_to_source()
    if peer.need_back_to_source and source_ok:
        return BackToSource("the peer was asked to fetch from the origin")
    limits = ctx.limits
    found = best_parents(peer, limits.candidate_parent_limit, ctx, now)
    if found:
        return Parents([p for p, _ in found], [rate for _, rate in found])
    if source_ok and attempt >= limits.retry_back_to_source_limit:
        return BackToSource("no parent became available in time")
    if attempt >= limits.retry_limit:
        if not may_go_to_source(peer):
            return Fail("no peer has this content and fetching from the origin is disabled")
        return Fail("no peer has this content and the task's back-to-source budget is spent")
    return Wait()
