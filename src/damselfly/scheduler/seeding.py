"""Seed peers: who fetches a task from the origin first (reference §4.4, §4.10).

Part of the service (one writer): when no peer has a task, the seed peer chosen by
consistent hashing of the task id over the seed hosts is asked to fetch it, once, unless
the peer's priority says otherwise or the seed failed recently.
"""

from __future__ import annotations

import logging

from damselfly.common.clock import Clock
from damselfly.common.hashring import HashRing
from damselfly.core.errors import NotFound
from damselfly.core.models import Priority
from damselfly.scheduler.config import SchedulingConfig
from damselfly.scheduler.dispatcher import Dispatcher
from damselfly.scheduler.resource.models import Host, Peer, Task
from damselfly.scheduler.resource.states import PeerEvent, PeerState, TaskEvent, TaskState
from damselfly.scheduler.resource.store import Resources
from damselfly.scheduler.responses import SeedTrigger

log = logging.getLogger(__name__)


class Seeding:
    def __init__(
        self,
        config: SchedulingConfig,
        resources: Resources,
        clock: Clock,
        trigger: SeedTrigger,
        dispatch: Dispatcher,
    ) -> None:
        self.config = config
        self.resources = resources
        self.clock = clock
        self.trigger = trigger
        self.dispatch = dispatch
        self._ring = HashRing(())
        self._ring_key: frozenset[str] = frozenset()

    def seed_hosts(self) -> list[Host]:
        return list(self.resources.seeds.values())

    def arrange_first_download(self, peer: Peer) -> None:
        """Nobody has the task: a seed peer fetches it, or the peer itself does.

        Priorities (Dragonfly's): 1 is refused before this; 2 downloads only from peers;
        3 fetches from the origin itself; 0, 4, 5 and 6 ask a seed peer when there is
        one that did not fail on this task within ``seed_peer_failed_timeout_s``."""
        task, now = peer.task, self.clock.now()
        if peer.host.is_seed or peer.priority is Priority.LEVEL3:
            peer.need_back_to_source = True
            return
        if peer.priority is Priority.LEVEL2:
            if not self.seed_is_working(task):
                raise NotFound(
                    "no peer has this task and priority 2 downloads only from peers; "
                    "use another priority"
                )
            return
        recently_failed = (
            task.seed_failed_at is not None
            and now - task.seed_failed_at < self.config.seed_peer_failed_timeout_s
        )
        seed = self.seed_for(task.id)
        if seed is None or recently_failed:
            peer.need_back_to_source = True
            return
        if task.seed_triggered_at is None or not self.seed_is_working(task):
            task.seed_triggered_at = now
            log.info("task %s: triggering seed peer %s", task.id[:12], seed.id)
            self.trigger(seed.info, task.id, task.download)

    def seed_for(self, task_id: str) -> Host | None:
        seeds = self.resources.seeds
        key = frozenset(seeds)
        if key != self._ring_key:
            self._ring, self._ring_key = HashRing(key), key
        chosen = self._ring.get(task_id)
        return seeds.get(chosen) if chosen else None

    def seed_is_working(self, task: Task) -> bool:
        """A seed peer of the task is downloading, or was asked and has yet to register."""
        seeds = [p for p in task.peers.values() if p.host.is_seed]
        if any(p.state not in (PeerState.FAILED, PeerState.LEAVE) for p in seeds):
            return True
        asked = task.seed_triggered_at
        return (
            not seeds
            and asked is not None
            and self.clock.now() - asked < self.config.seed_peer_register_timeout_s
        )

    def trigger_failed(self, task_id: str, description: str) -> None:
        """The seed could not be reached: waiting peers fetch from the origin themselves."""
        task = self.resources.tasks.get(task_id)
        if task is None:
            return
        task.seed_failed_at = self.clock.now()
        log.warning("task %s: seed trigger failed: %s", task_id[:12], description)
        for peer in self.dispatch.waiting_peers(task):
            peer.need_back_to_source = True
            self.dispatch.schedule(peer, attempt=self.dispatch.attempt_of(peer.id))

    def has_stored(
        self, host_id: str, task_id: str, content_length: int, piece_length: int, count: int
    ) -> None:
        """A triggered seed answered from its own storage, so it never registers a peer:
        record it as a finished peer of the task so others can fetch from it."""
        task = self.resources.tasks.get(task_id)
        host = self.resources.hosts.get(host_id)
        if task is None or host is None or content_length < 0 or count < 0:
            return
        if any(p.host is host and p.state is PeerState.SUCCEEDED for p in task.peers.values()):
            return
        now = self.clock.now()
        peer = Peer(
            f"{host_id}/{task_id[:16]}/stored",
            task,
            host,
            task.download,
            now,
            updated_at=now,
            piece_updated_at=now,
        )
        self.resources.add_peer(peer)
        peer.fire(PeerEvent.REGISTER_NORMAL, now)
        learn_layout(task, content_length, piece_length, count, force=True)
        peer.fire(PeerEvent.DOWNLOAD_SUCCEEDED, now)
        for number in range(count):
            peer.finished.add(number)
        if task.state is not TaskState.SUCCEEDED:
            task.fire(TaskEvent.DOWNLOAD_SUCCEEDED, now)
        log.info("task %s: seed %s has it stored", task_id[:12], host_id)
        self.dispatch.wake_waiters(task)


def learn_layout(
    task: Task, content_length: int, piece_length: int, count: int, *, force: bool
) -> None:
    """Record the content's size and pieces, from the first report or an origin fetch."""
    if task.content_length < 0 or force:
        task.content_length, task.piece_count = content_length, count
    if piece_length > 0 and (task.piece_length <= 0 or force):
        task.piece_length = piece_length
