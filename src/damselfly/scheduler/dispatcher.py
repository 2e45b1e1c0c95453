"""Sends decisions to peers: first answers, retries on a timer, and pushed parents.

Part of the service (one writer, no awaits). It owns each peer's ``Respond`` callback and
its retry timer; everything it decides comes from ``scheduling`` (pure).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from damselfly.common.clock import Clock
from damselfly.core.errors import Code
from damselfly.core.models import ParentInfo
from damselfly.scheduler.config import SchedulingConfig
from damselfly.scheduler.metrics import SchedulerMetrics
from damselfly.scheduler.resource.models import Peer, Task
from damselfly.scheduler.resource.states import PeerEvent, PeerState
from damselfly.scheduler.resource.store import Resources
from damselfly.scheduler.responses import (
    BackToSourceResponse,
    FailedResponse,
    ParentsResponse,
    Respond,
    Response,
    TimerHandle,
    Timers,
)
from damselfly.scheduler.scheduling.bad_node import BadParentRule
from damselfly.scheduler.scheduling.decide import (
    BackToSource,
    Context,
    Fail,
    Limits,
    Parents,
    Wait,
    decide,
)
from damselfly.scheduler.scheduling.evaluators import evaluator_for
from damselfly.scheduler.scheduling.push import PushPolicy, Want, extra_parents, wants

log = logging.getLogger(__name__)

# Intervals to skip after a push found no parent to offer.
IDLE_PUSH_BACKOFF = 3

SCHEDULABLE = (
    PeerState.RECEIVED_TINY,
    PeerState.RECEIVED_SMALL,
    PeerState.RECEIVED_NORMAL,
    PeerState.RUNNING,
)


class Dispatcher:
    def __init__(
        self,
        config: SchedulingConfig,
        *,
        resources: Resources,
        clock: Clock,
        timers: Timers,
        rng: random.Random,
        metrics: SchedulerMetrics,
    ) -> None:
        self.config = config
        self.resources = resources
        self.clock = clock
        self.timers = timers
        self.rng = rng
        self.metrics = metrics
        self.evaluator = evaluator_for(config.algorithm)
        self.rule = BadParentRule(
            config.bad_parent_samples, config.bad_parent_sigma, config.bad_parent_mean_factor
        )
        self.limits = Limits(
            config.candidate_parent_limit,
            config.filter_parent_limit,
            config.retry_back_to_source_limit,
            config.retry_limit,
        )
        self.ctx = Context(self.limits, self.evaluator, self.rule, rng)
        self.policy = PushPolicy(
            config.candidate_parent_limit, config.filter_parent_limit, config.max_parents
        )
        self._respond: dict[str, Respond] = {}
        # Peers waiting for a parent: attempt, retry timer, task id.
        self._waiting: dict[str, tuple[int, TimerHandle, str]] = {}
        # The same peers by task, in the order they started waiting.
        self._waiting_by_task: dict[str, dict[str, None]] = {}
        self.pushes = 0

    # Channels ----------------------------------------------------------------

    def attach(self, peer_id: str, respond: Respond) -> None:
        self._respond[peer_id] = respond

    def detach(self, peer_id: str) -> None:
        self._respond.pop(peer_id, None)
        self.stop_waiting(peer_id)

    def send(self, peer_id: str, response: Response) -> None:
        respond = self._respond.get(peer_id)
        if respond is not None:
            respond(response)

    def fail(self, peer_id: str, code: Code, description: str) -> None:
        """Tell the peer it failed and close its channel."""
        self.stop_waiting(peer_id)
        respond = self._respond.pop(peer_id, None)
        if respond is not None:
            respond(FailedResponse(code, description))

    # Scheduling ----------------------------------------------------------------

    def schedule(self, peer: Peer, attempt: int) -> None:
        """One attempt of Dragonfly's loop; a wait re-arms the retry timer."""
        self.stop_waiting(peer.id)
        if peer.id not in self._respond:
            return
        now = self.clock.now()
        peer.release_parents()
        decision = decide(peer, attempt, self.ctx, now)
        if isinstance(decision, Parents):
            self._give(peer, decision.peers, decision.rates, now)
        elif isinstance(decision, BackToSource):
            peer.need_back_to_source = True
            self.send(peer.id, BackToSourceResponse(decision.reason))
        elif isinstance(decision, Fail):
            if peer.state not in (PeerState.FAILED, PeerState.LEAVE):
                peer.fire(PeerEvent.DOWNLOAD_FAILED, now)
            self.fail(peer.id, Code.FAILED_PRECONDITION, decision.reason)
        elif isinstance(decision, Wait):
            handle = self.timers.call_later(
                self._retry_delay(), lambda: self._retry(peer.id, attempt + 1)
            )
            self._waiting[peer.id] = (attempt, handle, peer.task.id)
            self._waiting_by_task.setdefault(peer.task.id, {})[peer.id] = None

    def _give(self, peer: Peer, parents: list[Peer], rates: list[float], now: float) -> None:
        for parent, rate in zip(parents, rates or [0.0] * len(parents), strict=True):
            peer.task.add_edge(parent, peer, rate)
        peer.updated_at = now
        infos = [ParentInfo(p.id, p.host.info) for p in parents]
        self.send(peer.id, ParentsResponse(infos))

    def _retry_delay(self) -> float:
        return self.config.retry_interval_s * self.rng.uniform(0.75, 1.25)

    def _retry(self, peer_id: str, attempt: int) -> None:
        self._unindex(peer_id)
        peer = self.resources.peers.get(peer_id)
        if peer is not None and peer.state in SCHEDULABLE:
            self.schedule(peer, attempt)

    def stop_waiting(self, peer_id: str) -> None:
        entry = self._unindex(peer_id)
        if entry is not None:
            entry[1].cancel()

    def _unindex(self, peer_id: str) -> tuple[int, TimerHandle, str] | None:
        entry = self._waiting.pop(peer_id, None)
        if entry is not None:
            waiting = self._waiting_by_task.get(entry[2], {})
            waiting.pop(peer_id, None)
            if not waiting:
                self._waiting_by_task.pop(entry[2], None)
        return entry

    def attempt_of(self, peer_id: str) -> int:
        entry = self._waiting.get(peer_id)
        return entry[0] if entry is not None else 0

    def waiting_count(self) -> int:
        return len(self._waiting)

    def waiting_peers(self, task: Task) -> list[Peer]:
        waiting = self._waiting_by_task.get(task.id, {})
        return [task.peers[i] for i in list(waiting) if i in task.peers]

    def wake_waiters(self, task: Task) -> None:
        """The task changed: peers waiting for a parent try again at once."""
        for peer in self.waiting_peers(task):
            self.schedule(peer, attempt=self.attempt_of(peer.id))

    # Pushed parents --------------------------------------------------------------

    def push(self, peer: Peer, *, force: bool = False) -> bool:
        """Offer ``peer`` more parents if it wants them; True when a message went out."""
        now = self.clock.now()
        if self.config.push_interval_s <= 0:
            return False
        if peer.id not in self._respond or peer.id in self._waiting:
            return False
        if not force and now - peer.pushed_at < self.config.push_interval_s:
            return False
        want = wants(peer, self.policy, self.ctx, now)
        if want is Want.NOTHING:
            return False
        peer.pushed_at = now
        extra = extra_parents(peer, want, self.policy, self.ctx, now)
        if not extra:
            # Nobody can give more now; look again in a while rather than every interval.
            peer.pushed_at = now + IDLE_PUSH_BACKOFF * self.config.push_interval_s
            return False
        self.pushes += 1
        self.metrics.pushed_parents.inc(len(extra))
        self._give(peer, [p for p, _ in extra], [rate for _, rate in extra], now)
        return True

    def replace_parent_of(self, children: Iterable[str]) -> None:
        """Children that lost a parent get replacements at once (no rate limit)."""
        for child_id in children:
            child = self.resources.peers.get(child_id)
            if child is not None and child.state in SCHEDULABLE:
                self.push(child, force=True)

    def rebalance(self, peer_ids: Iterable[str] | None = None) -> int:
        """Offer parents to running peers (all, or these) that want them; returns the
        messages sent."""
        peers = self.resources.peers
        ids = list(peers) if peer_ids is None else peer_ids
        sent = 0
        for peer in [peers[i] for i in ids if i in peers]:
            if peer.state in SCHEDULABLE and self.push(peer):
                sent += 1
        return sent
