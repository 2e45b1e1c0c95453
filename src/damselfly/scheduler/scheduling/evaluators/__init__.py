"""Parent evaluators, selectable by ``scheduling.algorithm``; higher scores are better."""

from __future__ import annotations

from damselfly.scheduler.scheduling.evaluators.base import BaseEvaluator
from damselfly.scheduler.scheduling.evaluators.common import Evaluator
from damselfly.scheduler.scheduling.evaluators.load import LoadEvaluator
from damselfly.scheduler.scheduling.evaluators.throughput import ThroughputEvaluator

EVALUATORS: dict[str, type[Evaluator]] = {
    "default": ThroughputEvaluator,
    "dragonfly-base": BaseEvaluator,
    "dragonfly-load": LoadEvaluator,
}


def evaluator_for(algorithm: str) -> Evaluator:
    try:
        return EVALUATORS[algorithm]()
    except KeyError:
        raise ValueError(f"unknown scheduling algorithm {algorithm!r}") from None


__all__ = [
    "EVALUATORS",
    "BaseEvaluator",
    "Evaluator",
    "LoadEvaluator",
    "ThroughputEvaluator",
    "evaluator_for",
]
